//! Nothing beyond the user's own: an account another user connected through their own
//! Connect Webview, tagged with this user's id or Seam key (custom metadata a browser writes),
//! never reaches this user, for every Seam-backed accounts source; an account the app's backend
//! tagged still does.

use seam_bff::config::{AccountSourceKind, MetadataValue, Settings};
use seam_stand_in::AccountSpec;
use serde_json::{Value, json};
use time::Duration;

use crate::fleet::{fleet, joined};
use crate::helpers::{ACCOUNT_TTL_SECS, Options, TestApp, series, spawn_app_with};
use crate::redis_server::RedisServer;

const HMAC_SECRET: &str = "key-hmac-secret-0123456789abcdef-0123456789";

/// How one accounts source tags a user's accounts.
struct Case {
    name: &'static str,
    settings: fn(&mut Settings),
    /// What the app's backend files for the user with this Seam key.
    backend_account: fn(&str) -> AccountSpec,
    /// The custom metadata that names the user with this Seam key.
    tag: fn(&str) -> Value,
}

const CASES: &[Case] = &[
    Case {
        name: "seam_metadata with the user id",
        settings: |s| {
            s.accounts.source = AccountSourceKind::SeamMetadata;
            s.accounts.metadata_key = Some("app_user_id".into());
        },
        backend_account: |_| AccountSpec::unowned().with_metadata("app_user_id", "alice"),
        tag: |_| json!({"app_user_id": "alice"}),
    },
    Case {
        name: "seam_metadata with the user's Seam key",
        settings: |s| {
            s.accounts.source = AccountSourceKind::SeamMetadata;
            s.accounts.metadata_key = Some("user_identifier_key".into());
            s.accounts.metadata_value = MetadataValue::UserKey;
            s.identity.key_hmac_secret = Some(HMAC_SECRET.into());
        },
        backend_account: |key| AccountSpec::unowned().with_metadata("user_identifier_key", key),
        tag: |key| json!({"user_identifier_key": key}),
    },
    Case {
        name: "seam",
        settings: |s| s.identity.key_hmac_secret = Some(HMAC_SECRET.into()),
        backend_account: AccountSpec::owned_by,
        // What Seam Components writes on the webviews it opens.
        tag: |key| json!({"user_identifier_key": key}),
    },
];

/// The Seam key of the session this client session token belongs to.
fn seam_key_of(app: &TestApp, token: &str) -> String {
    (app.seam.sessions().into_iter())
        .find(|s| s.token == token)
        .and_then(|s| s.user_identifier_key)
        .expect("the token's session has a key")
}

