//! Fleet mode against a real Redis, the once-for-the-fleet records and the events that spare
//! scans and polls: a Svix delivery or a logout token applied on one replica is a replay on
//! every other; one whose request did not complete is taken when sent again; a fleet logout
//! looks at no other user; a replica waiting on another's Seam fetch is woken when it ends.

use std::collections::HashMap;

use futures_util::future::join;
use seam_bff::clock::Clock;
use seam_stand_in::{Fault, sign_webhook};
use serde_json::json;

use crate::fleet::{fleet, joined, redis_calls};
use crate::helpers::{
    Options, Reply, TestApp, logout_claims, logout_token, patient, spawn_app_with,
};
use crate::redis_server::RedisServer;
use crate::webhooks::post_delivery;

const GET_OR_CREATE: &str = "/client_sessions/get_or_create";

/// Two replicas of one deployment on `redis`, both listening to the fleet.
async fn pair(options: Options) -> (TestApp, TestApp) {
    let first = spawn_app_with(options).await;
    let second = first.replica().await;
    for app in [&first, &second] {
        joined(app).await;
    }
    (first, second)
}

/// Fleet replicas with Seam's webhook on (the secret returned).
fn with_webhook(options: Options) -> (Options, String) {
    let secret = seam_stand_in::new_webhook_secret();
    let options = options.with({
        let secret = secret.clone();
        move |s| s.seam.webhook_secret = Some(secret.as_str().into())
    });
    (options, secret)
}

/// One Svix delivery of `event`, signed for `secret` with a fresh id, at `app`'s time: posted
/// with `send` as often as a test likes.
struct Delivery {
    id: String,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
}

impl Delivery {
    fn new(app: &TestApp, secret: &str, event: &serde_json::Value) -> Self {
        let body = serde_json::to_vec(event).expect("json");
        let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
        let timestamp = app.clock.now().unix_timestamp().to_string();
        let signature = sign_webhook(secret, &id, &timestamp, &body);
        Self {
            id,
            timestamp,
            signature,
            body,
        }
    }

    async fn send(&self, app: &TestApp) -> Reply {
        post_delivery(
            app,
            Some(&self.id),
            Some(&self.timestamp),
            Some(&self.signature),
            &self.body,
        )
        .await
    }
}

#[actix_web::test]
async fn a_delivery_applied_on_one_replica_is_a_replay_on_every_other() {
    let redis = RedisServer::start();
    let (options, secret) = with_webhook(fleet(&redis));
    let (first, second) = pair(options).await;
    let delivery = Delivery::new(
        &first,
        &secret,
        &json!({ "event_type": "device.unlocked", "device_id": "d" }),
    );
    assert_eq!(delivery.send(&first).await.status, 200);

    for app in [&second, &first] {
        let replayed = delivery.send(app).await;
        assert_eq!(
            (replayed.status, replayed.code()),
            (400, "webhook_replayed"),
            "{}",
            replayed.text
        );
    }
}

#[actix_web::test]
async fn a_logout_token_applied_on_one_replica_is_a_replay_on_every_other() {
    let redis = RedisServer::start();
    let (first, second) = pair(fleet(&redis).with(|s| s.auth.backchannel_logout = true)).await;
    let token = logout_token(&logout_claims(Some("alice"), None));
    assert_eq!(first.backchannel_logout(&token).await.status, 200);

    for app in [&second, &first] {
        let replayed = app.backchannel_logout(&token).await;
        assert_eq!(
            (replayed.status, replayed.code()),
            (400, "invalid_logout_token"),
            "{}",
            replayed.text
        );
    }
}

/// A logout Seam could not complete gives its `jti` back to the fleet: the provider's retry is
/// applied, and is a replay on every replica afterwards.
#[actix_web::test]
async fn a_logout_seam_could_not_complete_is_applied_when_sent_again() {
    let redis = RedisServer::start();
    let (first, second) = pair(fleet(&redis).with(|s| s.auth.backchannel_logout = true)).await;
    let dave = second.login("dave");
    assert_eq!(second.handshake_with(&dave).await.status, 200);
    let token = logout_token(&logout_claims(Some("dave"), None));
    first
        .seam
        .inject("/client_sessions/list", Fault::Status(500), 10);
    let failed = first.backchannel_logout(&token).await;
    assert_eq!(failed.code(), "logout_incomplete", "{}", failed.text);
    first.seam.clear_faults();

    assert_eq!(first.backchannel_logout(&token).await.status, 200);
    assert_eq!(
        second.backchannel_logout(&token).await.code(),
        "invalid_logout_token"
    );
    assert_eq!(second.handshake_with(&dave).await.code(), "login_revoked");
}

/// A delivery cut off by `server.request_timeout_ms` while its id is being claimed (Redis
/// frozen, and slower to give up on than the request) gives the id back, here and in the
/// fleet: Svix's retry with the same id is applied.
#[actix_web::test]
async fn a_delivery_cut_off_by_the_request_timeout_is_applied_when_sent_again() {
    let redis = RedisServer::start();
    let (options, secret) = with_webhook(fleet(&redis).with(|s| {
        s.cluster.timeout_ms = 10_000;
        s.server.request_timeout_ms = 1000;
        s.seam.deadline_ms = 900;
        s.seam.timeout_ms = 900;
    }));
    let (first, second) = pair(options).await;
    let delivery = Delivery::new(
        &first,
        &secret,
        &json!({ "event_type": "device.unlocked", "device_id": "d" }),
    );
    redis.freeze();
    let cut_off = delivery.send(&first).await;
    redis.thaw();
    assert_eq!((cut_off.status, cut_off.code()), (504, "request_timeout"));

    let retried = delivery.send(&first).await;
    assert_eq!(retried.status, 200, "{}", retried.text);
    assert_eq!(delivery.send(&second).await.code(), "webhook_replayed");
}

