//! The OpenAPI description (`src/routes/openapi.json`): served exactly as committed, and every
//! (method, path, status) it documents is one the service really gives. Each answer here comes
//! through the checked client (see `contract`), so it must also match what is documented.

use std::collections::BTreeSet;

use actix_web::http::Method;
use awc::ClientRequest;
use seam_stand_in::{Fault, new_webhook_secret, sign_webhook};

use crate::contract::{DESCRIPTION, documented};
use crate::helpers::{
    Options, Reply, TestApp, login, logout_claims, logout_token, read, spawn_app, spawn_app_with,
};

const ORIGIN: &str = "http://app.test";
const COOKIE: &str = "app_session";
const SESSION: &str = "/v1/client-session";
const BACKCHANNEL: &str = "/v1/backchannel-logout";
const WEBHOOK: &str = "/v1/seam-webhook";

#[actix_web::test]
async fn the_description_is_served_exactly_as_committed() {
    let app = spawn_app().await;
    let reply = app.get("/openapi.json").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.text, DESCRIPTION);
    let version = reply.body["openapi"].as_str().expect("an openapi field");
    assert!(version.starts_with("3.1."), "{version}");
    assert_eq!(reply.body["info"]["version"], env!("CARGO_PKG_VERSION"));
}

/// The (method, path, status) triples answered so far.
#[derive(Default)]
struct Seen(BTreeSet<(String, String, u16)>);

impl Seen {
    /// Sends the request and records its answer, which must have the status the test meant
    /// to reach (the checked client has already held it against the description).
    async fn expect(&mut self, status: u16, request: ClientRequest, body: &[u8]) -> Reply {
        let method = request.get_method().to_string();
        let path = request.get_uri().path().to_owned();
        let reply = read(request.send_body(body.to_vec()).await.expect("sent")).await;
        assert_eq!(reply.status, status, "{method} {path}: {}", reply.text);
        self.0.insert((method, path, status));
        reply
    }
}

fn request(app: &TestApp, method: Method, path: &str) -> ClientRequest {
    app.http.request(method, format!("{}{path}", app.address))
}

fn with_login(app: &TestApp, method: Method, user: &str) -> ClientRequest {
    request(app, method, SESSION).bearer_auth(login(user))
}

fn with_cookie_only(app: &TestApp, method: Method) -> ClientRequest {
    request(app, method, SESSION)
        .insert_header(("cookie", format!("{COOKIE}={}", app.login("eve"))))
}

/// An identity provider's back-channel logout post; send it with `logout_form`'s body.
fn logout_post(app: &TestApp) -> ClientRequest {
    request(app, Method::POST, BACKCHANNEL)
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
}

fn logout_form(token: &str) -> Vec<u8> {
    format!("logout_token={token}").into_bytes()
}

/// A Seam webhook delivery of `body`, signed with `secret` under a fresh id.
fn delivery(app: &TestApp, secret: &str, body: &[u8]) -> ClientRequest {
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let at = jsonwebtoken::get_current_timestamp().to_string();
    request(app, Method::POST, WEBHOOK)
        .insert_header(("content-type", "application/json"))
        .insert_header(("svix-signature", sign_webhook(secret, &id, &at, body)))
        .insert_header(("svix-id", id))
        .insert_header(("svix-timestamp", at))
}

fn preflight(app: &TestApp, origin: &str) -> ClientRequest {
    request(app, Method::OPTIONS, SESSION)
        .insert_header(("origin", origin))
        .insert_header(("access-control-request-method", "POST"))
}

