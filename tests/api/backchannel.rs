//! OpenID Connect Back-Channel Logout 1.0 (`POST /v1/backchannel-logout`, with
//! `auth.backchannel_logout`): a verified logout token ends the user's logins (with `sub`) or
//! the logins of one identity-provider session (with `sid`); any other token is `400` and
//! changes nothing.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use seam_stand_in::{AccountSpec, Fault};
use serde_json::{Value, json};

use crate::helpers::{
    Options, TestApp, claims, logout_claims, logout_token, now, sign, spawn_app, spawn_app_with,
};

async fn backchannel_app() -> TestApp {
    spawn_app_with(Options::default().with(|s| s.auth.backchannel_logout = true)).await
}

/// A login of `user` carrying the identity provider's session `sid`.
fn login_in_session(user: &str, sid: &str) -> String {
    let mut claims = claims(user);
    claims["sid"] = json!(sid);
    sign(&claims)
}

#[actix_web::test]
async fn a_logout_token_with_sub_ends_the_users_logins_and_seam_session() {
    let app = backchannel_app().await;
    app.seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    let old = app.login("alice");
    let before = app.handshake_with(&old).await;
    assert_eq!(before.status, 200, "{}", before.text);

    let reply = app
        .backchannel_logout(&logout_token(&logout_claims(Some("alice"), None)))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert!(reply.text.is_empty());

    let calls = app.seam.total_calls();
    let ended = app.handshake_with(&old).await;
    assert_eq!((ended.status, ended.code()), (401, "login_revoked"));
    assert_eq!(app.seam.total_calls(), calls, "refused without asking Seam");
    assert_eq!(
        app.devices_status(before.token()).await,
        401,
        "Seam token revoked"
    );
    let fresh = app.handshake_with(&app.later_login("alice")).await;
    assert_eq!(fresh.status, 200, "{}", fresh.text);
    assert_ne!(fresh.token(), before.token());
    assert_eq!(app.devices_status(fresh.token()).await, 200);
}

#[actix_web::test]
async fn a_logout_token_with_only_sid_ends_the_logins_of_that_session() {
    let app = backchannel_app().await;
    let (phone, laptop) = (
        login_in_session("bob", "sid-phone"),
        login_in_session("bob", "sid-laptop"),
    );
    for token in [&phone, &laptop] {
        assert_eq!(app.handshake_with(token).await.status, 200);
    }

    let reply = app
        .backchannel_logout(&logout_token(&logout_claims(None, Some("sid-phone"))))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    let ended = app.handshake_with(&phone).await;
    assert_eq!(
        (ended.status, ended.code()),
        (401, "login_revoked"),
        "remembered, then forgotten"
    );
    let again = app
        .handshake_with(&login_in_session("bob", "sid-phone"))
        .await;
    assert_eq!(
        (again.status, again.code()),
        (401, "login_revoked"),
        "any login of that session"
    );
    assert_eq!(
        app.handshake_with(&laptop).await.status,
        200,
        "another session of bob's"
    );
    assert_eq!(
        app.seam.calls("/client_sessions/delete"),
        0,
        "bob's Seam session stays"
    );
}

