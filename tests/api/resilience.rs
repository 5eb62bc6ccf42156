//! Seam's bad days: retries for what is safe to repeat, inside a deadline; cached sessions
//! served while Seam is down; a circuit breaker that sheds load and recovers by itself; work
//! renewed ahead of time so returning users never wait; bounds on what Seam may send.

use std::time::Duration;

use futures_util::future::{join, join_all};
use seam_stand_in::{AccountSpec, Fault};

use crate::helpers::{
    MIN_REMAINING_SECS, Options, TTL_SECS, login, logins_admitted, patient, series, spawn_app,
    spawn_app_with,
};

const GET_OR_CREATE: &str = "/client_sessions/get_or_create";

fn retrying() -> Options {
    Options::default().with(|s| {
        s.seam.max_attempts = 3;
        s.seam.retry_base_ms = 1;
    })
}

#[actix_web::test]
async fn transient_failures_of_idempotent_calls_are_retried() {
    let app = spawn_app_with(retrying()).await;
    app.seam.inject(GET_OR_CREATE, Fault::Status(503), 1);
    app.seam.inject(
        GET_OR_CREATE,
        Fault::RateLimited {
            retry_after_secs: 0,
        },
        1,
    );

    let reply = app.handshake("alice").await;

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(app.seam.calls(GET_OR_CREATE), 3);
    let text = app.metrics().await;
    assert_eq!(
        series(
            &text,
            r#"seam_bff_upstream_retries_total{endpoint="/client_sessions/get_or_create"}"#
        ),
        2.0
    );
}

#[actix_web::test]
async fn retries_are_bounded_and_stay_inside_the_deadline() {
    let app = spawn_app_with(retrying()).await;
    app.seam.inject(GET_OR_CREATE, Fault::Status(500), 10);
    let reply = app.handshake("alice").await;
    assert_eq!(reply.status, 502);
    assert_eq!(app.seam.calls(GET_OR_CREATE), 3, "exactly max_attempts");

    // Seam asks for a minute: longer than the deadline, so no retry is even started.
    let app = spawn_app_with(retrying()).await;
    app.seam.inject(
        GET_OR_CREATE,
        Fault::RateLimited {
            retry_after_secs: 60,
        },
        1,
    );
    let reply = app.handshake("alice").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("retry-after"), Some("60"));
    assert_eq!(app.seam.calls(GET_OR_CREATE), 1);

    // A backoff that would overrun the deadline is not waited out either.
    let app = spawn_app_with(retrying().with(|s| {
        s.seam.retry_base_ms = 60_000;
        s.seam.deadline_ms = 2000;
    }))
    .await;
    app.seam.inject(GET_OR_CREATE, Fault::Status(503), 1);
    let reply = app.handshake("alice").await;
    assert_eq!(reply.status, 503);
    assert_eq!(app.seam.calls(GET_OR_CREATE), 1);
}

#[actix_web::test]
async fn calls_that_are_not_idempotent_are_never_retried() {
    let app = spawn_app_with(retrying()).await;
    assert_eq!(app.handshake("alice").await.status, 200);
    app.seam
        .inject("/client_sessions/delete", Fault::Status(503), 5);
    let logout = app.logout(Some(&app.login("alice"))).await;
    assert_eq!(logout.status, 503);
    assert_eq!(app.seam.calls("/client_sessions/delete"), 1);
}