/// Opens a Connect Webview with a client session token and this metadata, and completes it
/// with one device: the new account's id.
async fn connect_through_webview(
    app: &TestApp,
    token: &str,
    metadata: Value,
    device: &str,
) -> String {
    let created = (app)
        .seam_call(
            "/connect_webviews/create",
            token,
            json!({"custom_metadata": metadata}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let webview = created.body["connect_webview"]["connect_webview_id"]
        .as_str()
        .expect("a webview id");
    app.seam.complete_connect_webview(webview, device)
}

#[actix_web::test]
async fn an_account_planted_through_another_users_webview_never_reaches_the_user() {
    for case in CASES {
        let app = spawn_app_with(Options::default().with(case.settings)).await;
        let first = app.handshake("alice").await;
        assert_eq!(first.status, 200, "{}: {}", case.name, first.text);
        let alice_key = seam_key_of(&app, first.token());
        let backend = (app.seam).add_connected_account((case.backend_account)(&alice_key));
        app.seam.add_device(&backend, "alice's lock");

        // Bob signs in and, with his own token, connects his lock through a webview tagged
        // as alice's (as if he knew her Seam key, which an HMAC-derived key hides).
        let bob = app.handshake("bob").await;
        assert_eq!(bob.status, 200, "{}: {}", case.name, bob.text);
        let planted =
            connect_through_webview(&app, bob.token(), (case.tag)(&alice_key), "bob's lock").await;

        app.clock.advance(Duration::seconds(ACCOUNT_TTL_SECS + 1));
        let alice = app.handshake("alice").await;

        assert_eq!(alice.status, 200, "{}: {}", case.name, alice.text);
        assert_eq!(alice.account_ids(), [backend.as_str()], "{}", case.name);
        assert!(!alice.account_ids().contains(&planted), "{}", case.name);
        assert_eq!(
            app.devices_seen_with(alice.token()).await,
            ["alice's lock"],
            "{}",
            case.name
        );
        let at_seam = app.seam.session_for(&alice_key).expect("alice's session");
        assert_eq!(
            at_seam.connected_account_ids,
            [backend.as_str()],
            "{}",
            case.name
        );
    }
}

#[actix_web::test]
async fn a_planted_account_is_counted_and_logged_once_per_lookup() {
    let case = &CASES[0];
    let app = spawn_app_with(Options::default().with(case.settings)).await;
    let bob = app.handshake("bob").await;
    let planted = connect_through_webview(&app, bob.token(), (case.tag)(""), "bob's lock").await;
    let own = connect_through_webview(
        &app,
        bob.token(),
        json!({"app_user_id": "bob"}),
        "bob's own",
    )
    .await;

    let alice = app.handshake("alice").await;
    assert_eq!(alice.status, 200, "{}", alice.text);
    assert!(alice.account_ids().is_empty(), "{}", alice.text);
    let refused = r#"seam_bff_refused_grants_total{reason="planted_account"}"#;
    assert_eq!(series(&app.metrics().await, refused), 1.0);

    // Both accounts bob connected through his own webviews are his: the one tagged as his
    // by its metadata, and the other, which stays in the session it joined.
    app.clock.advance(Duration::seconds(ACCOUNT_TTL_SECS + 1));
    let bob_again = app.handshake_with(&app.later_login("bob")).await;
    assert_eq!(bob_again.status, 200, "{}", bob_again.text);
    let mut bobs = vec![own, planted];
    bobs.sort();
    let mut got = bob_again.account_ids();
    got.sort();
    assert_eq!(got, bobs);
    assert_eq!(series(&app.metrics().await, refused), 1.0);
}

#[actix_web::test]
async fn which_session_made_a_webview_is_asked_once() {
    let case = &CASES[0];
    let app = spawn_app_with(Options::default().with(case.settings)).await;
    let backend = (app.seam).add_connected_account((case.backend_account)(""));
    let alice = app.handshake("alice").await;
    let own =
        connect_through_webview(&app, alice.token(), (case.tag)(""), "alice's new lock").await;
    let lists_before = app.seam.calls("/client_sessions/list");

    for round in 1..=3 {
        app.clock.advance(Duration::seconds(ACCOUNT_TTL_SECS + 1));
        let again = app.handshake_with(&app.later_login("alice")).await;
        assert_eq!(again.status, 200, "{}", again.text);
        let mut expected = vec![backend.clone(), own.clone()];
        expected.sort();
        let mut got = again.account_ids();
        got.sort();
        assert_eq!(got, expected, "round {round}");
    }
    // One lookup of the webview's sessions, however many account lookups follow.
    assert_eq!(app.seam.calls("/client_sessions/list") - lists_before, 1);
}

#[actix_web::test]
async fn a_user_whose_key_has_a_customer_or_identity_session_gets_a_fresh_plain_session() {
    let cases = [
        (
            "customer_session",
            json!({"customer_key": "acme-properties"}),
        ),
        (
            "user_identity",
            json!({"user_identity_id": uuid::Uuid::new_v4().to_string()}),
        ),
    ];
    for (reason, reach) in cases {
        let app = spawn_app_with(Options::default()).await;
        let account = app
            .seam
            .add_connected_account(AccountSpec::owned_by("alice"));
        app.seam.add_device(&account, "alice's lock");
        // Made at Seam for alice's key by something else (an admin page of a B2B app).
        let mut asked = json!({"user_identifier_key": "alice", "connected_account_ids": [account]});
        asked
            .as_object_mut()
            .expect("an object")
            .extend(reach.as_object().expect("an object").clone());
        let made = app
            .seam_call("/client_sessions/create", &app.seam.api_key(), asked)
            .await;
        assert_eq!(made.status, 200, "{reason}: {}", made.text);
        let theirs = &made.body["client_session"];

        let alice = app.handshake("alice").await;

        assert_eq!(alice.status, 200, "{reason}: {}", alice.text);
        assert_ne!(
            alice.token(),
            theirs["token"].as_str().expect("a token"),
            "{reason}"
        );
        assert_ne!(
            alice.body["client_session_id"], theirs["client_session_id"],
            "{reason}"
        );
        assert!(
            (app.seam.sessions().iter())
                .all(|s| s.client_session_id != theirs["client_session_id"].as_str().unwrap_or("")),
            "{reason}: the session that reaches further is deleted at Seam"
        );
        let at_seam = app.seam.session_for("alice").expect("alice's session");
        assert_eq!(at_seam.token, alice.token(), "{reason}");
        let plain = app
            .seam_call(
                "/client_sessions/get",
                &app.seam.api_key(),
                json!({"client_session_id": at_seam.client_session_id}),
            )
            .await;
        assert_eq!(plain.status, 200, "{reason}: {}", plain.text);
        let plain = &plain.body["client_session"];
        assert!(
            plain.get("customer_key").is_none_or(Value::is_null),
            "{reason}: {plain}"
        );
        assert!(plain["user_identity_id"].is_null(), "{reason}: {plain}");
        assert_eq!(app.devices_seen_with(alice.token()).await, ["alice's lock"]);
        let refused = format!(r#"seam_bff_refused_grants_total{{reason="{reason}"}}"#);
        assert_eq!(series(&app.metrics().await, &refused), 1.0, "{reason}");
    }
}

#[actix_web::test]
async fn a_planted_account_stays_out_after_the_planter_signs_out() {
    let case = &CASES[0];
    let redis = RedisServer::start();
    let single = spawn_app_with(Options::default().with(case.settings)).await;
    let first = spawn_app_with(fleet(&redis).with(case.settings)).await;
    let second = first.replica().await;
    joined(&first).await;
    joined(&second).await;
    // A single instance; and a fleet, where bob signs out on one replica and alice signs in
    // on another.
    for (name, bobs, alices) in [("single", &single, &single), ("fleet", &first, &second)] {
        let bob_login = bobs.login("bob");
        let bob = bobs.handshake_with(&bob_login).await;
        assert_eq!(bob.status, 200, "{name}: {}", bob.text);
        let planted =
            connect_through_webview(bobs, bob.token(), (case.tag)(""), "bob's lock").await;
        let webview = (bobs.seam.sessions().into_iter())
            .find(|s| s.token == bob.token())
            .expect("bob's session");
        assert_eq!(webview.connected_account_ids, [planted.as_str()], "{name}");

        // Signing out deletes bob's session at Seam, and with it Seam's record of which
        // session made his webview.
        assert_eq!(bobs.logout(Some(&bob_login)).await.status, 204, "{name}");
        assert!(
            (bobs.seam.sessions().iter()).all(|s| s.client_session_id != webview.client_session_id),
            "{name}: bob's session is gone at Seam"
        );

        let alice = alices.handshake("alice").await;
        assert_eq!(alice.status, 200, "{name}: {}", alice.text);
        assert!(alice.account_ids().is_empty(), "{name}: {}", alice.text);
        assert!(
            alices.devices_seen_with(alice.token()).await.is_empty(),
            "{name}"
        );
    }
}
