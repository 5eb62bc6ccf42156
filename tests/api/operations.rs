//! Operating the service: several replicas share Seam's one session per user, metrics on the
//! management listener, `seam-bff healthcheck`, and a graceful shutdown that finishes what is
//! in flight and takes nothing new.

use std::time::Duration;

use seam_stand_in::{AccountSpec, StandIn};

use crate::helpers::{
    MIN_REMAINING_SECS, Options, TTL_SECS, base_toml, hs256_auth, issuer_and_audience, login,
    spawn_app, spawn_app_with,
};
use crate::process::{Running, run_async};

#[actix_web::test]
async fn two_replicas_hand_one_user_the_same_session() {
    let a = spawn_app().await;
    let b = a.replica().await;
    a.seam.add_connected_account(AccountSpec::owned_by("alice"));

    let from_a = a.handshake("alice").await;
    let from_b = b.handshake("alice").await;
    assert_eq!(from_a.status, 200);
    assert_eq!(
        from_b.token(),
        from_a.token(),
        "Seam's get_or_create is the shared state"
    );
    assert_eq!(a.seam.sessions().len(), 1);

    // Logout on A revokes the session at Seam, so the token is dead everywhere; B's cache
    // still holds it until its refresh_after (see README: Several replicas).
    let logout = a.logout(Some(&a.login("alice"))).await;
    assert_eq!(logout.status, 204);
    let fresh = a.handshake_with(&a.later_login("alice")).await;
    assert_ne!(fresh.token(), from_a.token());
    assert_eq!(b.handshake("alice").await.token(), from_a.token());
    b.clock
        .advance(time::Duration::seconds(TTL_SECS - MIN_REMAINING_SECS + 1));
    assert_eq!(
        b.handshake("alice").await.token(),
        fresh.token(),
        "B converges"
    );
}

/// Replicas run one configuration: with derived Seam keys, both derive the same key for a user
/// and so share Seam's one session (a replica started with other settings would not).
#[actix_web::test]
async fn replicas_with_derived_keys_hand_one_user_the_same_session() {
    let secret = "replica-hmac-secret-0123456789abcdef";
    let a = spawn_app_with(Options::default().with(move |s| {
        s.identity.key_prefix = "app:".into();
        s.identity.key_hmac_secret = Some(secret.into());
    }))
    .await;
    let b = a.replica().await;
    let from_a = a.handshake("alice").await;
    let from_b = b.handshake("alice").await;
    assert_eq!((from_a.status, from_b.status), (200, 200));
    assert_eq!(from_b.token(), from_a.token());
    let sessions = a.seam.sessions();
    assert_eq!(sessions.len(), 1);
    let key = sessions[0].user_identifier_key.as_deref().expect("a key");
    assert!(key.starts_with("app:") && key.len() == 4 + 64, "{key}");
}

