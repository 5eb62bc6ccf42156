//! Logout and the operators' admin API on the management listener: Seam's list, get and
//! delete of client sessions and revoking a user, with tokens redacted.

use seam_stand_in::AccountSpec;
use serde_json::Value;

use crate::helpers::{
    ADMIN_TOKEN, Options, TestApp, admin, claims, sign, spawn_app, spawn_app_with,
};

async fn admin_app() -> TestApp {
    spawn_app_with(Options::default().with(|s| s.admin.token = Some(ADMIN_TOKEN.into()))).await
}

#[actix_web::test]
async fn logout_revokes_the_users_session_everywhere_and_evicts_it() {
    let app = spawn_app().await;
    app.seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    let before = app.handshake("alice").await;
    assert_eq!(app.devices_status(before.token()).await, 200);

    let logout = app.logout(Some(&app.login("alice"))).await;

    assert_eq!(logout.status, 204);
    assert_eq!(app.seam.calls("/client_sessions/delete"), 1);
    assert_eq!(
        app.devices_status(before.token()).await,
        401,
        "old token dead"
    );
    let after = app.handshake_with(&app.later_login("alice")).await;
    assert_eq!(after.status, 200);
    assert_ne!(
        after.token(),
        before.token(),
        "the cache no longer serves the old token"
    );
    assert_eq!(app.devices_status(after.token()).await, 200);

    let anonymous = app.logout(None).await;
    assert_eq!(anonymous.status, 401);
}

/// A logout ends the login it was sent with, and every other login of the user issued until
/// then: a stolen copy of any of them no longer gets a session. A sign-in after the logout
/// works at once.
#[actix_web::test]
async fn a_logout_ends_the_users_logins_not_just_their_session() {
    let app = spawn_app().await;
    app.seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    let phone = app.login("alice");
    let laptop = app.login("alice");
    let mut no_iat = claims("alice");
    no_iat.as_object_mut().expect("object").remove("iat");
    let no_iat = sign(&no_iat);
    for token in [&phone, &laptop, &no_iat] {
        assert_eq!(app.handshake_with(token).await.status, 200);
    }
    let old = app.handshake_with(&phone).await;

    assert_eq!(app.logout(Some(&phone)).await.status, 204);
    let calls = app.seam.total_calls();
    for token in [&phone, &laptop, &no_iat] {
        let ended = app.handshake_with(token).await;
        assert_eq!((ended.status, ended.code()), (401, "login_revoked"));
        assert_eq!(
            ended.header("www-authenticate"),
            Some(r#"Bearer realm="seam-bff", error="invalid_token""#)
        );
        assert_eq!(
            app.logout(Some(token)).await.status,
            401,
            "nor can it log out"
        );
    }
    assert_eq!(app.seam.total_calls(), calls, "refused without asking Seam");
    assert_eq!(
        app.devices_status(old.token()).await,
        401,
        "the old token is dead"
    );

    let fresh = app.handshake_with(&app.later_login("alice")).await;
    assert_eq!(fresh.status, 200);
    assert_ne!(fresh.token(), old.token());
    assert_eq!(app.devices_status(fresh.token()).await, 200);
    assert_eq!(
        app.handshake("bob").await.status,
        200,
        "other users are untouched"
    );
}

/// The admin API's revoke ends the user's logins as a logout does, cached user or not.
#[actix_web::test]
async fn an_admin_revoke_ends_the_users_logins() {
    let app = admin_app().await;
    let carol = app.login("carol");
    assert_eq!(app.handshake_with(&carol).await.status, 200);
    let dave = app.login("dave");
    let reply = admin(&app, "POST", "/admin/users/dave/revoke", Some(ADMIN_TOKEN)).await;
    assert_eq!(reply.status, 200, "dave was never seen here");
    let reply = admin(&app, "POST", "/admin/users/carol/revoke", Some(ADMIN_TOKEN)).await;
    assert_eq!(reply.status, 200);
    for token in [&carol, &dave] {
        let ended = app.handshake_with(token).await;
        assert_eq!((ended.status, ended.code()), (401, "login_revoked"));
    }
    assert_eq!(
        app.handshake_with(&app.later_login("carol")).await.status,
        200
    );
}

#[actix_web::test]
async fn without_an_admin_token_there_is_no_admin_api() {
    let app = spawn_app().await;
    let reply = admin(&app, "GET", "/admin/client-sessions", Some(ADMIN_TOKEN)).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.code(), "not_found");
}

