//! A user's accounts change upstream: the change shows after the account-cache window, and a
//! session holding an account the user lost is never handed out, whatever Seam's
//! `get_or_create` does with the accounts of an existing session.

use seam_stand_in::{AccountSpec, AccountsOnExisting};
use time::Duration;

use crate::helpers::{ACCOUNT_TTL_SECS, TestApp, spawn_app};

fn past_account_window() -> Duration {
    Duration::seconds(ACCOUNT_TTL_SECS + 1)
}

async fn app_with_mode(mode: AccountsOnExisting) -> TestApp {
    let app = spawn_app().await;
    app.seam.set_accounts_on_existing(mode);
    app
}

#[actix_web::test]
async fn an_added_account_shows_after_the_account_cache_window() {
    for mode in [
        AccountsOnExisting::Ignore,
        AccountsOnExisting::Replace,
        AccountsOnExisting::Merge,
    ] {
        let app = app_with_mode(mode).await;
        let first_account = app
            .seam
            .add_connected_account(AccountSpec::owned_by("alice"));
        app.seam.add_device(&first_account, "first");
        let before = app.handshake("alice").await;
        assert_eq!(before.account_ids(), [first_account.as_str()]);

        let second_account = app
            .seam
            .add_connected_account(AccountSpec::owned_by("alice"));
        app.seam.add_device(&second_account, "second");
        let within_window = app.handshake("alice").await;
        assert_eq!(
            within_window.account_ids(),
            [first_account.as_str()],
            "{mode:?}"
        );

        app.clock.advance(past_account_window());
        let after = app.handshake("alice").await;

        assert_eq!(after.status, 200, "{mode:?}: {}", after.text);
        let mut both = vec![first_account.clone(), second_account];
        both.sort();
        assert_eq!(after.account_ids(), both, "{mode:?}");
        assert_eq!(
            app.devices_seen_with(after.token()).await,
            ["first", "second"],
            "{mode:?}"
        );
    }
}

#[actix_web::test]
async fn a_session_holding_a_removed_account_is_never_served() {
    for mode in [
        AccountsOnExisting::Ignore,
        AccountsOnExisting::Replace,
        AccountsOnExisting::Merge,
    ] {
        let app = app_with_mode(mode).await;
        let kept = app
            .seam
            .add_connected_account(AccountSpec::owned_by("alice"));
        let lost = app
            .seam
            .add_connected_account(AccountSpec::owned_by("alice"));
        app.seam.add_device(&kept, "kept");
        app.seam.add_device(&lost, "lost");
        let before = app.handshake("alice").await;
        assert_eq!(before.account_ids().len(), 2);

        // The account moves to another user (still exists at Seam, so a stale session
        // would still see its devices).
        app.seam.remove_connected_account(&lost);
        let moved = app
            .seam
            .add_connected_account(AccountSpec::owned_by("mallory"));
        app.seam.add_device(&moved, "moved");
        app.clock.advance(past_account_window());
        let after = app.handshake("alice").await;

        assert_eq!(after.status, 200, "{mode:?}: {}", after.text);
        assert_eq!(after.account_ids(), [kept.as_str()], "{mode:?}");
        let at_seam = app.seam.session_for("alice").expect("session");
        assert_eq!(at_seam.connected_account_ids, [kept.as_str()], "{mode:?}");
        assert_eq!(after.token(), at_seam.token);
        assert_eq!(
            app.devices_seen_with(after.token()).await,
            ["kept"],
            "{mode:?}"
        );
    }
}

#[actix_web::test]
async fn an_account_lookup_is_reused_within_its_window() {
    let app = spawn_app().await;
    app.seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    app.handshake("alice").await;
    app.handshake("alice").await;
    // Just before the last quarter of the window, where a background refresh would start
    // (`account_lookups_are_refreshed_ahead_of_their_window` covers that part).
    let refresh_point = ACCOUNT_TTL_SECS * 3 / 4;
    app.clock.advance(Duration::seconds(refresh_point - 1));
    app.handshake("alice").await;
    assert_eq!(app.seam.calls("/connected_accounts/list"), 1);
    app.clock
        .advance(Duration::seconds(ACCOUNT_TTL_SECS - refresh_point + 2));
    app.handshake("alice").await;
    assert_eq!(app.seam.calls("/connected_accounts/list"), 2);
}