/// Each refusal is 400 with the envelope and leaves alice signed in, with the same session.
#[actix_web::test]
async fn bad_logout_tokens_are_refused_and_change_nothing() {
    let app = backchannel_app().await;
    let alice = app.login("alice");
    let before = app.handshake_with(&alice).await;
    let replayed = logout_token(&logout_claims(Some("bob"), None));
    assert_eq!(app.backchannel_logout(&replayed).await.status, 200);

    let valid = || logout_claims(Some("alice"), None);
    let changed = |change: fn(&mut Value)| {
        let mut claims = valid();
        change(&mut claims);
        logout_token(&claims)
    };
    let without = |claim: &str| {
        let mut claims = valid();
        claims.as_object_mut().expect("object").remove(claim);
        logout_token(&claims)
    };
    let signed = |typ: &str, secret: &[u8]| {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(typ.into());
        encode(&header, &valid(), &EncodingKey::from_secret(secret)).expect("encodes")
    };
    let cases = [
        ("replayed jti", replayed),
        ("no events", without("events")),
        (
            "another event",
            changed(|c| c["events"] = json!({"https://example.com/other": {}})),
        ),
        ("a nonce", changed(|c| c["nonce"] = json!("n-0S6_WzA2Mj"))),
        ("wrong aud", changed(|c| c["aud"] = json!("another-app"))),
        (
            "untrusted iss",
            changed(|c| c["iss"] = json!("https://evil.test")),
        ),
        (
            "expired",
            changed(|c| {
                c["iat"] = json!(now() - 600);
                c["exp"] = json!(now() - 300);
            }),
        ),
        ("no jti", without("jti")),
        ("no iat", without("iat")),
        ("neither sub nor sid", without("sub")),
        (
            "wrong signature",
            signed("logout+jwt", b"another-secret-0123456789abcdef-0123456789"),
        ),
        ("typ JWT", signed("JWT", crate::helpers::SECRET.as_bytes())),
        ("a login", app.login("alice")),
    ];
    for (case, token) in cases {
        let reply = app.backchannel_logout(&token).await;
        assert_eq!(
            (reply.status, reply.code()),
            (400, "invalid_logout_token"),
            "{case}: {}",
            reply.text
        );
        assert_eq!(reply.header("cache-control"), Some("no-store"), "{case}");
        assert!(
            !reply.text.contains(&token),
            "{case}: the token is not echoed"
        );
    }
    let no_token = app
        .http
        .post(format!("{}/v1/backchannel-logout", app.address))
        .send_form(&[("token", "x")])
        .await
        .expect("sent");
    let no_token = crate::helpers::read(no_token).await;
    assert_eq!((no_token.status, no_token.code()), (400, "bad_request"));

    let still = app.handshake_with(&alice).await;
    assert_eq!(still.status, 200, "{}", still.text);
    assert_eq!(still.token(), before.token());
    assert_eq!(app.seam.calls("/client_sessions/delete"), 0);
}

/// `typ` is optional (§2.4 only recommends it); when present it must be `logout+jwt`.
#[actix_web::test]
async fn an_untyped_logout_token_is_accepted() {
    let app = backchannel_app().await;
    let carol = app.login("carol");
    assert_eq!(app.handshake_with(&carol).await.status, 200);
    let mut untyped = Header::new(Algorithm::HS256);
    untyped.typ = None;
    let claims = logout_claims(Some("carol"), None);
    let key = EncodingKey::from_secret(crate::helpers::SECRET.as_bytes());
    let token = encode(&untyped, &claims, &key).expect("encodes");
    assert_eq!(app.backchannel_logout(&token).await.status, 200);
    assert_eq!(app.handshake_with(&carol).await.code(), "login_revoked");
}

/// §2.4: a logout token must never pass for a login, typed as one or not.
#[actix_web::test]
async fn a_logout_token_is_never_a_login() {
    let app = backchannel_app().await;
    let typed = app
        .handshake_with(&logout_token(&logout_claims(Some("alice"), None)))
        .await;
    assert_eq!((typed.status, typed.code()), (401, "invalid_token"));
    let typed_as_jwt = app
        .handshake_with(&sign(&logout_claims(Some("alice"), None)))
        .await;
    assert_eq!(
        (typed_as_jwt.status, typed_as_jwt.code()),
        (401, "invalid_token")
    );
}

/// When Seam cannot revoke the session, the logins are ended all the same and the provider
/// may send the token again, which then completes.
#[actix_web::test]
async fn a_logout_seam_could_not_complete_can_be_sent_again() {
    let app = backchannel_app().await;
    let dave = app.login("dave");
    let before = app.handshake_with(&dave).await;
    let token = logout_token(&logout_claims(Some("dave"), None));
    app.seam
        .inject("/client_sessions/list", Fault::Status(500), 1);
    let failed = app.backchannel_logout(&token).await;
    assert_eq!((failed.status, failed.code()), (400, "logout_incomplete"));
    assert_eq!(app.handshake_with(&dave).await.code(), "login_revoked");

    assert_eq!(app.backchannel_logout(&token).await.status, 200);
    assert_eq!(app.devices_status(before.token()).await, 401);
    assert_eq!(
        app.backchannel_logout(&token).await.code(),
        "invalid_logout_token"
    );
}

#[actix_web::test]
async fn without_the_setting_there_is_no_back_channel_logout() {
    let app = spawn_app().await;
    let reply = app
        .backchannel_logout(&logout_token(&logout_claims(Some("alice"), None)))
        .await;
    assert_eq!((reply.status, reply.code()), (404, "not_found"));
}
