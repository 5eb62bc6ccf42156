//! Fleet mode against a real Redis: replicas share one Seam session per user, a logout on one
//! holds on all before it returns, Redis down or slow never stops a handshake, and nothing
//! readable is left in Redis.

use std::collections::HashMap;

use futures_util::future::{join, join_all};
use seam_stand_in::{AccountSpec, Fault, StandIn};

use crate::helpers::{
    Options, TestApp, base_toml, forged, hs256_auth, issuer_and_audience, login, patient,
    spawn_app_with,
};
use crate::process::run_refused;
use crate::redis_server::RedisServer;

const ENCRYPTION_KEY: &str = "8f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const GET_OR_CREATE: &str = "/client_sessions/get_or_create";

/// Replicas of one deployment on `redis`; a roomy timeout, as debug builds on a busy machine
/// can be slow (the slow-Redis test sets its own).
pub(crate) fn fleet(redis: &RedisServer) -> Options {
    fleet_at(redis.url())
}

/// As `fleet`, with Redis at `url` (as another user, with another password).
fn fleet_at(url: String) -> Options {
    Options::default().with(move |s| {
        s.cluster.redis_url = Some(url.as_str().into());
        s.cluster.encryption_key = Some(ENCRYPTION_KEY.into());
        s.cluster.timeout_ms = 1000;
    })
}

/// Until `/readyz` says the replica hears the fleet (Redis answers and it is subscribed).
pub(crate) async fn joined(app: &TestApp) {
    for _ in 0..2000 {
        let ready = app.get("/readyz").await;
        if ready.body["cluster"] == "up" {
            return;
        }
    }
    panic!("the replica never joined the fleet");
}

/// Redis calls the replica made so far, by `op`, from its `cluster_latency_seconds` counts.
pub(crate) async fn redis_calls(app: &TestApp) -> HashMap<String, u64> {
    let metrics = app.metrics().await;
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("seam_bff_cluster_latency_seconds_count{op=\""))
        .filter_map(|l| {
            let (op, count) = l.split_once("\"} ")?;
            Some((op.to_owned(), count.parse().ok()?))
        })
        .collect()
}

/// Until `app` has made more Redis `put`s than `before`.
async fn stored(app: &TestApp, before: u64) {
    for _ in 0..2000 {
        if redis_calls(app).await.get("put").copied().unwrap_or(0) > before {
            return;
        }
    }
    panic!("the replica never tried to store the session");
}

/// Until Redis holds no fetch lock (whose name, like every key's, is a keyed hash).
async fn no_lock_left(redis: &RedisServer, app: &TestApp) {
    for _ in 0..500 {
        let locks = redis.cli(&["--scan", "--pattern", "seam-bff:lock:*"]);
        if locks.stdout.is_empty() {
            return;
        }
        // A request to the replica lets its background calls run meanwhile.
        app.get("/healthz").await;
    }
    panic!("a fetch lock was never released");
}

async fn fleet_of(redis: &RedisServer, size: usize) -> Vec<TestApp> {
    let first = spawn_app_with(fleet(redis)).await;
    let mut apps = vec![];
    for _ in 1..size {
        apps.push(first.replica().await);
    }
    apps.insert(0, first);
    for app in &apps {
        joined(app).await;
    }
    apps
}

#[actix_web::test]
async fn every_replica_hands_out_the_users_one_session_fetched_once() {
    let redis = RedisServer::start();
    let apps = fleet_of(&redis, 3).await;
    apps[0]
        .seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    let token = login("alice");
    let before = redis_calls(&apps[0]).await;
    let mut tokens = Vec::new();
    for app in &apps {
        let reply = app.handshake_with(&token).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        tokens.push(reply.token().to_owned());
    }
    assert!(tokens.iter().all(|t| *t == tokens[0]), "{tokens:?}");
    assert_eq!(apps[0].seam.calls(GET_OR_CREATE), 1);
    assert_eq!(apps[0].devices_status(&tokens[0]).await, 200);

    // The cold handshake asked Redis once before Seam (revocations, stored session and the
    // fetch lock together); storing the session for the others was off its path.
    let after = redis_calls(&apps[0]).await;
    let made = |op: &str| after.get(op).unwrap_or(&0) - before.get(op).unwrap_or(&0);
    assert_eq!(made("recall"), 1, "{after:?}");
    assert_eq!((made("lock"), made("get")), (0, 0), "{after:?}");
}

