//! The workspace pin (`seam.workspace_id`, `seam.sandbox`): a key of another workspace makes
//! `/readyz` and every handshake that needs Seam answer `503 seam_workspace_mismatch`, with no
//! call but `/workspaces/get` reaching Seam; a matching pin serves at the cost of one such
//! call; webhook events of another workspace are refused once the service's is known; and
//! `check-config` warns about a sandbox key pinned to production.

use seam_bff::config::Settings;
use seam_stand_in::{AccountSpec, StandIn, WorkspaceSpec, new_webhook_secret};
use serde_json::{Value, json};
use time::Duration;

use crate::helpers::{
    Options, Reply, SECRET, TestApp, assert_retry_after, hs256_auth, login, read,
    spawn_app_against, spawn_app_with,
};
use crate::process::{Running, run};
use crate::webhooks::{post_delivery, signed};

const WORKSPACES_GET: &str = "/workspaces/get";
const GET_OR_CREATE: &str = "/client_sessions/get_or_create";
const LIST_ACCOUNTS: &str = "/connected_accounts/list";
const WEBHOOK: &str = "/v1/seam-webhook";
const MISMATCH: &str = "seam_workspace_mismatch";

/// The service against a fresh stand-in with one account for alice, its settings changed by
/// `change` with the stand-in's workspace id.
async fn spawn_knowing_the_workspace(
    options: Options,
    change: impl Fn(&mut Settings, &str) + 'static,
) -> TestApp {
    let seam = StandIn::start().await;
    seam.add_connected_account(AccountSpec::owned_by("alice"));
    let id = seam.workspace_id();
    spawn_app_against(seam, options.with(move |s| change(s, &id))).await
}

/// A handshake refused for the mismatch, as a client sees it.
fn assert_mismatch(reply: &Reply) {
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.code(), MISMATCH);
    assert_retry_after(reply.header("retry-after"));
}

/// `/readyz` is not ready for the mismatch (no call failed, so no cause).
async fn assert_not_ready(app: &TestApp) {
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.text);
    assert_eq!(ready.body["reason"], MISMATCH);
    assert_eq!(ready.body["cause"], Value::Null);
}

/// Only `/workspaces/get` reached Seam, `n` times: no session, account or webview call.
fn assert_only_workspace_checks(app: &TestApp, n: usize) {
    assert_eq!(app.seam.calls(WORKSPACES_GET), n);
    assert_eq!(app.seam.calls(GET_OR_CREATE), 0);
    assert_eq!(app.seam.calls(LIST_ACCOUNTS), 0);
    assert_eq!(app.seam.total_calls(), n);
}

#[actix_web::test]
async fn a_key_of_another_workspace_than_seam_workspace_id_reaches_nothing_at_seam() {
    let app = spawn_app_with(
        Options::default().with(|s| s.seam.workspace_id = Some("another-workspace".into())),
    )
    .await;
    app.seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    assert_mismatch(&app.handshake("alice").await);
    assert_only_workspace_checks(&app, 1);
    assert_not_ready(&app).await;
    assert_only_workspace_checks(&app, 2);
    // Known now: further handshakes are refused without asking Seam again.
    assert_mismatch(&app.handshake("bob").await);
    assert_mismatch(&app.handshake("alice").await);
    assert_only_workspace_checks(&app, 2);
}

#[actix_web::test]
async fn a_sandbox_key_pinned_to_production_is_refused_until_the_workspace_matches() {
    let app = spawn_app_with(Options::default().with(|s| s.seam.sandbox = Some(false))).await;
    app.seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    // Readiness first this time: its check is what the handshake then relies on.
    assert_not_ready(&app).await;
    assert_mismatch(&app.handshake("alice").await);
    assert_only_workspace_checks(&app, 1);

    // The workspace comes to match (as a key of the right one would): readiness's next check
    // sees it, and the handshake serves without another check.
    app.seam.set_workspace(WorkspaceSpec {
        is_sandbox: false,
        ..WorkspaceSpec::default()
    });
    app.clock.advance(Duration::seconds(16));
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    let served = app.handshake("alice").await;
    assert_eq!(served.status, 200, "{}", served.text);
    assert_eq!(served.account_ids().len(), 1);
    assert_eq!(app.seam.calls(WORKSPACES_GET), 2);
}

#[actix_web::test]
async fn right_pins_serve_after_one_workspace_check() {
    let app = spawn_knowing_the_workspace(Options::default(), |s, id| {
        s.seam.workspace_id = Some(id.to_owned());
        s.seam.sandbox = Some(true);
    })
    .await;
    let alice = app.handshake("alice").await;
    assert_eq!(alice.status, 200, "{}", alice.text);
    assert_eq!(alice.account_ids().len(), 1);
    assert_eq!(app.devices_status(alice.token()).await, 200);
    assert_eq!(app.handshake("bob").await.status, 200);
    assert_eq!(app.seam.calls(WORKSPACES_GET), 1, "confirmed once, for all");
    assert_eq!(app.seam.calls(GET_OR_CREATE), 2);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.text);
}

/// The service with Seam's webhook registered, an account cache window of ten minutes, and
/// `change` made with the stand-in's workspace id; and the signing secret.
async fn app_with_webhook(change: impl Fn(&mut Settings, &str) + 'static) -> (TestApp, String) {
    let secret = new_webhook_secret();
    let signing = secret.clone();
    let options = Options::default().with(move |s| {
        s.seam.webhook_secret = Some(signing.as_str().into());
        s.accounts.cache_ttl_secs = 600;
    });
    let app = spawn_knowing_the_workspace(options, change).await;
    (app.seam).set_webhook(&format!("{}{WEBHOOK}", app.address), &secret);
    (app, secret)
}

