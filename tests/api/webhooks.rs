//! Seam's webhooks (`POST /v1/seam-webhook`): events the stand-in delivers, signed as Svix
//! signs them, take effect on the next handshake of the users they concern, with an account
//! cache window long enough that nothing else would; deliveries that do not verify change
//! nothing.

use seam_bff::config::AccountSourceKind;
use seam_stand_in::{AccountSpec, new_webhook_secret, sign_webhook};
use serde_json::json;

use crate::fake_seam::webhook_tool;
use crate::helpers::{Options, Reply, TestApp, login, read, spawn_app_with};

const ROUTE: &str = "/v1/seam-webhook";
const LIST_ACCOUNTS: &str = "/connected_accounts/list";

/// The service with Seam's webhook registered and an account cache window of ten minutes.
async fn app_with_webhook(options: Options) -> (TestApp, String) {
    let secret = new_webhook_secret();
    let app = spawn_app_with(options.with({
        let secret = secret.clone();
        move |s| {
            s.seam.webhook_secret = Some(secret.as_str().into());
            s.accounts.cache_ttl_secs = 600;
        }
    }))
    .await;
    app.seam
        .set_webhook(&format!("{}{ROUTE}", app.address), &secret);
    (app, secret)
}

/// Delivers what the setup queued (its accounts' `connected` events), so that the next
/// delivery is the event under test alone.
async fn deliver_setup_events(app: &TestApp) {
    let statuses = app.seam.deliver_events().await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}

/// Deletes the user's session at Seam with the API key, as another backend would.
async fn delete_session_at_seam(app: &TestApp, user_identifier_key: &str) {
    let session = app
        .seam
        .session_for(user_identifier_key)
        .expect("a session");
    let deleted = app
        .http
        .post(format!("{}/client_sessions/delete", app.seam.url()))
        .bearer_auth(app.seam.api_key())
        .send_json(&json!({ "client_session_id": session.client_session_id }))
        .await
        .expect("the stand-in answers");
    assert_eq!(deleted.status().as_u16(), 200);
}

