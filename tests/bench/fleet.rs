//! (f) Fleet mode: two replicas of the service sharing a real `redis-server`. Measures what the
//! fleet costs against a single instance: the cached handshake's share of the bare route (on
//! the replica that did not fetch the sessions), Seam fetches per user across both replicas,
//! and Redis round trips per handshake, from the replicas' own metrics.

use std::path::Path;
use std::time::Duration;

use seam_stand_in::{AccountSpec, StandIn};

use super::redis_server::RedisServer;
use super::{Options, Row, Signer, metrics_text, run_load, server, service_command};
use crate::load;

const ENCRYPTION_KEY: &str = "b3a9c1d2e3f40516273849aabbccddeeff00112233445566778899aabbccddee";

/// What (f) found besides its rows.
pub(crate) struct FleetReport {
    pub(crate) get_or_create_per_user: f64,
    /// Redis calls per handshake on the replica that fetched each user's session first (on
    /// the request's path, and the store after it), and on the other one, seeing each user
    /// for the first time.
    pub(crate) redis_calls_fetching: f64,
    pub(crate) redis_stores_fetching: f64,
    pub(crate) redis_calls_sharing: f64,
}

/// Redis calls a replica made so far, from `cluster_latency_seconds_count`: those a request
/// may wait on, and the session stores made after the request was answered. The heartbeat's
/// subscription and the probes' pings are left out.
async fn redis_calls(management: &str) -> (f64, f64) {
    let text = metrics_text(management).await;
    let counts = text
        .lines()
        .filter(|l| l.starts_with("seam_bff_cluster_latency_seconds_count"))
        .filter(|l| !l.contains("\"ping\"") && !l.contains("\"subscribe\""))
        .filter_map(|l| {
            Some((
                l.contains("\"put\""),
                l.rsplit(' ').next()?.parse::<f64>().ok()?,
            ))
        });
    let (mut path, mut stores) = (0.0, 0.0);
    for (store, count) in counts {
        *(if store { &mut stores } else { &mut path }) += count;
    }
    (path, stores)
}

pub(crate) async fn fleet(
    seam: &StandIn,
    config: &Path,
    options: &Options,
    signer: &Signer,
    bare_address: &str,
    ceiling: f64,
) -> (Vec<Row>, FleetReport) {
    let redis = RedisServer::start();
    let replica = || {
        let mut command = service_command(options, config);
        command
            .env("SEAM_BFF__CLUSTER__REDIS_URL", redis.url())
            .env("SEAM_BFF__CLUSTER__ENCRYPTION_KEY", ENCRYPTION_KEY);
        server::start(command)
    };
    let (first, first_address, first_management) = replica();
    let (second, second_address, second_management) = replica();
    let users: Vec<String> = (0..2000).map(|i| format!("fleet-{i}")).collect();
    for user in &users {
        seam.add_connected_account(AccountSpec::owned_by(user));
    }
    let tokens = signer.mint(users.iter().cloned(), false);
    let url = |address: &str| format!("http://{address}/v1/client-session");
    let get_or_create = || seam.calls("/client_sessions/get_or_create");

    // Cold on the first replica (it fetches), then first sight on the second (it shares).
    let (calls, redis_before) = (get_or_create(), redis_calls(&first_management).await);
    let fetching = run_load(
        &url(&first_address),
        tokens.clone(),
        32,
        load::Stop::AfterEach,
    )
    .await;
    let redis_after = redis_calls(&first_management).await;
    let per_user = |after: f64, before: f64| (after - before) / users.len() as f64;
    let redis_calls_fetching = per_user(redis_after.0, redis_before.0);
    let redis_stores_fetching = per_user(redis_after.1, redis_before.1);
    let redis_before = redis_calls(&second_management).await;
    let sharing = run_load(
        &url(&second_address),
        tokens.clone(),
        32,
        load::Stop::AfterEach,
    )
    .await;
    let redis_after = redis_calls(&second_management).await;
    let redis_calls_sharing = per_user(
        redis_after.0 + redis_after.1,
        redis_before.0 + redis_before.1,
    );
    let get_or_create_per_user = (get_or_create() - calls) as f64 / users.len() as f64;

    // Cached handshakes on the second replica, in rounds against the bare route.
    let seconds = Duration::from_secs(options.seconds);
    let redis_before = redis_calls(&second_management).await;
    let mut ratios = Vec::new();
    let mut cached_runs = Vec::new();
    for _ in 0..options.rounds {
        let bare = run_load(
            &format!("http://{bare_address}/"),
            vec![String::new()],
            options.connections,
            load::Stop::After(seconds),
        )
        .await;
        let cached = run_load(
            &url(&second_address),
            tokens.clone(),
            options.connections,
            load::Stop::After(seconds),
        )
        .await;
        ratios.push(cached.rps() / bare.rps());
        cached_runs.push(cached);
    }
    let cached = load::Stats::combine(cached_runs);
    let mut cached_row = Row::new(
        format!("(f) fleet: cached handshake, {}", signer.name),
        cached,
        0,
        1.0,
    );
    cached_row.ratios = ratios;
    assert_eq!(
        redis_calls(&second_management).await,
        redis_before,
        "a cached handshake makes no Redis call"
    );
    let _ = (first.stop(), second.stop());
    let rows = vec![
        Row::new(
            "(f) fleet: cold, fetching replica".into(),
            fetching,
            0,
            ceiling,
        ),
        Row::new(
            "(f) fleet: first sight, other replica".into(),
            sharing,
            0,
            ceiling,
        ),
        cached_row,
    ];
    (
        rows,
        FleetReport {
            get_or_create_per_user,
            redis_calls_fetching,
            redis_stores_fetching,
            redis_calls_sharing,
        },
    )
}
