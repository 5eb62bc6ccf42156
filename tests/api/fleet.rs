//! Fleet mode against a real Redis: replicas share one Seam session per user, a logout on one
//! holds on all before it returns, Redis down or slow never stops a handshake, and nothing
//! readable is left in Redis.

use futures_util::future::join_all;
use seam_stand_in::AccountSpec;

use crate::helpers::{Options, TestApp, forged, later_login, login, spawn_app_with};
use crate::redis_server::RedisServer;

const ENCRYPTION_KEY: &str = "8f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const GET_OR_CREATE: &str = "/client_sessions/get_or_create";

/// Replicas of one deployment on `redis`; a roomy timeout, as debug builds on a busy machine
/// can be slow (the slow-Redis test sets its own).
fn fleet(redis: &RedisServer) -> Options {
    Options::default()
        .env("SEAM_BFF__CLUSTER__REDIS_URL", redis.url())
        .env("SEAM_BFF__CLUSTER__ENCRYPTION_KEY", ENCRYPTION_KEY)
        .env("SEAM_BFF__CLUSTER__TIMEOUT_MS", "1000")
}

/// Until `/readyz` says the replica hears the fleet (Redis answers and it is subscribed).
async fn joined(app: &TestApp) {
    for _ in 0..2000 {
        let ready = app.get("/readyz").await;
        if ready.body["cluster"] == "up" {
            return;
        }
    }
    panic!("the replica never joined the fleet");
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
    let mut tokens = Vec::new();
    for app in &apps {
        let reply = app.handshake_with(&token).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        tokens.push(reply.token().to_owned());
    }
    assert!(tokens.iter().all(|t| *t == tokens[0]), "{tokens:?}");
    assert_eq!(apps[0].seam.calls(GET_OR_CREATE), 1);
    assert_eq!(apps[0].devices_status(&tokens[0]).await, 200);
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
    let old = login("carol");
    let before: Vec<String> = join_all(apps.iter().map(|a| a.handshake_with(&old)))
        .await
        .iter()
        .map(|r| r.token().to_owned())
        .collect();

    assert_eq!(apps[1].logout(Some(&old)).await.status, 204);

    for app in [&apps[0], &apps[2]] {
        let ended = app.handshake_with(&old).await;
        assert_eq!((ended.status, ended.code()), (401, "login_revoked"));
        let fresh = app.handshake_with(&later_login("carol")).await;
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
    let frank = login("frank");
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

/// A handshake never waits on a Redis that does not answer: with Redis paused, this one is done
/// while a PING sent before it still waits.
#[actix_web::test]
async fn a_slow_redis_costs_a_handshake_at_most_its_timeout() {
    let redis = RedisServer::start();
    let app = spawn_app_with(fleet(&redis).env("SEAM_BFF__CLUSTER__TIMEOUT_MS", "100")).await;
    joined(&app).await;
    let paused = redis.cli(&["CLIENT", "PAUSE", "3000", "ALL"]);
    assert!(paused.stdout.starts_with(b"OK"), "{paused:?}");
    let mut waiting = redis.cli_in_background(&["PING"]);
    let reply = app.handshake("grace").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(
        waiting.try_wait().expect("redis-cli").is_none(),
        "answered while Redis was still paused"
    );
    let _ = waiting.wait();
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
    let judy = login("judy");
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
    let limited = fleet(&redis)
        .env("SEAM_BFF__RATE_LIMIT__ENABLED", "true")
        .env("SEAM_BFF__RATE_LIMIT__USER_PER_MINUTE", "1")
        .env("SEAM_BFF__RATE_LIMIT__USER_BURST", "2")
        .env("SEAM_BFF__RATE_LIMIT__CLIENT_PER_MINUTE", "1")
        .env("SEAM_BFF__RATE_LIMIT__CLIENT_BURST", "3")
        // Every handshake asks Seam for the accounts, so every one counts.
        .env("SEAM_BFF__ACCOUNTS__CACHE_TTL_SECS", "0");
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
    let refused = spawn_app_with(fleet(&redis).env(
        "SEAM_BFF__CLUSTER__REDIS_URL",
        redis.url_with_password("wrong"),
    ))
    .await;
    assert_eq!(refused.handshake("liam").await.status, 200);
    let ready = refused.get("/readyz").await;
    assert_eq!(
        (ready.status, &ready.body["cluster"]),
        (200, &serde_json::json!("degraded"))
    );

    let accepted = spawn_app_with(fleet(&redis).env(
        "SEAM_BFF__CLUSTER__REDIS_URL",
        redis.url_with_password("right-password-0123"),
    ))
    .await;
    joined(&accepted).await;
    assert_eq!(accepted.handshake("liam").await.status, 200);
}

/// An ACL user with only the commands the README lists, on the keys and channels under the
/// prefix, is all the fleet needs.
#[actix_web::test]
async fn an_acl_user_with_the_documented_commands_is_enough() {
    let commands = "+hello +ping +client +get +set +del +exists +mget +psetex +eval +evalsha \
                    +script +time +publish +subscribe";
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
    let first = spawn_app_with(fleet(&redis).env("SEAM_BFF__CLUSTER__REDIS_URL", url)).await;
    let second = first.replica().await;
    for app in [&first, &second] {
        joined(app).await;
    }
    let mia = login("mia");
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
    let trusting = fleet(&redis).env("SEAM_BFF__CLUSTER__TLS_CA_FILE", redis.ca_file());
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