fn unix_now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// A delivery with these Svix headers (any left out) and body.
pub(crate) async fn post_delivery(
    app: &TestApp,
    id: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> Reply {
    let mut request = app
        .http
        .post(format!("{}{ROUTE}", app.address))
        .content_type("application/json");
    for (name, value) in [
        ("svix-id", id),
        ("svix-timestamp", timestamp),
        ("svix-signature", signature),
    ] {
        if let Some(value) = value {
            request = request.insert_header((name, value));
        }
    }
    read(request.send_body(body.to_vec()).await.expect("sent")).await
}

/// A delivery of `event` signed with `secret` at `timestamp`, under a fresh id.
pub(crate) async fn signed(
    app: &TestApp,
    secret: &str,
    timestamp: u64,
    event: &serde_json::Value,
) -> Reply {
    let body = serde_json::to_vec(event).expect("json");
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let timestamp = timestamp.to_string();
    let signature = sign_webhook(secret, &id, &timestamp, &body);
    post_delivery(app, Some(&id), Some(&timestamp), Some(&signature), &body).await
}

#[actix_web::test]
async fn a_deleted_account_leaves_its_users_session_on_their_next_handshake() {
    let (app, _) = app_with_webhook(Options::default()).await;
    let kept = app
        .seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    app.seam.add_device(&kept, "front door");
    let lost = app
        .seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    app.seam.add_device(&lost, "back door");
    let bob = app.seam.add_connected_account(AccountSpec::owned_by("bob"));
    let before = app.handshake("alice").await;
    assert_eq!(before.account_ids().len(), 2, "{}", before.text);
    let bobs = app.handshake("bob").await;
    deliver_setup_events(&app).await;

    app.seam.remove_connected_account(&lost);
    // Without the event, the account lookup would serve for ten minutes more.
    assert_eq!(app.handshake("alice").await.account_ids().len(), 2);
    assert_eq!(app.seam.deliver_events().await, [200]);

    let after = app.handshake("alice").await;
    assert_eq!(after.status, 200, "{}", after.text);
    assert_eq!(after.account_ids(), [kept.as_str()]);
    assert_eq!(app.devices_seen_with(after.token()).await, ["front door"]);
    // Bob holds no such account: his session is still the cached one.
    let bobs_again = app.handshake("bob").await;
    assert_eq!(bobs_again.token(), bobs.token());
    assert_eq!(bobs_again.account_ids(), [bob.as_str()]);
}

#[actix_web::test]
async fn a_disconnected_account_stays_its_users_and_works_again_once_reconnected_in_place() {
    let (app, _) = app_with_webhook(Options::default()).await;
    let steady = app
        .seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    app.seam.add_device(&steady, "front door");
    let flaky = app
        .seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    app.seam.add_device(&flaky, "back door");
    let first = app.handshake("alice").await;
    assert_eq!(first.account_ids().len(), 2, "{}", first.text);
    let token = first.token().to_owned();
    deliver_setup_events(&app).await;
    let lists = app.seam.calls(LIST_ACCOUNTS);

    // The provider's link breaks: Seam keeps the account, with an `account_disconnected`
    // error, under the same id.
    app.seam.disconnect_connected_account(&flaky);
    assert_eq!(app.seam.deliver_events().await, [200]);
    let while_disconnected = app.handshake("alice").await;
    assert_eq!(
        while_disconnected.status, 200,
        "{}",
        while_disconnected.text
    );
    assert_eq!(
        app.seam.calls(LIST_ACCOUNTS),
        lists + 1,
        "the event cleared the cached lookup"
    );
    let mut both = vec![steady.clone(), flaky.clone()];
    both.sort();
    let mut held = while_disconnected.account_ids();
    held.sort();
    assert_eq!(held, both, "a disconnected account is still the user's");
    assert_eq!(
        while_disconnected.token(),
        token,
        "the same session, not a new one"
    );

    // The user reconnects it in place (`connected_account.connected`, same id): the token
    // the frontend holds sees its devices again, without signing in again.
    app.seam.reconnect_connected_account(&flaky);
    assert_eq!(app.seam.deliver_events().await, [200]);
    assert_eq!(
        app.devices_seen_with(&token).await,
        ["back door", "front door"]
    );
    let after = app.handshake("alice").await;
    assert_eq!(after.token(), token);
    let mut held = after.account_ids();
    held.sort();
    assert_eq!(held, both);
}

#[actix_web::test]
async fn a_connected_account_joins_its_owners_next_handshake() {
    // By custom metadata (`seam_metadata`): the event carries the owner's id.
    let (app, _) = app_with_webhook(Options::default().with(|s| {
        s.accounts.source = AccountSourceKind::SeamMetadata;
        s.accounts.metadata_key = Some("app_user_id".into());
    }))
    .await;
    let first = (app.seam)
        .add_connected_account(AccountSpec::unowned().with_metadata("app_user_id", "bob"));
    assert_eq!(app.handshake("bob").await.account_ids(), [first.as_str()]);
    deliver_setup_events(&app).await;

    let second = (app.seam)
        .add_connected_account(AccountSpec::unowned().with_metadata("app_user_id", "bob"));
    app.seam.add_device(&second, "garage");
    assert_eq!(app.seam.deliver_events().await, [200]);

    let after = app.handshake("bob").await;
    let mut both = vec![first, second];
    both.sort();
    assert_eq!(after.account_ids(), both, "{}", after.text);
    assert_eq!(app.devices_seen_with(after.token()).await, ["garage"]);
}

#[actix_web::test]
async fn an_account_connected_through_a_users_webview_joins_their_next_handshake() {
    // By `user_identifier_key` (`seam`): the event names the Connect Webview, whose session
    // says whose it is.
    let (app, _) = app_with_webhook(Options::default()).await;
    let first = app.seam.add_connected_account(AccountSpec::owned_by("bob"));
    let before = app.handshake("bob").await;
    assert_eq!(before.account_ids(), [first.as_str()]);
    deliver_setup_events(&app).await;
    let created = app
        .http
        .post(format!("{}/connect_webviews/create", app.seam.url()))
        .bearer_auth(before.token())
        .send_json(&json!({}))
        .await
        .expect("the stand-in answers");
    let created = read(created).await;
    let webview = created.body["connect_webview"]["connect_webview_id"]
        .as_str()
        .expect("a webview id")
        .to_owned();
    let second = app.seam.complete_connect_webview(&webview, "garage");
    assert_eq!(app.seam.deliver_events().await, [200]);

    let after = app.handshake("bob").await;
    let mut both = vec![first, second];
    both.sort();
    assert_eq!(after.account_ids(), both, "{}", after.text);
}

#[actix_web::test]
async fn a_session_seam_deleted_is_not_handed_out_again() {
    let (app, _) = app_with_webhook(Options::default()).await;
    app.seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    let before = app.handshake("alice").await;
    deliver_setup_events(&app).await;
    // Deleted at Seam by someone else (another backend with the API key).
    delete_session_at_seam(&app, "alice").await;
    assert_eq!(
        app.handshake("alice").await.token(),
        before.token(),
        "cached until told"
    );
    assert_eq!(app.seam.deliver_events().await, [200]);

    let after = app.handshake("alice").await;
    assert_eq!(after.status, 200, "{}", after.text);
    assert_ne!(after.token(), before.token());
    assert_eq!(app.devices_status(after.token()).await, 200);
}

#[actix_web::test]
async fn deliveries_that_do_not_verify_are_refused_and_change_nothing() {
    let (app, secret) = app_with_webhook(Options::default()).await;
    let account = app
        .seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    let token = login("alice");
    let before = app.handshake_with(&token).await;
    let lookups = app.seam.calls(LIST_ACCOUNTS);
    let event = json!({
        "event_id": uuid::Uuid::new_v4().to_string(),
        "event_type": "connected_account.deleted",
        "connected_account_id": account,
    });
    let body = serde_json::to_vec(&event).expect("json");
    let now = unix_now().to_string();
    let sign = |secret: &str, id: &str, at: &str| sign_webhook(secret, id, at, &body);
    let ten_minutes_ago = (unix_now() - 600).to_string();
    let cases: Vec<(&str, Reply)> = vec![
        (
            "webhook_signature_invalid",
            post_delivery(
                &app,
                Some("msg_1"),
                Some(&now),
                Some(&sign(&new_webhook_secret(), "msg_1", &now)),
                &body,
            )
            .await,
        ),
        (
            "webhook_signature_invalid",
            post_delivery(
                &app,
                Some("msg_2"),
                Some(&now),
                Some(&sign(&secret, "msg_2", &now)),
                b"{\"event_type\":\"other\"}",
            )
            .await,
        ),
        (
            "webhook_timestamp_stale",
            post_delivery(
                &app,
                Some("msg_3"),
                Some(&ten_minutes_ago),
                Some(&sign(&secret, "msg_3", &ten_minutes_ago)),
                &body,
            )
            .await,
        ),
        (
            "webhook_signature_missing",
            post_delivery(&app, Some("msg_4"), Some(&now), None, &body).await,
        ),
        (
            "webhook_signature_missing",
            post_delivery(&app, None, None, None, &body).await,
        ),
        (
            "too_large",
            post_delivery(
                &app,
                Some("msg_5"),
                Some(&now),
                Some("v1,x"),
                &vec![b' '; 70 * 1024],
            )
            .await,
        ),
    ];
    for (code, reply) in &cases {
        let expected = if *code == "too_large" { 413 } else { 400 };
        assert_eq!(
            (reply.status, reply.code()),
            (expected, *code),
            "{}",
            reply.text
        );
    }
    let same = app.handshake_with(&token).await;
    assert_eq!(same.token(), before.token());
    assert_eq!(
        app.seam.calls(LIST_ACCOUNTS),
        lookups,
        "nothing was looked up again"
    );

    // A delivery that verifies is applied once; the same delivery again is refused.
    let signature = sign(&secret, "msg_6", &now);
    let first = post_delivery(&app, Some("msg_6"), Some(&now), Some(&signature), &body).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["users_cleared"], 1);
    app.handshake_with(&token).await;
    let lookups = app.seam.calls(LIST_ACCOUNTS);
    let replayed = post_delivery(&app, Some("msg_6"), Some(&now), Some(&signature), &body).await;
    assert_eq!(
        (replayed.status, replayed.code()),
        (400, "webhook_replayed")
    );
    app.handshake_with(&token).await;
    assert_eq!(
        app.seam.calls(LIST_ACCOUNTS),
        lookups,
        "the replay changed nothing"
    );
}

