//! The Connect Webview flow a frontend runs with its token (what Seam Components'
//! `ConnectAccountButton` does): the account the user connects joins their Seam session, and
//! stays there through renewals with the same token, whatever the accounts source and however
//! `get_or_create` treats an existing session's lists. An account that reached the session any
//! other way is still never handed out to a user who does not own it.

use std::collections::HashMap;

use seam_bff::config::AccountSourceKind;
use seam_stand_in::{AccountSpec, AccountsOnExisting, RevokedSessions};
use serde_json::json;
use time::Duration;

use crate::helpers::{
    MIN_REMAINING_SECS, Options, TTL_SECS, TestApp, later_login, login, spawn_app_against,
    spawn_app_with,
};

const DELETE: &str = "/client_sessions/delete";

/// The frontend opens a Connect Webview with its token and the user completes it: returns the
/// new account's id.
async fn connect_an_account(app: &TestApp, token: &str, device: &str) -> String {
    let created = app
        .seam_call(
            "/connect_webviews/create",
            token,
            json!({"custom_metadata": {}}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let id = created.body["connect_webview"]["connect_webview_id"]
        .as_str()
        .expect("a webview id")
        .to_owned();
    app.seam.complete_connect_webview(&id, device)
}

/// Past the session's `refresh_after`: the next handshake renews it.
fn due_for_renewal(app: &TestApp) {
    app.clock
        .advance(Duration::seconds(TTL_SECS - MIN_REMAINING_SECS + 5));
}

async fn the_connected_account_stays(app: TestApp, user: &str, mine: &str) {
    let first = app.handshake_with(&login(user)).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let token = first.token().to_owned();
    let connected = connect_an_account(&app, &token, "new lock").await;
    assert_eq!(app.devices_seen_with(&token).await, ["mine", "new lock"]);

    let cached = app.handshake_with(&later_login(user)).await;
    assert_eq!(cached.token(), token, "the token the frontend holds");
    due_for_renewal(&app);
    let renewed = app.handshake_with(&app.later_login(user)).await;
    assert_eq!(renewed.status, 200, "{}", renewed.text);
    assert_eq!(renewed.token(), token, "renewed, not replaced");
    assert_eq!(app.seam.calls(DELETE), 0);
    assert_eq!(app.devices_seen_with(&token).await, ["mine", "new lock"]);
    let mut listed = renewed.account_ids();
    listed.sort();
    let mut expected = vec![mine.to_owned(), connected];
    expected.sort();
    assert_eq!(listed, expected);
}

#[actix_web::test]
async fn an_account_connected_through_the_users_token_stays_with_the_seam_source() {
    for mode in [AccountsOnExisting::Replace, AccountsOnExisting::Ignore] {
        let app = spawn_app_with(Options::default()).await;
        app.seam.set_accounts_on_existing(mode);
        let mine = app
            .seam
            .add_connected_account(AccountSpec::owned_by("alice"));
        app.seam.add_device(&mine, "mine");
        the_connected_account_stays(app, "alice", &mine).await;
    }
}

#[actix_web::test]
async fn an_account_connected_through_the_users_token_stays_with_the_static_source() {
    for mode in [AccountsOnExisting::Replace, AccountsOnExisting::Ignore] {
        let seam = seam_stand_in::StandIn::start().await;
        seam.set_accounts_on_existing(mode);
        let mine = seam.add_connected_account(AccountSpec::unowned());
        seam.add_device(&mine, "mine");
        let app = spawn_app_against(
            seam,
            Options::default().with({
                let frank = HashMap::from([("frank".to_owned(), vec![mine.clone()])]);
                move |s| {
                    s.accounts.source = AccountSourceKind::Static;
                    s.accounts.static_accounts = frank.clone();
                }
            }),
        )
        .await;
        the_connected_account_stays(app, "frank", &mine).await;
    }
}

/// An account granted to the user's session by anyone but the user's own webview (here, the
/// API key, as a mistaken script might) is not theirs: the session is replaced without it.
#[actix_web::test]
async fn an_account_that_reached_the_session_otherwise_is_never_handed_out() {
    let app = spawn_app_with(Options::default()).await;
    let theirs = app.seam.add_connected_account(AccountSpec::owned_by("bob"));
    app.seam.add_device(&theirs, "bob's lock");
    let first = app.handshake("alice").await;
    let granted = app.seam_call(
        "/client_sessions/grant_access",
        &app.seam.api_key(),
        json!({"client_session_id": first.body["client_session_id"], "connected_account_ids": [theirs]}),
    )
    .await;
    assert_eq!(granted.status, 200, "{}", granted.text);

    due_for_renewal(&app);
    let renewed = app.handshake("alice").await;
    assert_eq!(renewed.status, 200, "{}", renewed.text);
    assert_ne!(renewed.token(), first.token(), "replaced");
    assert!(renewed.account_ids().is_empty());
    assert!(app.devices_seen_with(renewed.token()).await.is_empty());
    assert_eq!(app.devices_status(first.token()).await, 401);
}

/// Logout sticks at Seam whether or not `get_or_create` would hand a revoked session back:
/// the next sign-in gets a new, working token.
#[actix_web::test]
async fn after_a_logout_the_next_sign_in_never_gets_the_old_token() {
    for mode in [RevokedSessions::Replaced, RevokedSessions::ReturnedAgain] {
        let app = spawn_app_with(Options::default()).await;
        app.seam.set_revoked_sessions(mode);
        let mine = app
            .seam
            .add_connected_account(AccountSpec::owned_by("carol"));
        app.seam.add_device(&mine, "carol's lock");
        let old = app.login("carol");
        let before = app.handshake_with(&old).await;
        assert_eq!(app.logout(Some(&old)).await.status, 204);
        let after = app.handshake_with(&app.later_login("carol")).await;
        assert_eq!(after.status, 200, "{mode:?}: {}", after.text);
        assert_ne!(after.token(), before.token(), "{mode:?}");
        assert_eq!(app.devices_seen_with(after.token()).await, ["carol's lock"]);
        assert_eq!(app.devices_status(before.token()).await, 401);
    }
}