#[actix_web::test]
async fn an_event_of_another_workspace_than_the_pinned_one_is_refused_and_clears_nothing() {
    let (app, secret) = app_with_webhook(|s, id| s.seam.workspace_id = Some(id.to_owned())).await;
    let before = app.handshake("alice").await;
    let account = before.account_ids().remove(0);
    app.seam.remove_connected_account(&account);
    let mut deliveries = app.seam.take_deliveries();
    let gone = deliveries.pop().expect("the account's deleted event");
    let mut elsewhere: Value = serde_json::from_slice(&gone.body).expect("json");
    elsewhere["workspace_id"] = json!("another-workspace");
    let refused = signed(
        &app,
        &secret,
        jsonwebtoken::get_current_timestamp(),
        &elsewhere,
    )
    .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(refused.code(), "webhook_wrong_workspace");
    let lookups = app.seam.calls(LIST_ACCOUNTS);
    let cached = app.handshake("alice").await;
    assert_eq!(cached.token(), before.token());
    assert_eq!(cached.account_ids(), [account.as_str()], "nothing cleared");
    assert_eq!(app.seam.calls(LIST_ACCOUNTS), lookups);

    // The event as Seam sent it, from its own workspace, is taken, and clears alice.
    let (id, timestamp) = (Some(gone.id.as_str()), Some(gone.timestamp.as_str()));
    let taken = post_delivery(&app, id, timestamp, Some(&gone.signature), &gone.body).await;
    assert_eq!(taken.status, 200, "{}", taken.text);
    assert_eq!(taken.body["users_cleared"], 1);
}

#[actix_web::test]
async fn without_a_pin_events_are_checked_once_readiness_has_learnt_the_workspace() {
    let (app, secret) = app_with_webhook(|_, _| {}).await;
    let event =
        |workspace_id: &str| json!({"event_type": "device.unlocked", "workspace_id": workspace_id});
    let now = jsonwebtoken::get_current_timestamp;
    let unknown = signed(&app, &secret, now(), &event("another-workspace")).await;
    assert_eq!(unknown.status, 200, "not known yet: taken as before");
    assert_eq!(app.get("/readyz").await.status, 200);
    let refused = signed(&app, &secret, now(), &event("another-workspace")).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(refused.code(), "webhook_wrong_workspace");
    let ours = signed(&app, &secret, now(), &event(&app.seam.workspace_id())).await;
    assert_eq!(ours.status, 200, "{}", ours.text);
}

#[actix_web::test]
async fn the_mismatch_is_one_error_line_naming_both_workspaces_and_never_the_key() {
    let seam = StandIn::start().await;
    seam.add_connected_account(AccountSpec::owned_by("alice"));
    let (_dir, config) = crate::logs::config_for(&seam);
    let service = Running::start(
        &config,
        &[],
        &[
            ("SEAM_BFF__SEAM__WORKSPACE_ID", "another-workspace"),
            ("SEAM_BFF__SEAM__SANDBOX", "true"),
        ],
    );
    let http = crate::contract::checked_client(&service.address);
    let ready = http
        .get(format!("{}/readyz", service.address))
        .send()
        .await
        .expect("sent");
    let ready = read(ready).await;
    assert_eq!(ready.body["reason"], MISMATCH, "{}", ready.text);
    let refused = http
        .post(format!("{}/v1/client-session", service.address))
        .bearer_auth(login("alice"))
        .send()
        .await
        .expect("sent");
    assert_mismatch(&read(refused).await);
    let api_key = seam.api_key();

    let (_, log) = service.terminate();
    assert!(!log.contains(&api_key), "the API key reached the log");
    let errors: Vec<Value> = (log.lines())
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|entry| entry["level"] == "ERROR")
        .collect();
    assert_eq!(errors.len(), 1, "once, not per refused call: {errors:?}");
    let fields = &errors[0]["fields"];
    assert_eq!(fields["workspace_id"], seam.workspace_id().as_str());
    assert_eq!(fields["sandbox"], true);
    assert_eq!(fields["pinned_workspace_id"], "another-workspace");
    assert_eq!(fields["pinned_sandbox"], "true");
    assert!(
        fields["message"]
            .as_str()
            .is_some_and(|m| m.contains(MISMATCH)),
        "{fields}"
    );
}

#[test]
fn check_config_warns_about_a_sandbox_key_pinned_to_production() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("c.toml");
    std::fs::write(&config, format!("[auth]\n{}", hs256_auth())).expect("write");
    let config = config.to_str().expect("utf-8");
    let check = |key: &str, sandbox: Option<&str>| {
        let mut env = vec![("SEAM_API_KEY", key)];
        env.extend(sandbox.map(|s| ("SEAM_BFF__SEAM__SANDBOX", s)));
        let output = run(&["--config", config, "check-config"], &env);
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        let said = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(!said.contains(key), "the API key was printed: {said}");
        assert!(!said.contains(SECRET));
        said
    };
    let sandbox_key = "seam_test1234_Abcdefghij";
    let warned = check(sandbox_key, Some("false"));
    assert!(
        warned.contains("warning") && warned.contains("seam.sandbox"),
        "{warned}"
    );
    assert!(!check(sandbox_key, None).contains("warning"));
    assert!(!check(sandbox_key, Some("true")).contains("warning"));
    assert!(!check("seam_live1234_Abcdefghij", Some("false")).contains("warning"));

    let empty = dir.path().join("empty.toml");
    let text = format!("[auth]\n{}[seam]\nworkspace_id = \" \"\n", hs256_auth());
    std::fs::write(&empty, text).expect("write");
    let refused = run(
        &["--config", empty.to_str().expect("utf-8"), "check-config"],
        &[("SEAM_API_KEY", sandbox_key)],
    );
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("seam.workspace_id"), "{said}");
}