/// Seam goes down, comes back, gets slow, throttles and talks garbage. Cached users never
/// notice; new users get a clear status; the breaker caps what is sent upstream and closes
/// again on its own.
#[actix_web::test]
async fn an_outage_is_survived_with_bounded_upstream_calls_and_automatic_recovery() {
    let app = spawn_app_with(retrying().with(|s| {
        s.seam.max_attempts = 2;
        s.seam.breaker_failures = 3;
        s.seam.breaker_cooldown_secs = 10;
    }))
    .await;
    for user in ["alice", "bob"] {
        app.seam.add_connected_account(AccountSpec::owned_by(user));
    }
    let alice = app.handshake("alice").await;
    assert_eq!(alice.status, 200);
    assert_eq!(app.get("/readyz").await.status, 200);

    app.seam.go_down().await;

    // Cached: served, no upstream call needed.
    let during = app.handshake("alice").await;
    assert_eq!(during.status, 200);
    assert_eq!(during.token(), alice.token());
    // Not cached: unavailable, then the breaker opens and new work fails fast.
    let mut statuses = Vec::new();
    for user in ["bob", "carol", "dave", "erin", "frank"] {
        let reply = app.handshake(user).await;
        statuses.push(reply.status);
        assert_eq!(reply.code(), "seam_unavailable", "{user}");
        assert!(reply.header("retry-after").is_some());
    }
    assert!(statuses.iter().all(|s| *s == 503), "{statuses:?}");
    let text = app.metrics().await;
    let unanswered = series(
        &text,
        r#"seam_bff_upstream_requests_total{endpoint="/connected_accounts/list",status="0"}"#,
    );
    assert_eq!(
        unanswered, 3.0,
        "the breaker opened after 3 failures and sent nothing more"
    );
    assert_eq!(series(&text, "seam_bff_breaker_state"), 2.0);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.body["reason"], "seam_circuit_open");
    assert_eq!(
        app.handshake("alice").await.status,
        200,
        "cached users still served"
    );

    app.seam.come_back().await;
    app.clock.advance(time::Duration::seconds(11));
    let recovered = app.handshake("bob").await;
    assert_eq!(
        recovered.status, 200,
        "the probe call succeeds and closes the breaker"
    );
    assert_eq!(series(&app.metrics().await, "seam_bff_breaker_state"), 0.0);
    assert_eq!(app.get("/readyz").await.status, 200);

    // Slow: the attempt times out, and Seam is not asked again (only connection errors, 429
    // and 5xx are retried).
    app.seam.set_latency(Duration::from_millis(1500));
    let lookups = app.seam.calls("/connected_accounts/list");
    let slow = app.handshake("carol").await;
    assert_eq!(slow.status, 504);
    assert_eq!(slow.code(), "seam_timeout");
    assert_eq!(
        app.seam.calls("/connected_accounts/list") - lookups,
        1,
        "carol's lookup, once"
    );
    app.seam.set_latency(Duration::ZERO);
    // Throttled beyond the deadline, then garbage: clear statuses, and recovery after.
    app.seam.inject(
        "*",
        Fault::RateLimited {
            retry_after_secs: 30,
        },
        1,
    );
    assert_eq!(app.handshake("dave").await.status, 503);
    app.seam.inject("*", Fault::Garbage, 1);
    assert_eq!(app.handshake("erin").await.status, 502);
    app.clock.advance(time::Duration::seconds(11));
    assert_eq!(app.handshake("frank").await.status, 200);
}

#[actix_web::test]
async fn a_returning_user_is_renewed_in_the_background_and_never_waits() {
    let app =
        spawn_app_with(Options::default().with(|s| s.sessions.refresh_ahead_secs = 300)).await;
    let first = app.handshake("alice").await;

    // Inside the last 300 s before refresh_after: still served from the cache...
    app.clock
        .advance(time::Duration::seconds(TTL_SECS - MIN_REMAINING_SECS - 100));
    let cached = app.handshake("alice").await;
    assert_eq!(cached.body, first.body);
    // ...while a renewal runs in the background.
    app.seam.calls_reach(GET_OR_CREATE, 2).await;

    // Past the old refresh_after, the renewed session is already there.
    app.clock.advance(time::Duration::seconds(200));
    let renewed = app.handshake("alice").await;
    assert_eq!(renewed.status, 200);
    assert_ne!(renewed.body["refresh_after"], first.body["refresh_after"]);
    assert_eq!(
        renewed.token(),
        first.token(),
        "Seam extends the same session"
    );
    assert_eq!(
        app.seam.calls(GET_OR_CREATE),
        2,
        "no wait on Seam in the foreground"
    );
}

