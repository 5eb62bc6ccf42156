//! Probes: `/healthz` never calls Seam; `/readyz` reports whether Seam accepts the API key,
//! from a cached check.

use seam_stand_in::{Fault, WorkspaceSpec};
use time::Duration;

use crate::helpers::spawn_app;

const WORKSPACES_GET: &str = "/workspaces/get";

#[actix_web::test]
async fn healthz_answers_without_calling_seam() {
    let app = spawn_app().await;
    app.seam.rotate_api_key();
    let reply = app.get("/healthz").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["status"], "ok");
    assert_eq!(app.seam.total_calls(), 0);
}

#[actix_web::test]
async fn readyz_checks_the_api_key_once_per_window() {
    let app = spawn_app().await;
    for _ in 0..5 {
        let reply = app.get("/readyz").await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.body["status"], "ready");
    }
    assert_eq!(app.seam.calls(WORKSPACES_GET), 1);
    app.clock.advance(Duration::seconds(16));
    assert_eq!(app.get("/readyz").await.status, 200);
    assert_eq!(app.seam.calls(WORKSPACES_GET), 2);
}

#[actix_web::test]
async fn readyz_is_503_while_seam_rejects_the_api_key() {
    let app = spawn_app().await;
    let old_key = app.seam.api_key();
    app.seam.rotate_api_key();
    let reply = app.get("/readyz").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.body["reason"], "seam_credentials_rejected");
    assert!(!reply.text.contains(&old_key));
    // Still cached: probes do not hammer a Seam that refuses us.
    assert_eq!(app.get("/readyz").await.status, 503);
    assert_eq!(app.seam.calls(WORKSPACES_GET), 1);
}

#[actix_web::test]
async fn readyz_recovers_when_seam_does() {
    let app = spawn_app().await;
    app.seam.inject(WORKSPACES_GET, Fault::Status(503), 1);
    let down = app.get("/readyz").await;
    assert_eq!(down.status, 503);
    assert_eq!(down.body["reason"], "seam_unavailable");
    app.clock.advance(Duration::seconds(16));
    assert_eq!(app.get("/readyz").await.status, 200);
}

#[actix_web::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let app = spawn_app().await;
    let missing = app.get("/nope").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.code(), "not_found");
    let wrong_method = app.get("/v1/client-session").await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.code(), "method_not_allowed");
    assert_eq!(wrong_method.header("allow"), Some("POST, DELETE"));
    for path in ["/healthz", "/readyz", "/openapi.json"] {
        let posted = app.post(path, None).await;
        assert_eq!(posted.status, 405, "{path}");
        assert_eq!(posted.code(), "method_not_allowed", "{path}");
        assert_eq!(posted.header("allow"), Some("GET"), "{path}");
    }
}

/// Readiness knows the workspace: a suspended one is not ready; one with publishable keys is,
/// with a warning while user keys are guessable (no `identity.key_hmac_secret`).
#[actix_web::test]
async fn readyz_knows_the_seam_workspace() {
    let app = spawn_app().await;
    app.seam.set_workspace(WorkspaceSpec {
        is_suspended: true,
        ..WorkspaceSpec::default()
    });
    let suspended = app.get("/readyz").await;
    assert_eq!(suspended.status, 503);
    assert_eq!(suspended.body["reason"], "seam_workspace_suspended");

    let publishable = WorkspaceSpec {
        is_publishable_key_auth_enabled: true,
        ..WorkspaceSpec::default()
    };
    app.seam.set_workspace(publishable);
    app.clock.advance(Duration::seconds(16));
    let warned = app.get("/readyz").await;
    assert_eq!(warned.status, 200, "{}", warned.text);
    assert_eq!(
        warned.body["warnings"],
        serde_json::json!(["publishable_keys_without_key_hmac"])
    );

    let derived = crate::helpers::spawn_app_with(crate::helpers::Options::default().with(|s| {
        s.identity.key_hmac_secret = Some("key-hmac-secret-0123456789abcdef-0123456789".into());
    }))
    .await;
    derived.seam.set_workspace(publishable);
    let quiet = derived.get("/readyz").await;
    assert_eq!(quiet.status, 200, "{}", quiet.text);
    assert!(quiet.body.get("warnings").is_none(), "{}", quiet.text);
}
