//! Revocations are never silently lost: every new one is kept for as long as a login it
//! refuses may live, and when the store (`sessions.max_entries`) is full of records still
//! needed, the logout that needs a new one is refused loudly instead of an old one forgotten.

use seam_stand_in::AccountSpec;

use crate::helpers::{
    Options, TestApp, assert_retry_after, logout_claims, logout_token, series, spawn_app_with,
};

const BOUND: u64 = 3;
/// Seconds a record is kept: `auth.max_token_lifetime_secs` plus the default leeway.
const LIFETIME: i64 = 3600;
const LONGEST_LOGIN: i64 = LIFETIME + 30;

async fn signed_in(app: &TestApp, user: &str) -> String {
    app.seam.add_connected_account(AccountSpec::owned_by(user));
    let login = app.login(user);
    let reply = app.handshake_with(&login).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    login
}

#[actix_web::test]
async fn a_full_revocation_store_refuses_a_new_logout_and_forgets_no_old_one() {
    let app = spawn_app_with(Options::default().with(|s| {
        s.sessions.max_entries = BOUND;
        s.auth.max_token_lifetime_secs = LIFETIME as u64;
    }))
    .await;
    let mut ended = vec![];
    for n in 0..BOUND {
        let login = signed_in(&app, &format!("user-{n}")).await;
        assert_eq!(app.logout(Some(&login)).await.status, 204);
        ended.push(login);
    }

    // One past the bound: refused, loudly, and nothing ended.
    let extra = signed_in(&app, "one-too-many").await;
    let refused = app.logout(Some(&extra)).await;
    assert_eq!((refused.status, refused.code()), (503, "revocations_full"));
    assert_retry_after(refused.header("retry-after"));
    let metrics = app.metrics().await;
    let full = r#"seam_bff_revocations_full_total{kind="user"}"#;
    assert_eq!(series(&metrics, full), 1.0, "{metrics}");

    // The oldest logout and the newest still hold.
    for login in &ended {
        let reply = app.handshake_with(login).await;
        assert_eq!((reply.status, reply.code()), (401, "login_revoked"));
    }

    // Once the records outlive every login they refuse, there is room again.
    app.clock
        .advance(time::Duration::seconds(LONGEST_LOGIN + 1));
    let again = signed_in(&app, "one-too-many").await;
    assert_eq!(app.logout(Some(&again)).await.status, 204);
    let reply = app.handshake_with(&again).await;
    assert_eq!((reply.status, reply.code()), (401, "login_revoked"));
}

/// A back-channel logout that cannot be recorded is refused (§2.8: 400) and its `jti` not
/// kept, so that the provider may send it again.
#[actix_web::test]
async fn a_back_channel_logout_the_full_store_cannot_record_is_refused_loudly() {
    let app = spawn_app_with(Options::default().with(|s| {
        s.sessions.max_entries = 1;
        s.auth.backchannel_logout = true;
    }))
    .await;
    let first = logout_token(&logout_claims(None, Some("sid-1")));
    assert_eq!(app.backchannel_logout(&first).await.status, 200);

    let second = logout_token(&logout_claims(None, Some("sid-2")));
    let refused = app.backchannel_logout(&second).await;
    assert_eq!((refused.status, refused.code()), (400, "revocations_full"));
    let metrics = app.metrics().await;
    let full = r#"seam_bff_revocations_full_total{kind="logout_token"}"#;
    assert_eq!(series(&metrics, full), 1.0, "{metrics}");
    // The first is still known: a replay, not a second application.
    let replay = app.backchannel_logout(&first).await;
    assert_eq!(
        (replay.status, replay.code()),
        (400, "invalid_logout_token")
    );
}
