//! Browser rules: cookie logins need `X-CSRF: 1` and an allowed Origin; CORS answers exactly
//! the allowed origins, with credentials, and preflights need no login.

use crate::helpers::{Options, Reply, TestApp, login, spawn_app, spawn_app_with};

const APP_ORIGIN: &str = "http://app.test:3000";
const EVIL_ORIGIN: &str = "http://evil.test";
const COOKIE: &str = "app_session";

async fn browser_app() -> TestApp {
    spawn_app_with(Options::default().with(|s| {
        s.auth.cookie_name = Some(COOKIE.into());
        s.cors.allowed_origins = vec![APP_ORIGIN.into(), "http://other.test".into()];
    }))
    .await
}

/// A cookie-authenticated handshake with the given extra headers.
async fn cookie_handshake(app: &TestApp, headers: &[(&str, &str)]) -> Reply {
    let mut request = app
        .http
        .post(format!("{}/v1/client-session", app.address))
        .insert_header(("cookie", format!("{COOKIE}={}", login("alice"))));
    for (name, value) in headers {
        request = request.insert_header((*name, *value));
    }
    crate::helpers::read(request.send().await.expect("sent")).await
}

#[actix_web::test]
async fn a_cookie_login_with_the_csrf_header_from_an_allowed_origin_succeeds() {
    let app = browser_app().await;
    let reply = cookie_handshake(&app, &[("x-csrf", "1"), ("origin", APP_ORIGIN)]).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some(APP_ORIGIN)
    );
    assert_eq!(
        reply.header("access-control-allow-credentials"),
        Some("true")
    );
    // Same-origin requests may omit Origin.
    let same_origin = cookie_handshake(&app, &[("x-csrf", "1")]).await;
    assert_eq!(same_origin.status, 200);
}

#[actix_web::test]
async fn a_cookie_login_without_csrf_proof_is_refused_before_seam_is_called() {
    let app = browser_app().await;
    let no_header = cookie_handshake(&app, &[("origin", APP_ORIGIN)]).await;
    assert_eq!(no_header.status, 403);
    assert_eq!(no_header.code(), "csrf_rejected");
    let wrong_value = cookie_handshake(&app, &[("x-csrf", "0"), ("origin", APP_ORIGIN)]).await;
    assert_eq!(wrong_value.status, 403);
    let evil = cookie_handshake(&app, &[("x-csrf", "1"), ("origin", EVIL_ORIGIN)]).await;
    assert_eq!(evil.status, 403);
    assert_eq!(evil.code(), "csrf_rejected");
    assert!(evil.header("access-control-allow-origin").is_none());
    assert_eq!(app.seam.total_calls(), 0);
}

#[actix_web::test]
async fn bearer_logins_need_no_csrf_header() {
    let app = browser_app().await;
    let reply = app
        .http
        .post(format!("{}/v1/client-session", app.address))
        .bearer_auth(login("alice"))
        .insert_header(("origin", APP_ORIGIN))
        .send()
        .await
        .expect("sent");
    assert_eq!(reply.status().as_u16(), 200);
}

#[actix_web::test]
async fn cookies_are_ignored_unless_a_cookie_name_is_configured() {
    let app = spawn_app().await;
    let reply = cookie_handshake(&app, &[("x-csrf", "1")]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.code(), "missing_token");
}

async fn preflight(app: &TestApp, origin: &str) -> Reply {
    let request = app
        .http
        .request(
            actix_web::http::Method::OPTIONS,
            format!("{}/v1/client-session", app.address),
        )
        .insert_header(("origin", origin))
        .insert_header(("access-control-request-method", "POST"))
        .insert_header(("access-control-request-headers", "authorization, x-csrf"));
    crate::helpers::read(request.send().await.expect("sent")).await
}

#[actix_web::test]
async fn preflights_are_answered_without_login_for_allowed_origins_only() {
    let app = browser_app().await;
    let allowed = preflight(&app, APP_ORIGIN).await;
    assert_eq!(allowed.status, 200, "{}", allowed.text);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some(APP_ORIGIN)
    );
    assert_eq!(
        allowed.header("access-control-allow-credentials"),
        Some("true")
    );
    let allowed_headers = allowed
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(allowed_headers.contains("x-csrf") && allowed_headers.contains("authorization"));

    let evil = preflight(&app, EVIL_ORIGIN).await;
    assert_ne!(evil.status, 200);
    assert_eq!(evil.code(), "cors_rejected");
    assert!(evil.header("access-control-allow-origin").is_none());
    assert!(evil.header("access-control-allow-credentials").is_none());
    assert_eq!(app.seam.total_calls(), 0);
}

#[actix_web::test]
async fn an_unlisted_origin_is_never_echoed() {
    let app = browser_app().await;
    let reply = app
        .http
        .post(format!("{}/v1/client-session", app.address))
        .bearer_auth(login("alice"))
        .insert_header(("origin", EVIL_ORIGIN))
        .send()
        .await
        .expect("sent");
    assert!(reply.headers().get("access-control-allow-origin").is_none());
    assert!(
        reply
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    // Without any configured origin there are no CORS headers at all.
    let plain = spawn_app().await;
    let reply = plain
        .http
        .post(format!("{}/v1/client-session", plain.address))
        .bearer_auth(login("alice"))
        .insert_header(("origin", APP_ORIGIN))
        .send()
        .await
        .expect("sent");
    assert!(reply.headers().get("access-control-allow-origin").is_none());
}
