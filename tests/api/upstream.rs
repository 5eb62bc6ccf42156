//! Seam failing: each failure gives a documented status and code, with no Seam body, API key or
//! token in the response, and nothing cached, so the next handshake after recovery succeeds.

use seam_stand_in::{AccountSpec, Fault};

use crate::helpers::{Options, TestApp, spawn_app, spawn_app_with};

const GET_OR_CREATE: &str = "/client_sessions/get_or_create";

fn assert_clean(app: &TestApp, reply: &crate::helpers::Reply) {
    assert!(!reply.text.contains(&app.seam.api_key()), "API key leaked");
    assert!(!reply.text.contains("seam_cst"), "a token leaked");
    // The stand-in's error messages are its own words; none may be passed on.
    for seam_word in ["Unauthorized", "internal", "<html", "Injected", "injected"] {
        assert!(
            !reply.text.contains(seam_word),
            "Seam body leaked: {}",
            reply.text
        );
    }
}

/// A new user each time, so that no cached session hides the fault.
async fn fails_then_recovers(app: &TestApp, user: &str, fault: Fault, status: u16, code: &str) {
    app.seam.add_connected_account(AccountSpec::owned_by(user));
    app.seam.inject(GET_OR_CREATE, fault.clone(), 1);
    let reply = app.handshake(user).await;
    assert_eq!(reply.status, status, "{fault:?}: {}", reply.text);
    assert_eq!(reply.code(), code, "{fault:?}");
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_clean(app, &reply);
    let recovered = app.handshake(user).await;
    assert_eq!(
        recovered.status, 200,
        "{fault:?}: not recovered: {}",
        recovered.text
    );
}

#[actix_web::test]
async fn seam_failures_map_to_documented_statuses_without_leaking_anything() {
    let app = spawn_app().await;
    fails_then_recovers(&app, "u1", Fault::Status(500), 502, "seam_error").await;
    fails_then_recovers(&app, "u2", Fault::Garbage, 502, "seam_error").await;
    fails_then_recovers(&app, "u3", Fault::PlainText(502), 502, "seam_error").await;
    fails_then_recovers(&app, "u4", Fault::PlainText(503), 503, "seam_unavailable").await;
    fails_then_recovers(&app, "u5", Fault::Status(400), 502, "seam_error").await;
    assert_eq!(
        app.seam.calls(GET_OR_CREATE),
        10,
        "one failed and one good call per case"
    );
}

#[actix_web::test]
async fn seam_rate_limits_become_503_with_its_retry_after() {
    let app = spawn_app().await;
    app.seam.inject(
        GET_OR_CREATE,
        Fault::RateLimited {
            retry_after_secs: 7,
        },
        1,
    );
    let reply = app.handshake("alice").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.code(), "seam_unavailable");
    assert_eq!(reply.header("retry-after"), Some("7"));
    assert_clean(&app, &reply);
}

#[actix_web::test]
async fn a_seam_that_does_not_answer_in_time_gives_504() {
    let app = spawn_app_with(Options::default().with(|s| s.seam.timeout_ms = 200)).await;
    app.seam.inject(GET_OR_CREATE, Fault::Hang, 1);
    let reply = app.handshake("alice").await;
    assert_eq!(reply.status, 504, "{}", reply.text);
    assert_eq!(reply.code(), "seam_timeout");
    assert_clean(&app, &reply);
}

#[actix_web::test]
async fn a_rejected_api_key_gives_503_and_names_no_key() {
    let app = spawn_app().await;
    let old_key = app.seam.api_key();
    app.seam.rotate_api_key();
    let reply = app.handshake("alice").await;
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.code(), "seam_credentials_rejected");
    assert!(!reply.text.contains(&old_key));
    assert_clean(&app, &reply);
}

#[actix_web::test]
async fn an_unreachable_seam_gives_503() {
    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let app = spawn_app_with(
        Options::default().with(move |s| s.seam.endpoint = format!("http://{closed}")),
    )
    .await;
    let reply = app.handshake("alice").await;
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.code(), "seam_unavailable");
    assert!(reply.header("retry-after").is_some());
}