#[actix_web::test]
async fn account_lookups_are_refreshed_ahead_of_their_window() {
    let app = spawn_app().await;
    app.seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    assert_eq!(app.handshake("alice").await.status, 200);

    // Late in the 60 s window: answered from the cache, refreshed in the background.
    app.clock.advance(time::Duration::seconds(50));
    assert_eq!(app.handshake("alice").await.status, 200);
    app.seam.calls_reach("/connected_accounts/list", 2).await;

    // Past the first lookup's window the refreshed one answers: no third lookup.
    app.clock.advance(time::Duration::seconds(20));
    assert_eq!(app.handshake("alice").await.status, 200);
    assert_eq!(app.seam.calls("/connected_accounts/list"), 2);
}

#[actix_web::test]
async fn the_last_account_list_is_used_while_seam_cannot_be_asked() {
    let app = spawn_app().await;
    app.seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    let before = app.handshake("alice").await;

    app.clock.advance(time::Duration::seconds(70));
    app.seam
        .inject("/connected_accounts/list", Fault::Status(503), 1);
    let reply = app.handshake("alice").await;

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.account_ids(), before.account_ids());
    let text = app.metrics().await;
    assert_eq!(
        series(
            &text,
            r#"seam_bff_cache_lookups_total{cache="accounts",outcome="stale"}"#
        ),
        1.0
    );
    // Beyond accounts.serve_stale_secs the old list is no longer trusted.
    app.clock.advance(time::Duration::seconds(600));
    app.seam
        .inject("/connected_accounts/list", Fault::Status(503), 1);
    assert_eq!(app.handshake("alice").await.status, 503);
}

#[actix_web::test]
async fn upstream_concurrency_and_response_size_are_bounded() {
    let app = spawn_app_with(
        Options::default()
            .with(patient)
            .with(|s| s.seam.max_concurrent_requests = 2),
    )
    .await;
    // Two account lookups are held at Seam until all twelve handshakes have been admitted:
    // two calls are in flight together, and the ten others wait for them, not beside them.
    let held = [(); 2].map(|()| app.seam.hold("/connected_accounts/list"));
    let all_admitted = async {
        for hold in &held {
            hold.answered().await;
        }
        logins_admitted(&app, 12).await;
        for hold in &held {
            hold.release();
        }
    };
    let handshakes = join_all((0..12).map(|i| app.handshake_owned(format!("user-{i}"))));
    let (replies, ()) = join(handshakes, all_admitted).await;
    assert!(replies.iter().all(|r| r.status == 200));
    assert_eq!(
        app.seam.max_in_flight(),
        2,
        "the two held calls at once, and never a third beside them"
    );
    assert_eq!(app.seam.calls("/connected_accounts/list"), 12);
    assert_eq!(app.seam.calls(GET_OR_CREATE), 12);

    let app = spawn_app_with(Options::default().with(|s| s.seam.max_response_bytes = 200)).await;
    for _ in 0..5 {
        app.seam
            .add_connected_account(AccountSpec::owned_by("alice"));
    }
    let reply = app.handshake("alice").await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.code(), "seam_error");
}

#[actix_web::test]
async fn requests_are_bounded_in_time_and_body_size() {
    // A Seam call's deadline ends a millisecond inside the request's. The account lookup takes
    // half a second and is answered (half a second inside its deadline); the session call then
    // never answers, and its own deadline would end it only after 1.5 s: only the request's
    // bound, which counts the lookup's time too, can end the request, at 1.001 s.
    let app = spawn_app_with(Options::default().with(|s| {
        s.server.request_timeout_ms = 1001;
        s.seam.deadline_ms = 1000;
        s.seam.timeout_ms = 1000;
    }))
    .await;
    app.seam.set_latency(Duration::from_millis(500));
    app.seam.inject(GET_OR_CREATE, Fault::Hang, 1);
    let slow = app.handshake("alice").await;
    assert_eq!(slow.status, 504, "{}", slow.text);
    assert_eq!(slow.code(), "request_timeout");
    assert_eq!(
        (
            app.seam.calls("/connected_accounts/list"),
            app.seam.calls(GET_OR_CREATE)
        ),
        (1, 1),
        "the lookup was answered and the session call under way"
    );

    let big = app
        .http
        .post(format!("{}/v1/client-session", app.address))
        .bearer_auth(login("alice"))
        .send_body(vec![b'x'; 64 * 1024])
        .await
        .expect("sent");
    assert_eq!(big.status().as_u16(), 413);
}