#[actix_web::test]
async fn events_the_service_ignores_are_answered_ok() {
    let (app, secret) = app_with_webhook(Options::default()).await;
    let reply = signed(
        &app,
        &secret,
        unix_now(),
        &json!({"event_id": "e", "event_type": "lock.unlocked", "device_id": "d"}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({"event_type": "lock.unlocked", "users_cleared": 0})
    );
}

#[actix_web::test]
async fn without_a_secret_there_is_no_webhook_route() {
    let app = spawn_app_with(Options::default()).await;
    let reply = post_delivery(&app, Some("msg"), Some("1"), Some("v1,x"), b"{}").await;
    assert_eq!((reply.status, reply.code()), (404, "not_found"));
}

/// Seam's own tools agree: a delivery signed by Svix's library (which Seam delivers with) is
/// taken by the service, and the stand-in's deliveries pass Seam's verifier
/// (`@seamapi/webhook`), which also checks that each body is a Seam event as Seam's types
/// define them; a tampered one does not.
#[actix_web::test]
async fn seams_own_webhook_library_agrees_with_the_service_and_the_stand_in() {
    let (app, secret) = app_with_webhook(Options::default()).await;
    let body = br#"{"event_type":"device.unlocked","device_id":"d"}"#;
    let id = "msg_svix_signed";
    let at = unix_now().to_string();
    let signature = webhook_tool(&["sign", &secret, id, &at], body).expect("Svix's library signs");
    let taken = post_delivery(&app, Some(id), Some(&at), Some(&signature), body).await;
    assert_eq!(taken.status, 200, "{}", taken.text);

    let account = app
        .seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    app.seam.remove_connected_account(&account);
    let session = app.handshake("alice").await;
    assert_eq!(session.status, 200);
    delete_session_at_seam(&app, "alice").await;
    let deliveries = app.seam.take_deliveries();
    let mut types = Vec::new();
    for delivery in &deliveries {
        let verified = webhook_tool(
            &[
                "verify",
                &secret,
                &delivery.id,
                &delivery.timestamp,
                &delivery.signature,
            ],
            &delivery.body,
        );
        types.push(verified.unwrap_or_else(|e| panic!("Seam's verifier refused: {e}")));
    }
    assert_eq!(
        types,
        [
            "connected_account.connected",
            "connected_account.deleted",
            "client_session.deleted"
        ]
    );
    let first = &deliveries[0];
    let mut tampered = first.body.clone();
    tampered.push(b' ');
    let refused = webhook_tool(
        &[
            "verify",
            &secret,
            &first.id,
            &first.timestamp,
            &first.signature,
        ],
        &tampered,
    );
    assert!(refused.is_err(), "a changed body must not verify");
}
