//! Rate limits on the handshake: per user and per client address, 429 with Retry-After, an
//! off switch, and X-Forwarded-For believed only from trusted proxies.

use crate::helpers::{Options, TestApp, later_login, login, spawn_app_with};

async fn limited_app(extra: &[(&'static str, &str)]) -> TestApp {
    let mut options = Options::default()
        .env("SEAM_BFF__RATE_LIMIT__ENABLED", "true")
        .env("SEAM_BFF__RATE_LIMIT__USER_PER_MINUTE", "1")
        .env("SEAM_BFF__RATE_LIMIT__USER_BURST", "2")
        .env("SEAM_BFF__RATE_LIMIT__CLIENT_PER_MINUTE", "1")
        .env("SEAM_BFF__RATE_LIMIT__CLIENT_BURST", "100");
    for (key, value) in extra {
        options = options.env(key, *value);
    }
    spawn_app_with(options).await
}

async fn handshake_from(app: &TestApp, token: &str, forwarded_for: Option<&str>) -> u16 {
    let mut request = app
        .http
        .post(format!("{}/v1/client-session", app.address))
        .bearer_auth(token);
    if let Some(address) = forwarded_for {
        request = request.insert_header(("x-forwarded-for", address));
    }
    request.send().await.expect("sent").status().as_u16()
}

#[actix_web::test]
async fn a_user_over_the_limit_gets_429_with_retry_after() {
    let app = limited_app(&[]).await;
    assert_eq!(app.handshake("alice").await.status, 200);
    assert_eq!(app.handshake("alice").await.status, 200);
    let limited = app.handshake("alice").await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.code(), "rate_limited");
    crate::helpers::assert_retry_after(limited.header("retry-after"));
    assert_eq!(
        app.handshake("bob").await.status,
        200,
        "users are limited separately"
    );
}

/// Each logout costs Seam calls, so a user cannot log out without limit either: 40 logouts
/// make the Seam calls of the two the burst allows.
#[actix_web::test]
async fn logouts_count_against_the_user_limit() {
    let app = limited_app(&[]).await;
    let mut statuses = Vec::new();
    for _ in 0..40 {
        // A new login each time: a logout ends the login it was sent with.
        statuses.push(app.logout(Some(&later_login("alice"))).await.status);
    }
    assert_eq!(&statuses[..2], [204, 204]);
    assert!(statuses[2..].iter().all(|s| *s == 429), "{statuses:?}");
    assert_eq!(app.seam.calls("/client_sessions/list"), 2);
    let handshake = app.handshake_with(&later_login("alice")).await;
    assert_eq!(handshake.status, 429, "one budget for both");
}

#[actix_web::test]
async fn a_client_over_the_limit_is_refused_before_its_login_is_checked() {
    let app = limited_app(&[("SEAM_BFF__RATE_LIMIT__CLIENT_BURST", "3")]).await;
    for _ in 0..3 {
        assert_eq!(handshake_from(&app, "forged", None).await, 401);
    }
    assert_eq!(handshake_from(&app, &login("alice"), None).await, 429);
    assert_eq!(app.seam.total_calls(), 0);
}

#[actix_web::test]
async fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    let direct = limited_app(&[("SEAM_BFF__RATE_LIMIT__CLIENT_BURST", "2")]).await;
    assert_eq!(
        handshake_from(&direct, "x", Some("198.51.100.1")).await,
        401
    );
    assert_eq!(
        handshake_from(&direct, "x", Some("198.51.100.2")).await,
        401
    );
    assert_eq!(
        handshake_from(&direct, "x", Some("198.51.100.3")).await,
        429,
        "a spoofed X-Forwarded-For must not buy a fresh bucket"
    );

    let proxied = limited_app(&[
        ("SEAM_BFF__RATE_LIMIT__CLIENT_BURST", "2"),
        ("SEAM_BFF__SERVER__TRUSTED_PROXIES", "127.0.0.0/8"),
    ])
    .await;
    for _ in 0..2 {
        assert_eq!(
            handshake_from(&proxied, "x", Some("198.51.100.1")).await,
            401
        );
    }
    assert_eq!(
        handshake_from(&proxied, "x", Some("198.51.100.1")).await,
        429
    );
    assert_eq!(
        handshake_from(&proxied, "x", Some("198.51.100.2")).await,
        401
    );
}

#[actix_web::test]
async fn the_off_switch_turns_limits_off() {
    let app = limited_app(&[("SEAM_BFF__RATE_LIMIT__ENABLED", "false")]).await;
    for _ in 0..6 {
        assert_eq!(app.handshake("alice").await.status, 200);
    }
}

#[actix_web::test]
async fn a_page_can_read_a_client_refusal_and_it_is_logged_and_counted() {
    const ORIGIN: &str = "https://app.example.com";
    let app = limited_app(&[
        ("SEAM_BFF__RATE_LIMIT__CLIENT_BURST", "1"),
        ("SEAM_BFF__CORS__ALLOWED_ORIGINS", ORIGIN),
    ])
    .await;
    assert_eq!(handshake_from(&app, "forged", None).await, 401);
    let refused = app
        .http
        .post(format!("{}/v1/client-session", app.address))
        .insert_header(("origin", ORIGIN))
        .bearer_auth(login("alice"))
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status().as_u16(), 429);
    let header = |name: &str| {
        refused
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(
        header("access-control-allow-origin").as_deref(),
        Some(ORIGIN)
    );
    let exposed = header("access-control-expose-headers").unwrap_or_default();
    assert!(
        exposed.to_ascii_lowercase().contains("retry-after"),
        "{exposed}"
    );
    assert!(header("x-request-id").is_some());
    assert!(
        app.metrics()
            .await
            .contains(r#"seam_bff_http_requests_total{route="/v1/client-session",status="429"} 1"#)
    );
}
