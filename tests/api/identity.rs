//! A user is an issuer's user (OIDC Core §5.7): with two trusted issuers, the same `sub` at
//! each is two users, with their own Seam sessions, devices, logouts, rate limits and admin
//! revokes.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use seam_bff::config::{AccountSourceKind, IssuerSettings};
use seam_stand_in::AccountSpec;
use serde_json::json;

use crate::helpers::{
    ADMIN_TOKEN, AUDIENCE, Options, TestApp, admin, assert_retry_after, claims, login,
    spawn_app_with,
};

const OTHER_ISSUER: &str = "https://other-login.test";
const OTHER_SECRET: &str = "other-secret-0123456789abcdef-0123456789";

/// The test issuer (key prefix "", as `identity.key_prefix`) and a second one ("other:").
fn two_issuers() -> Options {
    Options::default().with(|s| {
        s.auth.issuers.push(IssuerSettings {
            issuer: OTHER_ISSUER.into(),
            audience: Some(AUDIENCE.into()),
            algorithms: vec!["HS256".into()],
            hs256_secret: Some(OTHER_SECRET.into()),
            hs256_secret_file: None,
            public_key_file: None,
            jwks_url: None,
            discovery: false,
            logout_audience: None,
            key_prefix: Some("other:".into()),
            accounts_metadata_key: None,
            accounts_static: None,
        });
    })
}

/// The second issuer's entry, added by `two_issuers`.
fn other_issuer(settings: &mut seam_bff::config::Settings) -> &mut IssuerSettings {
    settings.auth.issuers.last_mut().expect("two_issuers")
}

/// A fresh login of `user` at the second issuer.
fn other_login(user: &str) -> String {
    let mut claims = claims(user);
    claims["iss"] = json!(OTHER_ISSUER);
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(OTHER_SECRET.as_bytes()),
    )
    .expect("token encodes")
}

/// Both issuers' "alice", each with one account and one device of her own.
fn two_alices(app: &TestApp) {
    for (key, device) in [("alice", "front door"), ("other:alice", "back door")] {
        let account = app.seam.add_connected_account(AccountSpec::owned_by(key));
        app.seam.add_device(&account, device);
    }
}

#[actix_web::test]
async fn the_same_sub_at_two_issuers_is_two_users() {
    let app = spawn_app_with(two_issuers()).await;
    two_alices(&app);
    let first = app.handshake_with(&login("alice")).await;
    let other = app.handshake_with(&other_login("alice")).await;
    assert_eq!((first.status, other.status), (200, 200), "{}", other.text);
    assert_ne!(first.token(), other.token());
    assert_eq!(app.devices_seen_with(first.token()).await, ["front door"]);
    assert_eq!(app.devices_seen_with(other.token()).await, ["back door"]);
    let at_seam = app
        .seam
        .session_for("other:alice")
        .expect("a session of her own");
    assert_eq!(at_seam.token, other.token());
    assert_eq!(
        app.seam.session_for("alice").expect("session").token,
        first.token()
    );
}

#[actix_web::test]
async fn a_logout_at_one_issuer_leaves_the_other_issuers_user_signed_in() {
    let app = spawn_app_with(two_issuers()).await;
    two_alices(&app);
    let (first_login, other_login) = (app.login("alice"), other_login("alice"));
    let first = app.handshake_with(&first_login).await;
    let other = app.handshake_with(&other_login).await;

    assert_eq!(app.logout(Some(&other_login)).await.status, 204);

    let ended = app.handshake_with(&other_login).await;
    assert_eq!((ended.status, ended.code()), (401, "login_revoked"));
    assert_eq!(app.devices_status(other.token()).await, 401);
    let again = app.handshake_with(&first_login).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.token(), first.token());
    assert_eq!(app.devices_status(first.token()).await, 200);
}

#[actix_web::test]
async fn one_issuers_user_over_the_limit_does_not_limit_the_other() {
    let app = spawn_app_with(two_issuers().with(|s| {
        s.rate_limit.enabled = true;
        s.rate_limit.user_per_minute = 1;
        s.rate_limit.user_burst = 2;
        s.rate_limit.client_burst = 100;
        // Every handshake asks Seam for the accounts, so every one counts.
        s.accounts.cache_ttl_secs = 0;
    }))
    .await;
    for _ in 0..2 {
        assert_eq!(app.handshake_with(&other_login("alice")).await.status, 200);
    }
    let limited = app.handshake_with(&other_login("alice")).await;
    assert_eq!((limited.status, limited.code()), (429, "rate_limited"));
    assert_retry_after(limited.header("retry-after"));
    let first = app.handshake_with(&login("alice")).await;
    assert_eq!(first.status, 200, "{}", first.text);
}

