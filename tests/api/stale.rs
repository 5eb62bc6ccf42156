//! Stale-if-error for sessions (RFC 5861's idea): a session due for renewal is still handed out
//! while Seam fails for a reason of its own, as long as it has
//! `sessions.stale_min_remaining_secs` (60 s by default) left at Seam, with a `refresh_after` a
//! few seconds ahead; once Seam is back the next handshake renews it. Never a session that must
//! not be handed out: after a logout or a revoke, when the user's accounts changed, or when Seam
//! refused the API key.

use futures_util::future::join_all;
use seam_bff::clock::Clock;
use seam_stand_in::{AccountSpec, Fault};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::helpers::{
    ADMIN_TOKEN, MIN_REMAINING_SECS, Options, Reply, TTL_SECS, TestApp, admin, asked_expiry,
    claims, series, sign, spawn_app_with,
};

/// The account lookups serve for the whole test, so that only the session is due.
fn long_account_window() -> Options {
    Options::default().with(|s| s.accounts.cache_ttl_secs = 7200)
}

/// Alice, with one account, signed in once: the app, her login (sent again, as a browser
/// does) and the first answer.
async fn alice_signed_in(options: Options) -> (TestApp, String, Reply) {
    let app = spawn_app_with(options).await;
    app.seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    let token = lasting_login(&app, "alice");
    let first = app.handshake_with(&token).await;
    assert_eq!(first.status, 200, "{}", first.text);
    (app, token, first)
}

/// A login issued on the app's clock and good for two hours: longer than any move of the clock
/// here (the service judges its `exp` by that clock), so that the same token can be sent again
/// after the session is due, as a browser whose login lasts does.
fn lasting_login(app: &TestApp, user: &str) -> String {
    let now = app.clock.now().unix_timestamp();
    let mut claims = claims(user);
    claims["iat"] = json!(now);
    claims["exp"] = json!(now + 7200);
    sign(&claims)
}

/// A minute past the session's `refresh_after` (it has 540 s left at Seam).
fn past_refresh_after(app: &TestApp) {
    app.clock
        .advance(Duration::seconds(TTL_SECS - MIN_REMAINING_SECS + 60));
}

fn time_of(reply: &Reply, field: &str) -> OffsetDateTime {
    let text = reply.body[field].as_str().expect("a timestamp");
    OffsetDateTime::parse(text, &Rfc3339).expect("RFC 3339")
}

/// Every Seam call the service made, answered or not.
fn upstream_calls(text: &str) -> f64 {
    calls_where(text, |_| true)
}