#[actix_web::test]
async fn the_admin_api_needs_its_token_and_lives_only_on_the_management_listener() {
    let app = admin_app().await;
    for token in [None, Some("wrong"), Some(&ADMIN_TOKEN[1..])] {
        let reply = admin(&app, "GET", "/admin/client-sessions", token).await;
        assert_eq!(reply.status, 401, "{token:?}");
        assert_eq!(reply.code(), "admin_unauthorized");
    }
    let public = app
        .http
        .get(format!("{}/admin/client-sessions", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("sent");
    assert_eq!(public.status().as_u16(), 404);
    assert_eq!(app.seam.total_calls(), 0);
}

#[actix_web::test]
async fn operators_list_get_and_delete_sessions_without_seeing_tokens() {
    let app = admin_app().await;
    let alice = app.handshake("alice").await;
    let bob = app.handshake("bob").await;
    let tokens = [alice.token().to_owned(), bob.token().to_owned()];

    let all = admin(&app, "GET", "/admin/client-sessions", Some(ADMIN_TOKEN)).await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(
        all.body["client_sessions"].as_array().map(Vec::len),
        Some(2)
    );
    let only_bob = admin(
        &app,
        "GET",
        "/admin/client-sessions?user_identifier_key=bob",
        Some(ADMIN_TOKEN),
    )
    .await;
    let listed = only_bob.body["client_sessions"].as_array().expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["user_identifier_key"], "bob");
    // The session's whole model: its webviews and the user identity it is for, if any.
    assert_eq!(listed[0]["connect_webview_ids"], serde_json::json!([]));
    assert!(listed[0]["user_identity_id"].is_null(), "{}", listed[0]);
    let hint = listed[0]["token_hint"].as_str().expect("hint");
    assert!(hint.starts_with("seam_cst…") && tokens[1].ends_with(&hint[hint.len() - 4..]));

    let id = alice.body["client_session_id"].as_str().expect("id");
    let one = admin(
        &app,
        "GET",
        &format!("/admin/client-sessions/{id}"),
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["client_session"]["client_session_id"], id);
    for reply in [&all, &only_bob, &one] {
        for token in &tokens {
            assert!(
                !reply.text.contains(token.as_str()),
                "a token reached an operator"
            );
        }
        assert!(!reply.text.contains(&app.seam.api_key()));
    }

    let deleted = admin(
        &app,
        "DELETE",
        &format!("/admin/client-sessions/{id}"),
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(app.devices_status(alice.token()).await, 401);
    let again = app.handshake("alice").await;
    assert_ne!(again.token(), alice.token(), "evicted from the cache too");

    let missing = admin(
        &app,
        "GET",
        "/admin/client-sessions/no-such-id",
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.code(), "client_session_not_found");
    let missing = admin(
        &app,
        "DELETE",
        "/admin/client-sessions/no-such-id",
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(missing.status, 404);
}

#[actix_web::test]
async fn revoking_a_user_ends_every_session_and_the_cached_one() {
    let app = admin_app().await;
    let before = app.handshake("carol").await;
    let reply = admin(&app, "POST", "/admin/users/carol/revoke", Some(ADMIN_TOKEN)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["revoked"], 1);
    assert_eq!(app.devices_status(before.token()).await, 401);
    let after = app.handshake_with(&app.later_login("carol")).await;
    assert_ne!(after.token(), before.token());
}

#[actix_web::test]
async fn hmac_derived_keys_hide_user_ids_from_seam() {
    let app = spawn_app_with(Options::default().with(|s| {
        s.identity.key_hmac_secret = Some("hmac-secret-0123456789abcdef-0123".into());
        s.identity.key_prefix = "app:".into();
        s.admin.token = Some(ADMIN_TOKEN.into());
    }))
    .await;
    let reply = app.handshake("dave").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(app.seam.session_for("dave").is_none());
    assert!(app.seam.session_for("app:dave").is_none());
    let sessions = app.seam.sessions();
    let key = sessions[0].user_identifier_key.clone().expect("key");
    assert!(key.starts_with("app:") && key.len() == 4 + 64, "{key}");
    // The same user always maps to the same key: the second handshake is a cache hit and a
    // revoke by user id finds the session.
    assert_eq!(app.handshake("dave").await.token(), reply.token());
    let revoked = admin(&app, "POST", "/admin/users/dave/revoke", Some(ADMIN_TOKEN)).await;
    assert_eq!(revoked.body["revoked"], 1);
    assert_eq!(revoked.body["user_identifier_key"], Value::String(key));
}

/// A logout costs the same however often the user signed in and out before: one list, and one
/// delete of the live session (none when there is none). Ended sessions are deleted, so they
/// do not pile up at Seam for the next logout to end again.
#[actix_web::test]
async fn a_logout_costs_the_same_whatever_the_users_history() {
    let app = spawn_app().await;
    let calls = |app: &TestApp| {
        (
            app.seam.calls("/client_sessions/list"),
            app.seam.calls("/client_sessions/delete"),
        )
    };
    for _ in 0..8 {
        let login = app.later_login("alice");
        assert_eq!(app.handshake_with(&login).await.status, 200);
        assert_eq!(app.logout(Some(&login)).await.status, 204);
    }
    assert!(app.seam.sessions().is_empty(), "nothing left at Seam");
    let login = app.later_login("alice");
    assert_eq!(app.handshake_with(&login).await.status, 200);
    let before = calls(&app);
    assert_eq!(app.logout(Some(&login)).await.status, 204);
    assert_eq!(calls(&app), (before.0 + 1, before.1 + 1));

    let before = calls(&app);
    assert_eq!(
        app.logout(Some(&app.later_login("alice"))).await.status,
        204
    );
    assert_eq!(
        calls(&app),
        (before.0 + 1, before.1),
        "no live session: one list call"
    );
}