/// A delivery whose event Seam could not help apply gives its id back to the fleet too.
#[actix_web::test]
async fn a_delivery_seam_failed_is_applied_when_sent_again() {
    let redis = RedisServer::start();
    let (options, secret) = with_webhook(fleet(&redis));
    let (first, second) = pair(options).await;
    // Whose account it is, the `seam` source asks Seam (the sessions of its Connect Webview).
    let delivery = Delivery::new(
        &first,
        &secret,
        &json!({
            "event_type": "connected_account.connected",
            "connected_account_id": "ca_1",
            "connect_webview_id": "cw_1",
        }),
    );
    first
        .seam
        .inject("/client_sessions/list", Fault::Status(500), 10);
    let failed = delivery.send(&first).await;
    assert!(failed.status >= 500, "{}: {}", failed.status, failed.text);
    first.seam.clear_faults();

    let retried = delivery.send(&first).await;
    assert_eq!(retried.status, 200, "{}", retried.text);
    assert_eq!(delivery.send(&second).await.code(), "webhook_replayed");
}

/// The users-cache entries `app` looked at to find a user by Seam key.
async fn users_visited(app: &TestApp) -> u64 {
    let metrics = app.metrics().await;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("seam_bff_cache_entries_visited_total{cache=\"users\"} "))
        .and_then(|count| count.parse().ok())
        .unwrap_or(0)
}

/// A logout on one replica has every other drop that user's session, found through its Seam
/// key (here an HMAC of the user key) without looking at the other users it holds.
#[actix_web::test]
async fn a_fleet_logout_looks_at_no_other_user() {
    let redis = RedisServer::start();
    let hmac = |s: &mut seam_bff::config::Settings| {
        s.identity.key_hmac_secret = Some("key-hmac-secret-0123456789abcdef-0123456789".into());
    };
    let (first, second) = pair(fleet(&redis).with(hmac)).await;
    for n in 0..20 {
        let user = format!("user-{n}");
        assert_eq!(second.handshake(&user).await.status, 200);
    }
    let zoe = second.login("zoe");
    assert_eq!(second.handshake_with(&zoe).await.status, 200);
    let before = users_visited(&second).await;

    assert_eq!(first.logout(Some(&zoe)).await.status, 204);
    // Until the second replica has applied the logout's drop of zoe's session (it confirms
    // within `cluster.timeout_ms`, which a busy machine may exceed).
    let mut visited = 0;
    for _ in 0..2000 {
        visited = users_visited(&second).await - before;
        if visited > 0 {
            break;
        }
    }
    assert_eq!(visited, 1, "zoe alone");
    assert_eq!(second.handshake_with(&zoe).await.code(), "login_revoked");
}

/// A replica waiting on another's Seam fetch of a user's session looks in Redis when the
/// fetcher says it stored it, not every few milliseconds meanwhile.
#[actix_web::test]
async fn a_replica_waiting_on_a_fetch_elsewhere_is_woken_when_it_ends() {
    let redis = RedisServer::start();
    let (first, second) = pair(fleet(&redis).with(patient)).await;
    let token = first.login("wendy");
    let held = first.seam.hold(GET_OR_CREATE);
    let (before, publishes) = (redis_calls(&second).await, redis_calls(&first).await);
    let waiter = async {
        held.answered().await;
        let watch = async {
            // Until the second replica has asked the fleet (and found the fetch under way).
            for _ in 0..2000 {
                if redis_calls(&second).await.get("recall") > before.get("recall") {
                    break;
                }
            }
            // The Seam call takes a while: polling every 10 ms would have looked ~40 times.
            actix_web::rt::time::sleep(std::time::Duration::from_millis(400)).await;
            held.release();
        };
        join(second.handshake_with(&token), watch).await.0
    };
    let (fetched, waited) = join(first.handshake_with(&token), waiter).await;
    assert_eq!(fetched.status, 200, "{}", fetched.text);
    assert_eq!(waited.status, 200, "{}", waited.text);
    assert_eq!(waited.token(), fetched.token(), "the fleet's one fetch");
    assert_eq!(first.seam.calls(GET_OR_CREATE), 1);

    let after = redis_calls(&second).await;
    let made = |op: &str| after.get(op).unwrap_or(&0) - before.get(op).unwrap_or(&0);
    assert!(made("get") < 10, "woken, not polling: {after:?}");
    // The fetcher said so (its publish is counted once Redis answered it).
    let published = |calls: &HashMap<String, u64>| calls.get("publish").copied().unwrap_or(0);
    for _ in 0..2000 {
        if published(&redis_calls(&first).await) > published(&publishes) {
            return;
        }
    }
    panic!("the fetcher never published");
}