/// The Seam calls that had no answer (`status="0"`).
fn unanswered_calls(text: &str) -> f64 {
    calls_where(text, |line| line.contains(r#"status="0""#))
}

fn calls_where(text: &str, counted: impl Fn(&str) -> bool) -> f64 {
    text.lines()
        .filter(|line| line.starts_with("seam_bff_upstream_requests_total{") && counted(line))
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

const UNREACHABLE: &str = r#"seam_bff_stale_sessions_served_total{reason="unreachable"}"#;

#[actix_web::test]
async fn a_due_session_is_handed_out_while_seam_is_down_then_renewed_when_it_is_back() {
    let (app, token, first) = alice_signed_in(long_account_window()).await;

    app.seam.go_down().await;
    past_refresh_after(&app);
    let stale = app.handshake_with(&token).await;
    assert_eq!(stale.status, 200, "{}", stale.text);
    assert_eq!(stale.token(), first.token());
    assert_eq!(stale.body["expires_at"], first.body["expires_at"]);
    let now = seam_bff::clock::Clock::now(&*app.clock);
    assert_eq!(
        time_of(&stale, "refresh_after"),
        now + Duration::seconds(15)
    );
    assert_eq!(series(&app.metrics().await, UNREACHABLE), 1.0);
    // The renewal's one attempt went unanswered: its first call, the read of the session, or
    // get_or_create after it when a connection the stand-in had not closed yet answered that.
    let text = app.metrics().await;
    assert_eq!(unanswered_calls(&text), 1.0, "the renewal's one attempt");
    // Until that refresh_after, the user's handshakes are answered from the cache: no call.
    let calls = upstream_calls(&text);
    let again = app.handshake_with(&token).await;
    assert_eq!(again.token(), first.token());
    assert_eq!(upstream_calls(&app.metrics().await), calls);
    assert_eq!(series(&app.metrics().await, UNREACHABLE), 2.0);
    assert_eq!(
        app.get("/readyz").await.status,
        503,
        "stale serving is not readiness"
    );

    app.seam.come_back().await;
    app.clock.advance(Duration::seconds(16));
    let renewed = app.handshake_with(&token).await;
    assert_eq!(renewed.status, 200, "{}", renewed.text);
    assert_eq!(
        renewed.token(),
        first.token(),
        "Seam extends the same session"
    );
    let expiry = asked_expiry(&app);
    assert_eq!(
        time_of(&renewed, "expires_at"),
        expiry,
        "ttl_secs from the renewal"
    );
    assert_eq!(
        time_of(&renewed, "refresh_after"),
        expiry - Duration::seconds(MIN_REMAINING_SECS)
    );
}

#[actix_web::test]
async fn nothing_stale_is_handed_out_with_too_little_left_or_to_a_new_user() {
    let app = spawn_app_with(long_account_window()).await;
    for user in ["alice", "bob"] {
        app.seam.add_connected_account(AccountSpec::owned_by(user));
    }
    let token = lasting_login(&app, "alice");
    assert_eq!(app.handshake_with(&token).await.status, 200);
    app.seam.go_down().await;
    assert_eq!(app.handshake("bob").await.code(), "seam_unavailable");
    // 59 s left at Seam: under the default 60.
    app.clock.advance(Duration::seconds(TTL_SECS - 59));
    let late = app.handshake_with(&token).await;
    assert_eq!((late.status, late.code()), (503, "seam_unavailable"));

    // Turned off: not even with minutes left.
    let (off, token, _) =
        alice_signed_in(long_account_window().with(|s| s.sessions.stale_min_remaining_secs = 0))
            .await;
    off.seam.go_down().await;
    past_refresh_after(&off);
    assert_eq!(off.handshake_with(&token).await.status, 503);
}

#[actix_web::test]
async fn no_stale_session_after_a_logout_a_revoke_an_account_change_or_a_refused_key() {
    // A logout during the outage drops the session, though Seam could not be told.
    let app = spawn_app_with(long_account_window()).await;
    app.seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    assert_eq!(app.handshake("alice").await.status, 200);
    app.seam.go_down().await;
    assert_eq!(app.logout(Some(&app.login("alice"))).await.status, 503);
    past_refresh_after(&app);
    let after_logout = app.handshake_with(&app.later_login("alice")).await;
    assert_eq!(
        after_logout.code(),
        "seam_unavailable",
        "{}",
        after_logout.text
    );

    // An operator's revoke during the outage (the admin API): the same.
    let (app, token, _) =
        alice_signed_in(long_account_window().with(|s| s.admin.token = Some(ADMIN_TOKEN.into())))
            .await;
    app.seam.go_down().await;
    let revoke = admin(&app, "POST", "/admin/users/alice/revoke", Some(ADMIN_TOKEN)).await;
    assert_eq!(revoke.status, 503, "{}", revoke.text);
    assert_eq!(app.handshake_with(&token).await.code(), "login_revoked");
    past_refresh_after(&app);
    let after_revoke = app.handshake_with(&app.later_login("alice")).await;
    assert_eq!(
        after_revoke.code(),
        "seam_unavailable",
        "{}",
        after_revoke.text
    );

    // The accounts changed (the lookup answers, the session calls fail).
    let (app, token, _) = alice_signed_in(Options::default()).await;
    app.seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    for endpoint in ["/client_sessions/get", "/client_sessions/get_or_create"] {
        app.seam.inject(endpoint, Fault::Status(503), 100);
    }
    past_refresh_after(&app);
    let changed = app.handshake_with(&token).await;
    assert_eq!((changed.status, changed.code()), (503, "seam_unavailable"));

    // Seam refuses the API key: an operator's problem, not Seam's bad day.
    let (app, token, _) = alice_signed_in(long_account_window()).await;
    app.seam.rotate_api_key();
    past_refresh_after(&app);
    let refused = app.handshake_with(&token).await;
    assert_eq!(
        refused.code(),
        "seam_credentials_rejected",
        "{}",
        refused.text
    );
}

#[actix_web::test]
async fn concurrent_handshakes_of_a_stale_user_make_one_upstream_attempt() {
    let (app, token, first) = alice_signed_in(long_account_window()).await;
    app.seam.inject("*", Fault::Status(503), 1000);
    past_refresh_after(&app);
    let calls = app.seam.total_calls();

    let replies = join_all((0..200).map(|_| app.handshake_with(&token))).await;

    for reply in &replies {
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.token(), first.token());
    }
    assert_eq!(
        app.seam.total_calls() - calls,
        1,
        "the first renewal failed; the others took the stale session it left"
    );
    let text = app.metrics().await;
    assert_eq!(
        series(
            &text,
            r#"seam_bff_stale_sessions_served_total{reason="status_5xx"}"#
        ),
        200.0
    );
}
