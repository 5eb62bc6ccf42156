//! Session lifetimes: renewed once inside `min_remaining` of `expires_at`, never handed out
//! with less left than that.

use seam_stand_in::AccountSpec;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::helpers::{MIN_REMAINING_SECS, Reply, TTL_SECS, asked_expiry, spawn_app};

const GET_OR_CREATE: &str = "/client_sessions/get_or_create";

fn instant(reply: &Reply, field: &str) -> OffsetDateTime {
    OffsetDateTime::parse(reply.body[field].as_str().expect(field), &Rfc3339).expect("RFC 3339")
}

#[actix_web::test]
async fn refresh_after_comes_min_remaining_before_expiry() {
    let app = spawn_app().await;
    let reply = app.handshake("alice").await;
    let expires_at = instant(&reply, "expires_at");
    let refresh_after = instant(&reply, "refresh_after");
    assert_eq!(
        expires_at - refresh_after,
        Duration::seconds(MIN_REMAINING_SECS)
    );
    assert_eq!(expires_at, asked_expiry(&app), "ttl_secs from now");
}

#[actix_web::test]
async fn a_session_is_renewed_once_inside_min_remaining() {
    let app = spawn_app().await;
    app.seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    let first = app.handshake("alice").await;
    let first_expiry = instant(&first, "expires_at");

    // Just before refresh_after: still served from the cache.
    app.clock
        .advance(Duration::seconds(TTL_SECS - MIN_REMAINING_SECS - 5));
    let cached = app.handshake("alice").await;
    assert_eq!(cached.body, first.body);
    assert_eq!(app.seam.calls(GET_OR_CREATE), 1);

    // Past it: renewed through get_or_create, which extends the user's one session.
    app.clock.advance(Duration::seconds(10));
    let renewed = app.handshake("alice").await;
    assert_eq!(renewed.status, 200, "{}", renewed.text);
    assert_eq!(app.seam.calls(GET_OR_CREATE), 2);
    let expiry = asked_expiry(&app);
    assert_eq!(
        instant(&renewed, "expires_at"),
        expiry,
        "ttl_secs from the renewal"
    );
    assert_eq!(
        expiry - first_expiry,
        Duration::seconds(TTL_SECS - MIN_REMAINING_SECS + 5),
        "later by the time that passed"
    );
    assert_eq!(
        instant(&renewed, "refresh_after"),
        expiry - Duration::seconds(MIN_REMAINING_SECS)
    );
    let at_seam = app.seam.session_for("alice").expect("session");
    assert_eq!(renewed.token(), at_seam.token);
}

#[actix_web::test]
async fn a_token_with_less_than_min_remaining_left_is_never_returned() {
    let app = spawn_app().await;
    // Seam grants less than asked: shorter than min_remaining.
    app.seam
        .set_max_session_lifetime(Some(std::time::Duration::from_secs(
            (MIN_REMAINING_SECS - 60) as u64,
        )));

    let reply = app.handshake("alice").await;

    assert_eq!(reply.status, 502, "{}", reply.text);
    assert_eq!(reply.code(), "seam_error");
    assert!(!reply.text.contains("seam_cst"));
    // The short session was replaced once, in case Seam had handed back a stale one.
    assert_eq!(app.seam.calls("/client_sessions/delete"), 1);
    assert_eq!(app.seam.calls("/client_sessions/get_or_create"), 2);

    // Once Seam grants enough again, the next handshake succeeds: errors are not cached.
    app.seam.set_max_session_lifetime(None);
    let recovered = app.handshake("alice").await;
    assert_eq!(recovered.status, 200, "{}", recovered.text);
    assert_eq!(
        instant(&recovered, "expires_at"),
        asked_expiry(&app),
        "the whole ttl_secs, more than min_remaining"
    );
}

/// A login as large as real identity providers' (roles and permissions make 4 KiB) is
/// remembered as a small one is: sent again, it costs no second signature check.
#[actix_web::test]
async fn a_large_login_is_remembered_too() {
    let app = spawn_app().await;
    let mut claims = crate::helpers::claims("alice");
    let roles: Vec<String> = (0..120)
        .map(|i| format!("app-role-{i:04}-read-write"))
        .collect();
    claims["realm_access"] = serde_json::json!({ "roles": roles });
    let token = crate::helpers::sign(&claims);
    assert!(token.len() > 4096, "a 4 KiB login: {}", token.len());
    let first = app.handshake_with(&token).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let again = app.handshake_with(&token).await;
    assert_eq!(again.body, first.body);
    let text = app.metrics().await;
    assert!(
        text.contains(r#"seam_bff_cache_lookups_total{cache="login",outcome="miss"} 1"#)
            && text.contains(r#"seam_bff_cache_lookups_total{cache="login",outcome="hit"} 1"#),
        "the repeat was recognised without a second signature check: {text}"
    );
}

#[actix_web::test]
async fn a_repeated_token_is_answered_from_memory_until_its_session_is_retired() {
    let app = spawn_app().await;
    app.seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    // One login, sent again and again (the same token text each time), as a browser does.
    let token = app.login("alice");
    let first = app.handshake_with(&token).await;
    let calls = app.seam.total_calls();
    let again = app.handshake_with(&token).await;
    assert_eq!(again.body, first.body);
    assert_eq!(app.seam.total_calls(), calls);
    let text = app.metrics().await;
    assert!(
        text.contains(r#"seam_bff_cache_lookups_total{cache="login",outcome="miss"} 1"#)
            && text.contains(r#"seam_bff_cache_lookups_total{cache="login",outcome="hit"} 1"#),
        "the repeat was recognised without a second signature check"
    );

    // Logout ends the login itself: the same token is refused, at no Seam call, and a login
    // issued after it gets a new session.
    let logout = app.logout(Some(&token)).await;
    assert_eq!(logout.status, 204);
    let calls = app.seam.total_calls();
    let ended = app.handshake_with(&token).await;
    assert_eq!((ended.status, ended.code()), (401, "login_revoked"));
    assert_eq!(app.seam.total_calls(), calls);
    let token = app.later_login("alice");
    let after = app.handshake_with(&token).await;
    assert_eq!(after.status, 200);
    assert_ne!(after.token(), first.token());

    // Past the account window the memo steps aside and the accounts are looked at again.
    let lists = app.seam.calls("/connected_accounts/list");
    app.clock
        .advance(Duration::seconds(crate::helpers::ACCOUNT_TTL_SECS));
    app.handshake_with(&token).await;
    assert_eq!(app.seam.calls("/connected_accounts/list"), lists + 1);
}