/// A login that took the fleet's fetch lock gives it back when its handshake fetches nothing
/// (Seam failed before or during the fetch), so another replica fetches at once instead of
/// waiting for the lock to expire (here, after a minute).
#[actix_web::test]
async fn a_handshake_that_fails_gives_the_fetch_lock_back() {
    let redis = RedisServer::start();
    let slow_to_expire = fleet(&redis).with(|s| {
        s.seam.deadline_ms = 60_000;
        s.server.request_timeout_ms = 70_000;
    });
    let first = spawn_app_with(slow_to_expire).await;
    let second = first.replica().await;
    for app in [&first, &second] {
        joined(app).await;
    }
    for (endpoint, user) in [
        ("/connected_accounts/list", "nina"),
        (GET_OR_CREATE, "oscar"),
    ] {
        first.seam.inject(endpoint, Fault::Status(400), 1);
        let token = login(user);
        let failed = first.handshake_with(&token).await;
        assert_ne!(failed.status, 200, "{endpoint}: {}", failed.text);
        no_lock_left(&redis, &first).await;

        let before = redis_calls(&second).await;
        let reply = second.handshake_with(&token).await;
        assert_eq!(reply.status, 200, "{endpoint}: {}", reply.text);
        let after = redis_calls(&second).await;
        assert_eq!(
            after.get("get"),
            before.get("get"),
            "{endpoint}: fetched without waiting"
        );
        assert_eq!(first.handshake_with(&token).await.token(), reply.token());
    }
    assert_eq!(
        first.seam.calls(GET_OR_CREATE),
        3,
        "one failed, one per user"
    );
}

/// A session fetched while a logout ran on another replica is not stored for the fleet: the
/// logout ended it at Seam, so no replica may hand it out from Redis afterwards.
#[actix_web::test]
async fn a_session_fetched_during_a_logout_elsewhere_is_not_shared() {
    let redis = RedisServer::start();
    let (first, second) = patient_pair(&redis).await;
    first
        .seam
        .add_connected_account(AccountSpec::owned_by("pat"));
    let old = second.login("pat");
    let puts = redis_calls(&first).await.get("put").copied().unwrap_or(0);
    // Seam has made the session; the answer is on its way to the first replica.
    let held = first.seam.hold(GET_OR_CREATE);
    let logout = async {
        held.answered().await;
        let status = second.logout(Some(&old)).await.status;
        held.release();
        status
    };
    let (fetched, logout) = join(first.handshake_with(&old), logout).await;
    assert_eq!(logout, 204);
    assert_eq!(fetched.status, 200, "{}", fetched.text);
    assert_eq!(
        first.devices_status(fetched.token()).await,
        401,
        "the logout ended it"
    );
    // Until the first replica's attempt to store it has been made (or the test fails: without
    // that attempt, what follows would not test anything).
    stored(&first, puts).await;

    let fresh = second.handshake_with(&second.later_login("pat")).await;
    assert_eq!(fresh.status, 200, "{}", fresh.text);
    assert_ne!(fresh.token(), fetched.token(), "not the ended session");
    assert_eq!(second.devices_status(fresh.token()).await, 200);
}

/// Two replicas whose Seam calls may be held for as long as a test needs (a minute).
async fn patient_pair(redis: &RedisServer) -> (TestApp, TestApp) {
    let first = spawn_app_with(fleet(redis).with(patient)).await;
    let second = first.replica().await;
    for app in [&first, &second] {
        joined(app).await;
    }
    (first, second)
}

/// A replica applies each revocation as it comes: one that must wait for a Seam call of its
/// user in flight there holds up no other.
#[actix_web::test]
async fn a_fetch_in_flight_holds_up_no_other_users_revocation() {
    let redis = RedisServer::start();
    let (first, second) = patient_pair(&redis).await;
    let (quinn, rosa) = (second.login("quinn"), second.login("rosa"));
    assert_eq!(first.handshake_with(&rosa).await.status, 200);
    let held = first.seam.hold(GET_OR_CREATE);
    let revocations = async {
        held.answered().await;
        // Quinn's revocation waits on the first replica for the fetch of their session.
        assert_eq!(second.logout(Some(&quinn)).await.status, 204);
        assert_eq!(second.logout(Some(&rosa)).await.status, 204);
        let ended = first.handshake_with(&rosa).await;
        held.release();
        ended
    };
    let (_, ended) = join(first.handshake_with(&quinn), revocations).await;
    assert_eq!((ended.status, ended.code()), (401, "login_revoked"));
}

