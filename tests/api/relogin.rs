//! Signing in again at once: logins carry whole-second `iat`, and a login issued in the second
//! of a logout, after it, works; every login presented before the logout, and every login
//! carrying an ended `sid`, stays refused. On one instance and across a fleet.

use seam_bff::clock::Clock;
use seam_stand_in::AccountSpec;
use serde_json::json;

use crate::fleet::{fleet, joined};
use crate::helpers::{Options, TestApp, claims, logout_claims, logout_token, sign, spawn_app_with};
use crate::redis_server::RedisServer;

/// A login of `user` issued now on `app`'s clock, carrying the identity provider's `sid`.
fn login_in_session(app: &TestApp, user: &str, sid: Option<&str>) -> String {
    let now = app.clock.now().unix_timestamp();
    let mut claims = claims(user);
    (claims["iat"], claims["exp"]) = (json!(now), json!(now + 600));
    if let Some(sid) = sid {
        claims["sid"] = json!(sid);
    }
    sign(&claims)
}

async fn assert_revoked(app: &TestApp, token: &str, what: &str) {
    let reply = app.handshake_with(token).await;
    assert_eq!(
        (reply.status, reply.code()),
        (401, "login_revoked"),
        "{what}"
    );
}

async fn assert_admitted(app: &TestApp, token: &str, what: &str) {
    let reply = app.handshake_with(token).await;
    assert_eq!(reply.status, 200, "{what}: {}", reply.text);
}

#[actix_web::test]
async fn a_sign_in_right_after_a_logout_in_the_same_second_works() {
    let app = spawn_app_with(Options::default()).await;
    app.seam.add_connected_account(AccountSpec::owned_by("ann"));
    let old = app.login("ann");
    assert_admitted(&app, &old, "before the logout").await;
    assert_eq!(app.logout(Some(&old)).await.status, 204);

    // The app's clock has not moved: the new login is issued in the logout's second.
    assert_admitted(&app, &app.login("ann"), "signed in again at once").await;
    assert_revoked(&app, &old, "the login presented before the logout").await;
}

/// Without the memo (`auth.verified_tokens_per_user = 0`) the service still knows which logins
/// of the logout's second it saw.
#[actix_web::test]
async fn every_login_seen_before_the_logout_stays_refused_even_unremembered() {
    let app =
        spawn_app_with(Options::default().with(|s| s.auth.verified_tokens_per_user = 0)).await;
    app.seam.add_connected_account(AccountSpec::owned_by("ben"));
    let (tab, other_tab) = (app.login("ben"), app.login("ben"));
    assert_admitted(&app, &tab, "first tab").await;
    assert_admitted(&app, &other_tab, "second tab").await;
    assert_eq!(app.logout(Some(&tab)).await.status, 204);

    assert_revoked(&app, &other_tab, "the other tab's login, seen before").await;
    assert_revoked(&app, &tab, "the logged-out login").await;
    assert_admitted(&app, &app.login("ben"), "a new sign-in").await;
}

#[actix_web::test]
async fn after_a_back_channel_logout_a_new_session_signs_in_at_once_and_the_ended_one_does_not() {
    let app = spawn_app_with(Options::default().with(|s| s.auth.backchannel_logout = true)).await;
    app.seam.add_connected_account(AccountSpec::owned_by("cat"));
    let old = login_in_session(&app, "cat", Some("sid-1"));
    assert_admitted(&app, &old, "before the logout").await;

    let mut claims = logout_claims(Some("cat"), Some("sid-1"));
    claims["iat"] = json!(app.clock.now().unix_timestamp());
    let reply = app.backchannel_logout(&logout_token(&claims)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    let ended_sid = login_in_session(&app, "cat", Some("sid-1"));
    assert_revoked(&app, &ended_sid, "a login carrying the ended sid").await;
    let no_sid = login_in_session(&app, "cat", None);
    assert_revoked(&app, &no_sid, "a login of that second without a sid").await;
    assert_revoked(&app, &old, "the login presented before the logout").await;
    let new_sid = login_in_session(&app, "cat", Some("sid-2"));
    assert_admitted(&app, &new_sid, "the provider's new session").await;
}

#[actix_web::test]
async fn a_sign_in_right_after_a_logout_on_another_replica_works_there_and_everywhere() {
    let redis = RedisServer::start();
    let first = spawn_app_with(fleet(&redis)).await;
    let second = first.replica().await;
    let third = first.replica().await;
    for app in [&first, &second, &third] {
        joined(app).await;
    }
    // One second for the whole fleet.
    second.clock.set_to(&first.clock);
    third.clock.set_to(&first.clock);
    first
        .seam
        .add_connected_account(AccountSpec::owned_by("dan"));
    // Seen on the first replica only; the logout happens on the second, with another login.
    let old = first.login("dan");
    assert_admitted(&first, &old, "before the logout").await;
    let logging_out = second.login("dan");
    assert_eq!(second.logout(Some(&logging_out)).await.status, 204);

    let new = second.login("dan");
    for app in [&third, &second, &first] {
        assert_revoked(app, &old, "seen before the logout, on another replica").await;
        assert_admitted(app, &new, "signed in again at once").await;
    }
    assert_revoked(&third, &logging_out, "the login that logged out").await;
}