#[actix_web::test]
async fn every_documented_response_is_one_the_service_gives() {
    let mut seen = Seen::default();
    let secret = new_webhook_secret();
    let webhook_secret = secret.clone();
    let app = spawn_app_with(Options::default().with(move |s| {
        s.seam.webhook_secret = Some(webhook_secret.as_str().into());
        s.auth.cookie_name = Some(COOKIE.into());
        s.auth.backchannel_logout = true;
        s.cors.allowed_origins = vec![ORIGIN.into()];
        s.seam.timeout_ms = 500;
        // Each injected fault must be answered as itself, not as an open circuit.
        s.seam.breaker_failures = 100;
    }))
    .await;
    let none: &[u8] = &[];

    for (method, path, _) in documented().into_iter().filter(|(.., s)| *s == 413) {
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        seen.expect(413, request(&app, method, &path), &[b'x'; 64 * 1024])
            .await;
    }

    seen.expect(200, request(&app, Method::GET, "/healthz"), none)
        .await;
    seen.expect(200, request(&app, Method::GET, "/readyz"), none)
        .await;
    seen.expect(200, request(&app, Method::GET, "/openapi.json"), none)
        .await;
    seen.expect(200, preflight(&app, ORIGIN), none).await;
    seen.expect(400, preflight(&app, "http://evil.test"), none)
        .await;
    seen.expect(405, request(&app, Method::OPTIONS, SESSION), none)
        .await;
    let logout = logout_token(&logout_claims(Some("bob"), None));
    seen.expect(200, logout_post(&app), &logout_form(&logout))
        .await;
    seen.expect(400, logout_post(&app), &logout_form(&logout))
        .await;
    let off = spawn_app().await;
    seen.expect(404, logout_post(&off), &logout_form(&logout))
        .await;
    let ignored = br#"{"event_type":"device.unlocked"}"#;
    seen.expect(200, delivery(&app, &secret, ignored), ignored)
        .await;
    seen.expect(400, delivery(&app, &new_webhook_secret(), ignored), ignored)
        .await;
    seen.expect(404, delivery(&off, &secret, ignored), ignored)
        .await;
    // A connected account's owner, for the `seam` source, is asked of Seam.
    let connected = br#"{"event_type":"connected_account.connected","connected_account_id":"a","connect_webview_id":"w"}"#;
    for (fault, status) in [
        (Fault::Status(500), 502),
        (Fault::Status(503), 503),
        (Fault::Hang, 504),
    ] {
        app.seam.inject("/client_sessions/list", fault, 1);
        seen.expect(status, delivery(&app, &secret, connected), connected)
            .await;
    }

    for method in [Method::POST, Method::DELETE] {
        let alice = with_login(&app, method.clone(), "alice");
        let done = if method == Method::POST { 200 } else { 204 };
        seen.expect(done, alice, none).await;
        seen.expect(401, request(&app, method.clone(), SESSION), none)
            .await;
        seen.expect(403, with_cookie_only(&app, method.clone()), none)
            .await;
        // The handshake fails at its session call, logout at its listing.
        let endpoint = if method == Method::POST {
            "/client_sessions/get_or_create"
        } else {
            "/client_sessions/list"
        };
        for (fault, status) in [
            (Fault::Status(500), 502),
            (Fault::Status(503), 503),
            (Fault::Hang, 504),
        ] {
            app.seam.inject(endpoint, fault, 1);
            let user = format!("user-{status}");
            seen.expect(status, with_login(&app, method.clone(), &user), none)
                .await;
        }
    }

    // One Seam-costing request per user and one failed signature check per address; account
    // lookups are not kept, so every handshake costs.
    let limited = spawn_app_with(Options::default().with(|s| {
        s.rate_limit.enabled = true;
        s.rate_limit.user_per_minute = 1;
        s.rate_limit.user_burst = 1;
        s.rate_limit.client_per_minute = 1;
        s.rate_limit.client_burst = 1;
        s.accounts.cache_ttl_secs = 0;
        s.auth.backchannel_logout = true;
    }))
    .await;
    seen.expect(200, with_login(&limited, Method::POST, "alice"), none)
        .await;
    for method in [Method::POST, Method::DELETE] {
        seen.expect(429, with_login(&limited, method, "alice"), none)
            .await;
    }
    let mut forged = logout_claims(Some("bob"), None);
    forged["aud"] = serde_json::json!(crate::helpers::AUDIENCE);
    let forged = format!("{}x", logout_token(&forged));
    seen.expect(400, logout_post(&limited), &logout_form(&forged))
        .await;
    seen.expect(429, logout_post(&limited), &logout_form(&logout))
        .await;
    limited.seam.rotate_api_key();
    let not_ready = seen
        .expect(503, request(&limited, Method::GET, "/readyz"), none)
        .await;
    assert_eq!(not_ready.body["reason"], "seam_credentials_rejected");

    // A 431 comes from the HTTP layer, which closes the connection while the client may still
    // be sending its oversized head: whether the client reads the answer is a race.
    let reachable: BTreeSet<_> = documented()
        .into_iter()
        .filter(|(.., status)| *status != 431)
        .collect();
    assert_eq!(seen.0, reachable);
}