/// A Redis Cluster node is refused at start-up with a message that says what to use instead.
#[actix_web::test]
async fn a_redis_cluster_node_is_refused_at_start_up() {
    let nodes = tempfile::tempdir().expect("temp dir");
    let nodes_file = nodes.path().join("nodes.conf");
    let redis = RedisServer::start_with(&[
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        nodes_file.to_str().expect("utf-8"),
    ]);
    let seam = StandIn::start().await;
    let config = nodes.path().join("c.toml");
    let toml = base_toml(&seam, &(hs256_auth() + &issuer_and_audience()));
    std::fs::write(&config, toml).expect("write");
    let url = redis.url();
    let refused = run_refused(
        &["--config", config.to_str().expect("utf-8")],
        &[
            ("SEAM_BFF__CLUSTER__REDIS_URL", &url),
            ("SEAM_BFF__CLUSTER__ENCRYPTION_KEY", ENCRYPTION_KEY),
        ],
        std::time::Duration::from_secs(60),
    )
    .await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cluster.redis_url") && stderr.contains("Redis Cluster"),
        "{stderr}"
    );
}

#[actix_web::test]
async fn concurrent_first_handshakes_across_replicas_make_one_seam_fetch() {
    let redis = RedisServer::start();
    let apps = fleet_of(&redis, 3).await;
    let handshakes = (0..500).map(|n| apps[n % 3].handshake_owned("bob".to_owned()));
    let replies = join_all(handshakes).await;
    assert!(
        replies.iter().all(|r| r.status == 200),
        "every one answered"
    );
    let first = replies[0].token().to_owned();
    assert!(replies.iter().all(|r| r.token() == first), "one session");
    assert_eq!(apps[0].seam.calls(GET_OR_CREATE), 1);
}

#[actix_web::test]
async fn a_logout_on_one_replica_holds_on_every_replica_before_it_returns() {
    let redis = RedisServer::start();
    let apps = fleet_of(&redis, 3).await;
    apps[0]
        .seam
        .add_connected_account(AccountSpec::owned_by("carol"));
    let old = apps[1].login("carol");
    let before: Vec<String> = join_all(apps.iter().map(|a| a.handshake_with(&old)))
        .await
        .iter()
        .map(|r| r.token().to_owned())
        .collect();

    assert_eq!(apps[1].logout(Some(&old)).await.status, 204);

    for app in [&apps[0], &apps[2]] {
        let ended = app.handshake_with(&old).await;
        assert_eq!((ended.status, ended.code()), (401, "login_revoked"));
        let fresh = app.handshake_with(&app.later_login("carol")).await;
        assert_eq!(fresh.status, 200, "{}", fresh.text);
        assert_ne!(fresh.token(), before[0], "not the dead token");
        assert_eq!(app.devices_status(fresh.token()).await, 200);
    }
}

/// Redis stops: every replica keeps issuing tokens from its own state and Seam, and says so in
/// `/readyz` while staying ready. Redis comes back empty: the fleet shares again without a
/// restart.
#[actix_web::test]
async fn the_fleet_rides_out_redis_going_away_and_coming_back_empty() {
    let mut redis = RedisServer::start();
    let apps = fleet_of(&redis, 2).await;
    let dave = login("dave");
    assert_eq!(apps[0].handshake_with(&dave).await.status, 200);

    redis.stop();
    for app in &apps {
        assert_eq!(
            app.handshake_with(&dave).await.status,
            200,
            "a cached or new user"
        );
        assert_eq!(app.handshake("erin").await.status, 200, "a new user");
        let ready = app.get("/readyz").await;
        assert_eq!(ready.status, 200);
        assert_eq!(ready.body["cluster"], "degraded");
    }

    redis.start_again();
    for app in &apps {
        joined(app).await;
    }
    // On the clock the logout below is judged by: Redis's restart took real seconds.
    let frank = apps[0].login("frank");
    let first = apps[0].handshake_with(&frank).await;
    let calls = apps[0].seam.calls(GET_OR_CREATE);
    let second = apps[1].handshake_with(&frank).await;
    assert_eq!(second.token(), first.token());
    assert_eq!(apps[0].seam.calls(GET_OR_CREATE), calls, "shared again");
    assert_eq!(apps[0].logout(Some(&frank)).await.status, 204);
    let ended = apps[1].handshake_with(&frank).await;
    assert_eq!(
        (ended.status, ended.code()),
        (401, "login_revoked"),
        "revocations again"
    );
}