#[actix_web::test]
async fn metrics_are_served_on_the_management_listener_only() {
    let app = spawn_app().await;
    app.handshake("alice").await;
    app.handshake("alice").await;
    app.post("/v1/client-session", None).await;
    let text = app.metrics().await;
    for series in [
        r#"seam_bff_http_requests_total{route="/v1/client-session",status="200"} 2"#,
        r#"seam_bff_http_requests_total{route="/v1/client-session",status="401"} 1"#,
        "seam_bff_handshake_duration_seconds_count 3",
        r#"seam_bff_cache_lookups_total{cache="session",outcome="hit"} 1"#,
        r#"seam_bff_cache_lookups_total{cache="session",outcome="miss"} 1"#,
        r#"seam_bff_cache_entries{cache="users"} 1"#,
        r#"seam_bff_upstream_requests_total{endpoint="/client_sessions/get_or_create",status="200"} 1"#,
        r#"seam_bff_upstream_duration_seconds_count{endpoint="/connected_accounts/list"} 1"#,
        "seam_bff_breaker_state 0",
    ] {
        assert!(
            text.contains(series),
            "missing {series} in\n{}",
            text.lines()
                .filter(|l| l.contains("handshake"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    assert!(!text.contains("seam_cst"));
    assert_eq!(
        app.get("/metrics").await.status,
        404,
        "not on the public listener"
    );
}

/// The base settings for this stand-in, as a file for the binary; tests change them with
/// `SEAM_BFF__…` environment variables, which the service refuses when it does not know the
/// key.
fn config_for(seam: &StandIn, dir: &tempfile::TempDir) -> std::path::PathBuf {
    let path = dir.path().join("c.toml");
    let toml = base_toml(seam, &(hs256_auth() + &issuer_and_audience()));
    std::fs::write(&path, toml).expect("write");
    path
}

#[actix_web::test]
async fn healthcheck_exits_zero_only_for_a_ready_service() {
    let seam = StandIn::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config_for(&seam, &dir);
    let service = Running::start(&config, &[], &[]);
    let address = service.address.trim_start_matches("http://").to_owned();
    let config_arg = config.to_str().expect("utf-8");
    let ready = run_async(
        &["--config", config_arg, "healthcheck", "--address", &address],
        &[],
    )
    .await;
    assert_eq!(
        ready.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ready.stderr)
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .to_string();
    let down = run_async(
        &["--config", config_arg, "healthcheck", "--address", &closed],
        &[],
    )
    .await;
    assert_eq!(down.status.code(), Some(1));
    drop(service);

    // A service whose Seam key is refused is not ready.
    seam.rotate_api_key();
    let service = Running::start(&config, &[], &[]);
    let address = service.address.trim_start_matches("http://").to_owned();
    let not_ready = run_async(
        &["--config", config_arg, "healthcheck", "--address", &address],
        &[],
    )
    .await;
    assert_eq!(not_ready.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&not_ready.stderr).contains("503"));
}

#[actix_web::test]
async fn sigterm_finishes_in_flight_handshakes_and_refuses_new_connections() {
    let seam = StandIn::start().await;
    seam.add_connected_account(AccountSpec::owned_by("alice"));
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config_for(&seam, &dir);
    let service = Running::start(
        &config,
        &[],
        &[
            ("SEAM_BFF__SERVER__SHUTDOWN_TIMEOUT_SECS", "10"),
            // Seam's answer is held for as long as the test needs, not ended by a timeout.
            ("SEAM_BFF__SEAM__TIMEOUT_MS", "60000"),
            ("SEAM_BFF__SEAM__DEADLINE_MS", "60000"),
            ("SEAM_BFF__SERVER__REQUEST_TIMEOUT_MS", "70000"),
        ],
    );
    let url = format!("{}/v1/client-session", service.address);
    let address = service.address.trim_start_matches("http://").to_owned();
    // The handshake's account lookup is answered only once shutdown has begun: the handshake
    // is in flight then, however long the signal takes to arrive.
    let lookup = seam.hold("/connected_accounts/list");

    let client = crate::contract::checked_client(&service.address);
    let in_flight = actix_web::rt::spawn(async move {
        let mut response = client
            .post(url)
            .bearer_auth(login("alice"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body = response.body().await.map_err(|e| e.to_string())?;
        Ok::<_, String>((response.status().as_u16(), body))
    });
    lookup.answered().await;

    service.send_sigterm();
    service.wait_for_log("graceful shutdown: finishing in-flight requests");
    lookup.release();
    // Once shutdown has begun, a new request is not served (its connection is refused, or
    // closed unanswered when the process exits).
    let late = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish()
        .get(format!("http://{address}/healthz"))
        .send();

    let answered = in_flight.await.expect("request task");
    let late = late.await;
    let (exit, log) = service.wait();
    let (status, body) =
        answered.unwrap_or_else(|e| panic!("in-flight request failed: {e}\n{log}"));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(late.is_err(), "a request was served after shutdown began");
    assert!(exit.success(), "{exit:?}");
    assert!(log.contains("stopped"));
}