/// The first issuer's "other:alice" would be the second issuer's "alice" at Seam and in every
/// cache: refused, without a Seam call.
#[actix_web::test]
async fn a_user_id_that_spells_another_issuers_user_is_refused() {
    let app = spawn_app_with(two_issuers()).await;
    two_alices(&app);
    let other = app.handshake_with(&other_login("alice")).await;
    let calls = app.seam.total_calls();
    let spelled = app.handshake_with(&login("other:alice")).await;
    assert_eq!((spelled.status, spelled.code()), (401, "invalid_token"));
    assert_eq!(app.seam.total_calls(), calls);
    assert_eq!(app.devices_status(other.token()).await, 200);
}

#[actix_web::test]
async fn the_admin_api_revokes_the_user_of_the_issuer_it_names() {
    let app =
        spawn_app_with(two_issuers().with(|s| s.admin.token = Some(ADMIN_TOKEN.into()))).await;
    two_alices(&app);
    let first = app.handshake_with(&app.login("alice")).await;
    let other = app.handshake_with(&other_login("alice")).await;
    let revoke = |query: &str| format!("/admin/users/alice/revoke{query}");

    let unnamed = admin(&app, "POST", &revoke(""), Some(ADMIN_TOKEN)).await;
    assert_eq!((unnamed.status, unnamed.code()), (400, "issuer_required"));
    let nobody = revoke("?issuer=https://nobody.test");
    let unknown = admin(&app, "POST", &nobody, Some(ADMIN_TOKEN)).await;
    assert_eq!((unknown.status, unknown.code()), (400, "unknown_issuer"));
    assert_eq!(app.seam.calls("/client_sessions/delete"), 0);

    let named = format!("?issuer={OTHER_ISSUER}");
    let revoked = admin(&app, "POST", &revoke(&named), Some(ADMIN_TOKEN)).await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_eq!(revoked.body["user_identifier_key"], "other:alice");
    assert_eq!(revoked.body["revoked"], 1);
    assert_eq!(app.devices_status(other.token()).await, 401);
    assert_eq!(app.devices_status(first.token()).await, 200);
}

/// The account sources that match user ids (`seam_metadata`, `static`) match each issuer's
/// users by that issuer's own metadata key or table.
#[actix_web::test]
async fn each_issuers_users_have_the_accounts_their_issuer_lists() {
    let seam = seam_stand_in::StandIn::start().await;
    let by_metadata =
        seam.add_connected_account(AccountSpec::unowned().with_metadata("uid", "alice"));
    let by_other_metadata =
        seam.add_connected_account(AccountSpec::unowned().with_metadata("other_uid", "alice"));
    let app = crate::helpers::spawn_app_against(
        seam,
        two_issuers().with(|s| {
            other_issuer(s).accounts_metadata_key = Some("other_uid".into());
            s.accounts.source = AccountSourceKind::SeamMetadata;
            s.accounts.metadata_key = Some("uid".into());
        }),
    )
    .await;
    let first = app.handshake_with(&login("alice")).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.account_ids(), [by_metadata]);
    let other = app.handshake_with(&other_login("alice")).await;
    assert_eq!(other.account_ids(), [by_other_metadata]);

    let seam = seam_stand_in::StandIn::start().await;
    let listed = seam.add_connected_account(AccountSpec::unowned());
    let listed_by_other = seam.add_connected_account(AccountSpec::unowned());
    let alices = |account: &str| HashMap::from([("alice".to_owned(), vec![account.to_owned()])]);
    let (first_table, other_table) = (alices(&listed), alices(&listed_by_other));
    let app = crate::helpers::spawn_app_against(
        seam,
        two_issuers().with(move |s| {
            other_issuer(s).accounts_static = Some(other_table.clone());
            s.accounts.static_accounts = first_table.clone();
            s.accounts.source = AccountSourceKind::Static;
        }),
    )
    .await;
    let first = app.handshake_with(&login("alice")).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.account_ids(), [listed]);
    let other = app.handshake_with(&other_login("alice")).await;
    assert_eq!(other.account_ids(), [listed_by_other]);
}