/// A handshake never waits on a Redis that does not answer: Redis stays frozen until the
/// handshake is done, so it is done without Redis (after cluster.timeout_ms), or it fails (504
/// at server.request_timeout_ms).
#[actix_web::test]
async fn a_slow_redis_costs_a_handshake_at_most_its_timeout() {
    let redis = RedisServer::start();
    let app = spawn_app_with(fleet(&redis).with(|s| s.cluster.timeout_ms = 100)).await;
    joined(&app).await;
    redis.freeze();
    let reply = app.handshake("grace").await;
    redis.thaw();
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[actix_web::test]
async fn nothing_readable_is_left_in_redis() {
    let redis = RedisServer::start();
    let apps = fleet_of(&redis, 2).await;
    let mut secrets = Vec::new();
    for user in ["heidi", "ivan"] {
        let token = login(user);
        let reply = apps[0].handshake_with(&token).await;
        secrets.push(reply.token().to_owned());
        secrets.push(token);
        secrets.push(user.to_owned());
    }
    let judy = apps[1].login("judy");
    assert_eq!(apps[1].handshake_with(&judy).await.status, 200);
    assert_eq!(apps[1].logout(Some(&judy)).await.status, 204);
    secrets.extend([judy, "judy".to_owned(), apps[0].seam.api_key()]);

    let dump = String::from_utf8_lossy(&redis.dump()).into_owned();
    assert!(
        dump.contains("seam-bff:"),
        "the dump holds the fleet's keys: {dump}"
    );
    for secret in &secrets {
        assert!(
            !dump.contains(secret.as_str()),
            "{secret} is readable in Redis"
        );
    }
    assert!(
        !dump.contains("seam_cst"),
        "a client session token in Redis"
    );
}

/// The per-user and per-client limits are the fleet's: two replicas allow what one would.
#[actix_web::test]
async fn the_limits_hold_for_the_fleet_not_per_replica() {
    let redis = RedisServer::start();
    let limited = fleet(&redis).with(|s| {
        s.rate_limit.enabled = true;
        s.rate_limit.user_per_minute = 1;
        s.rate_limit.user_burst = 2;
        s.rate_limit.client_per_minute = 1;
        s.rate_limit.client_burst = 3;
        // Every handshake asks Seam for the accounts, so every one counts.
        s.accounts.cache_ttl_secs = 0;
    });
    let first = spawn_app_with(limited).await;
    let second = first.replica().await;
    for app in [&first, &second] {
        joined(app).await;
    }
    let mut users = Vec::new();
    for app in [&first, &second, &first, &second] {
        users.push(app.handshake("kim").await.status);
    }
    assert_eq!(users, [200, 200, 429, 429]);
    let mut clients = Vec::new();
    for app in [&first, &second, &first, &second] {
        clients.push(app.handshake_with(&forged("mallory")).await.status);
    }
    assert_eq!(clients, [401, 401, 401, 429]);
}

/// A Redis that refuses the password is a Redis that is down: tokens are still issued, and
/// `/readyz` says the cluster is degraded. With the right password the replica joins.
#[actix_web::test]
async fn a_refused_password_degrades_the_cluster_and_nothing_else() {
    let redis = RedisServer::start_with(&["--requirepass", "right-password-0123"]);
    let refused = spawn_app_with(fleet_at(redis.url_with_password("wrong"))).await;
    assert_eq!(refused.handshake("liam").await.status, 200);
    let ready = refused.get("/readyz").await;
    assert_eq!(
        (ready.status, &ready.body["cluster"]),
        (200, &serde_json::json!("degraded"))
    );

    let accepted = spawn_app_with(fleet_at(redis.url_with_password("right-password-0123"))).await;
    joined(&accepted).await;
    assert_eq!(accepted.handshake("liam").await.status, 200);
}

/// An ACL user with only the commands the README lists, on the keys and channels under the
/// prefix, is all the fleet needs.
#[actix_web::test]
async fn an_acl_user_with_the_documented_commands_is_enough() {
    let commands = "+hello +ping +client +get +set +del +exists +mget +psetex +eval +evalsha \
                    +script +time +publish +subscribe +sadd +sismember +sunionstore +pexpire +multi +exec";
    let mut user = vec![
        "--user",
        "seam-bff",
        "on",
        ">acl-password-0123",
        "~seam-bff:*",
        "&seam-bff:*",
    ];
    user.extend(commands.split_whitespace());
    user.extend(["--user", "default", "off"]);
    let redis = RedisServer::start_with(&user);
    let url = redis
        .url()
        .replace("redis://", "redis://seam-bff:acl-password-0123@");
    let first = spawn_app_with(fleet_at(url)).await;
    let second = first.replica().await;
    for app in [&first, &second] {
        joined(app).await;
    }
    let mia = first.login("mia");
    let token = first.handshake_with(&mia).await.token().to_owned();
    assert_eq!(second.handshake_with(&mia).await.token(), token, "shared");
    assert_eq!(first.seam.calls(GET_OR_CREATE), 1);
    assert_eq!(first.logout(Some(&mia)).await.status, 204);
    assert_eq!(second.handshake_with(&mia).await.code(), "login_revoked");
    let metrics = first.metrics().await;
    assert!(
        !metrics.contains("seam_bff_cluster_errors_total"),
        "no call refused: {metrics}"
    );
}

/// `rediss://` with a private CA (`cluster.tls_ca_file`): the fleet works over TLS, and a
/// replica that does not trust the CA cannot reach Redis (and so serves from its own state).
#[actix_web::test]
async fn the_fleet_talks_to_redis_over_tls_with_a_private_ca() {
    let redis = RedisServer::start_tls();
    let ca_file = redis.ca_file();
    let trusting =
        fleet(&redis).with(move |s| s.cluster.tls_ca_file = Some(ca_file.as_str().into()));
    let first = spawn_app_with(trusting).await;
    let second = first.replica().await;
    for app in [&first, &second] {
        joined(app).await;
    }
    let noah = login("noah");
    let token = first.handshake_with(&noah).await.token().to_owned();
    assert_eq!(second.handshake_with(&noah).await.token(), token);
    assert_eq!(first.seam.calls(GET_OR_CREATE), 1, "shared over TLS");

    let untrusting = spawn_app_with(fleet(&redis)).await;
    assert_eq!(untrusting.handshake("olivia").await.status, 200);
    assert_eq!(untrusting.get("/readyz").await.body["cluster"], "degraded");
}

/// A Seam event delivered to one replica clears what every replica cached: here an account gone,
/// with an account cache window of ten minutes on both.
#[actix_web::test]
async fn a_seam_event_on_one_replica_reaches_every_replica() {
    let redis = RedisServer::start();
    let secret = seam_stand_in::new_webhook_secret();
    let options = fleet(&redis).with({
        let secret = secret.clone();
        move |s| {
            s.seam.webhook_secret = Some(secret.as_str().into());
            s.accounts.cache_ttl_secs = 600;
        }
    });
    let first = spawn_app_with(options).await;
    let second = first.replica().await;
    joined(&first).await;
    joined(&second).await;
    let kept = first
        .seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    let lost = first
        .seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    for app in [&first, &second] {
        assert_eq!(app.handshake("alice").await.account_ids().len(), 2);
    }
    first
        .seam
        .set_webhook(&format!("{}/v1/seam-webhook", first.address), &secret);
    first.seam.remove_connected_account(&lost);
    assert_eq!(first.seam.deliver_events().await, [200]);

    // The replica that received it published it, and returned once the other applied it.
    for app in [&first, &second] {
        let after = app.handshake("alice").await;
        assert_eq!(after.account_ids(), [kept.as_str()], "{}", after.text);
    }
}
