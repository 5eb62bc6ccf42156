//! Benchmark: the real `seam-bff` binary against the stand-in Seam on loopback, measured beside
//! a bare actix-web route (the framework's ceiling on this machine) in the same run.
//!
//! Scenarios: (a) the bare route; (b) cached handshakes across many users for HS256, RS256 and
//! ES256 logins, each user reusing its token; (c) first-seen tokens (signature verification
//! cost); (d) cold handshakes with Seam answering after a fixed latency; (e) a thundering herd
//! of concurrent first handshakes for one user; resident memory per cached user; and (f) fleet
//! mode, two replicas sharing a real Redis (`fleet`).
//!
//! (a) and (b) run in interleaved rounds, and each (b) run is compared with its round's (a), so
//! that drift on a shared machine moves the ceiling and the handshakes together.
//!
//! Run with `tests/bench/run` (release build). Prints a table and writes
//! target/bench-report.json; exits non-zero if any request failed.

mod fleet;
mod load;
#[path = "../support/redis_server.rs"]
#[expect(
    dead_code,
    reason = "the fleet tests use more of it than the benchmark"
)]
mod redis_server;
#[path = "../support/server.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use seam_stand_in::{AccountSpec, StandIn};
use serde_json::json;

use load::Stats;
use server::{rss_kib, start};

/// CPU time the process has used so far (user and system, all its threads), from /proc: on a
/// shared machine a steadier measure of what a request costs than throughput.
fn cpu_seconds(pid: u32) -> f64 {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and
    // 13th, in clock ticks, which Linux fixes at 100 per second for /proc.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let (_, rest) = stat.rsplit_once(") ")?;
            let mut fields = rest.split(' ').skip(11);
            let user: u64 = fields.next()?.parse().ok()?;
            let system: u64 = fields.next()?.parse().ok()?;
            Some((user + system) as f64 / 100.0)
        })
        .unwrap_or(0.0)
}

/// Runs a load off this thread: the stand-in Seam is served from this thread's runtime.
async fn run_load(url: &str, tokens: Vec<String>, connections: usize, stop: load::Stop) -> Stats {
    let url = url.to_owned();
    actix_web::rt::task::spawn_blocking(move || load::run_load(&url, tokens, connections, stop))
        .await
        .expect("load run")
}

const HS_SECRET: &str = "bench-secret-0123456789abcdef-0123456789";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

struct Options {
    binary: PathBuf,
    users: usize,
    /// Seconds per run; (a) and (b) run `rounds` times each, interleaved.
    seconds: u64,
    rounds: usize,
    memory_users: usize,
    first_seen: usize,
    connections: usize,
    /// `SEAM_BFF__…=value` settings for the service, to measure other configurations.
    service_env: Vec<(String, String)>,
}

fn options() -> Options {
    let mut options = Options {
        binary: PathBuf::from("target/release/seam-bff"),
        users: 10_000,
        seconds: 3,
        rounds: 7,
        memory_users: 100_000,
        first_seen: 20_000,
        connections: 64,
        service_env: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        let number = || {
            value
                .parse()
                .unwrap_or_else(|_| panic!("{flag} takes a number"))
        };
        match flag.as_str() {
            "--binary" => options.binary = PathBuf::from(&value),
            "--users" => options.users = number(),
            "--seconds" => options.seconds = number() as u64,
            "--rounds" => options.rounds = number().max(1),
            "--memory-users" => options.memory_users = number(),
            "--first-seen" => options.first_seen = number(),
            "--set" => {
                let (key, value) = value.split_once('=').expect("--set takes KEY=VALUE");
                options.service_env.push((key.to_owned(), value.to_owned()));
            }
            "--connections" => options.connections = number(),
            other => panic!("unknown argument {other}"),
        }
    }
    options
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--serve-bare") {
        return load::serve_bare();
    }
    actix_web::rt::System::new().block_on(bench(options()));
}

/// The three login flavours, each its own trusted issuer.
struct Signer {
    name: &'static str,
    issuer: &'static str,
    algorithm: Algorithm,
    key: EncodingKey,
    /// Roles added to each login, as identity providers with role claims do: 0, or enough for
    /// a 4 KiB login.
    roles: usize,
}

impl Signer {
    fn all() -> Vec<Signer> {
        let pem = |file: &str| std::fs::read(Path::new(FIXTURES).join(file)).expect("fixture");
        vec![
            Signer {
                name: "HS256",
                issuer: "https://hs.bench",
                algorithm: Algorithm::HS256,
                key: EncodingKey::from_secret(HS_SECRET.as_bytes()),
                roles: 0,
            },
            Signer {
                name: "RS256",
                issuer: "https://rs.bench",
                algorithm: Algorithm::RS256,
                key: EncodingKey::from_rsa_pem(&pem("rsa_private.pem")).expect("rsa"),
                roles: 0,
            },
            Signer {
                name: "ES256",
                issuer: "https://es.bench",
                algorithm: Algorithm::ES256,
                key: EncodingKey::from_ec_pem(&pem("ec_private.pem")).expect("ec"),
                roles: 0,
            },
            Signer {
                name: "RS256, 4 KiB login",
                issuer: "https://rs.bench",
                algorithm: Algorithm::RS256,
                key: EncodingKey::from_rsa_pem(&pem("rsa_private.pem")).expect("rsa"),
                roles: 100,
            },
        ]
    }

    /// Tokens for `users`, minted on every core (RSA signing is slow).
    fn mint(&self, users: impl Iterator<Item = String>, unique: bool) -> Vec<String> {
        let users: Vec<String> = users.collect();
        let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 3 * 3600;
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let chunk = users.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = users
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|user| {
                                let mut claims =
                                    json!({"sub": user, "iss": self.issuer, "exp": exp});
                                if unique {
                                    claims["jti"] = uuid::Uuid::new_v4().to_string().into();
                                }
                                if self.roles > 0 {
                                    let roles: Vec<String> = (0..self.roles)
                                        .map(|i| format!("app-role-{i:04}-read-write"))
                                        .collect();
                                    claims["realm_access"] = json!({ "roles": roles });
                                }
                                encode(&Header::new(self.algorithm), &claims, &self.key)
                                    .expect("signs")
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("minting"))
                .collect()
        })
    }
}

fn config(seam: &StandIn, dir: &Path, options: &Options) -> PathBuf {
    let path = dir.join("bench.toml");
    let capacity = (options.users + options.memory_users) * 2;
    let rest = format!(
        r#"
[auth]
issuer = "https://hs.bench"
algorithms = ["HS256"]
hs256_secret = "{HS_SECRET}"
[[auth.issuers]]
issuer = "https://rs.bench"
algorithms = ["RS256"]
public_key_file = "{FIXTURES}/rsa_public.pem"
[[auth.issuers]]
issuer = "https://es.bench"
algorithms = ["ES256"]
public_key_file = "{FIXTURES}/ec_public.pem"
[identity]
# The three signers sign for the same users (one session each, whatever the algorithm).
issuers_share_users = true
[accounts]
# Long enough that (b) and (c) measure the login and session path, not account refreshes.
cache_ttl_secs = 3600
[sessions]
max_entries = {capacity}
"#
    );
    std::fs::write(&path, server::config(seam, "", &rest)).expect("write config");
    path
}

/// Warnings only, but for the service's own start-up lines.
const QUIET_LOG: &str = "warn,seam_bff=info,seam_bff::middleware=warn,seam_bff::seam=warn";

/// The service as every scenario runs it: the benchmark's settings, and the shipped defaults
/// for everything else, logging included (text, one `info` line per request, to stdout, which
/// the benchmark reads as a log collector would).
fn service_command(options: &Options, config: &Path) -> Command {
    let mut command = Command::new(&options.binary);
    command
        .args(["--config", config.to_str().expect("utf-8")])
        // The tests' shared settings log JSON; the shipped default is text.
        .env("SEAM_BFF__LOG__FORMAT", "text")
        .envs(options.service_env.iter().cloned())
        .env_remove("RUST_LOG");
    command
}

/// Seconds the service spent so far, on its own clock (its metrics).
struct Spent {
    /// Answering handshakes, from request to response.
    handshakes: f64,
    /// Waiting on Seam.
    upstream: f64,
}

/// A service's Prometheus text, from its management listener.
async fn metrics_text(management: &str) -> String {
    let mut response = awc::Client::default()
        .get(format!("http://{management}/metrics"))
        .send()
        .await
        .expect("metrics");
    String::from_utf8(response.body().limit(1 << 22).await.expect("body").to_vec()).expect("utf-8")
}

async fn spent(management: &str) -> Spent {
    let text = metrics_text(management).await;
    let sum = |name: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    Spent {
        handshakes: sum("seam_bff_handshake_duration_seconds_sum"),
        upstream: sum("seam_bff_upstream_duration_seconds_sum"),
    }
}

/// What (d)'s handshakes took beyond their wait on Seam, in milliseconds.
struct Added {
    /// The client's median handshake less the service's mean wait on Seam per handshake:
    /// includes loopback and the load client, and moves by tenths of a millisecond between
    /// runs (a median less a mean).
    median_ms: f64,
    /// On the service's own clock: its mean time per handshake beyond the wait on Seam.
    mean_ms: f64,
}

struct Row {
    scenario: String,
    stats: Stats,
    upstream_calls: usize,
    /// Throughput as a share of (a)'s; for (b) one per round, against that round's (a).
    ratios: Vec<f64>,
    /// The server process's CPU time per request, for (a) and (b).
    cpu_us: Option<f64>,
}

impl Row {
    fn new(scenario: String, stats: Stats, upstream_calls: usize, ceiling: f64) -> Self {
        Self {
            ratios: vec![stats.rps() / ceiling],
            cpu_us: None,
            scenario,
            stats,
            upstream_calls,
        }
    }

    /// The median of `ratios`.
    fn ratio(&self) -> f64 {
        let mut ratios = self.ratios.clone();
        ratios.sort_by(f64::total_cmp);
        let n = ratios.len();
        (ratios[(n - 1) / 2] + ratios[n / 2]) / 2.0
    }
}

async fn bench(options: Options) {
    let seam = StandIn::start().await;
    let users: Vec<String> = (0..options.users).map(|i| format!("user-{i}")).collect();
    for user in &users {
        seam.add_connected_account(AccountSpec::owned_by(user));
    }
    let dir = std::env::temp_dir().join(format!("seam-bff-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = config(&seam, &dir, &options);

    let (service, address, management) = start(service_command(&options, &config));
    // The same service logging only warnings, beside the shipped default's row (and its
    // start-up lines, which say where it listens).
    let mut quiet = service_command(&options, &config);
    quiet.env("RUST_LOG", QUIET_LOG);
    let (quiet, quiet_address, _) = start(quiet);
    let quiet_handshake = format!("http://{quiet_address}/v1/client-session");
    let mut bare = Command::new(std::env::current_exe().expect("own path"));
    bare.arg("--serve-bare");
    let (bare, bare_address, _) = start(bare);
    let handshake = format!("http://{address}/v1/client-session");
    let seconds = Duration::from_secs(options.seconds);
    let connections = options.connections;
    let total_calls = || seam.total_calls();

    println!("minting tokens for {} users × 3 algorithms…", users.len());
    let signers = Signer::all();
    let cached_tokens: Vec<Vec<String>> = signers
        .iter()
        .map(|s| s.mint(users.iter().cloned(), false))
        .collect();

    // Warm the caches: every user's session, and every token's verification.
    let warm_ups = cached_tokens
        .iter()
        .map(|tokens| (&handshake, tokens))
        .chain([(&quiet_handshake, &cached_tokens[0])]);
    for (url, tokens) in warm_ups {
        let warm = run_load(url, tokens.clone(), connections, load::Stop::AfterEach).await;
        assert_eq!(warm.errors, 0, "warm-up failed: {:?}", warm.statuses);
    }

    // (a) and (b) in rounds, each (b) run right after its round's (a), and each round's ratio
    // taken against that round's ceiling: on a shared machine throughput drifts by a tenth
    // within minutes, and a ceiling measured once would move every ratio with it.
    let mut bare_rounds = Vec::new();
    let mut cached_rounds: Vec<Vec<(Stats, usize)>> = signers.iter().map(|_| Vec::new()).collect();
    let mut quiet_rounds = Vec::new();
    // CPU seconds each server spent in its runs: (a), each (b) flavour, then log at warn.
    let mut cpu = vec![0.0; signers.len() + 2];
    let cpu_since = |pid: u32, from: f64| cpu_seconds(pid) - from;
    for round in 0..options.rounds {
        let from = cpu_seconds(bare.pid());
        let bare_run = run_load(
            &format!("http://{bare_address}/"),
            vec![String::new()],
            connections,
            load::Stop::After(seconds),
        )
        .await;
        cpu[0] += cpu_since(bare.pid(), from);
        // Each round starts with the next algorithm, so that none is always first after (a).
        for signer in (0..signers.len()).map(|i| (i + round) % signers.len()) {
            let before = total_calls();
            let from = cpu_seconds(service.pid());
            let stats = run_load(
                &handshake,
                cached_tokens[signer].clone(),
                connections,
                load::Stop::After(seconds),
            )
            .await;
            cpu[1 + signer] += cpu_since(service.pid(), from);
            cached_rounds[signer].push((stats, total_calls() - before));
        }
        let before = total_calls();
        let from = cpu_seconds(quiet.pid());
        let stats = run_load(
            &quiet_handshake,
            cached_tokens[0].clone(),
            connections,
            load::Stop::After(seconds),
        )
        .await;
        cpu[1 + signers.len()] += cpu_since(quiet.pid(), from);
        quiet_rounds.push((stats, total_calls() - before));
        bare_rounds.push(bare_run);
    }
    drop(quiet);
    let ceilings: Vec<f64> = bare_rounds.iter().map(Stats::rps).collect();
    let bare_stats = Stats::combine(bare_rounds);
    let ceiling = bare_stats.rps();
    let per_request_us = |seconds: f64, stats: &Stats| 1e6 * seconds / stats.requests.max(1) as f64;
    let mut bare_row = Row::new("(a) bare actix-web route".into(), bare_stats, 0, ceiling);
    bare_row.cpu_us = Some(per_request_us(cpu[0], &bare_row.stats));
    let mut rows = vec![bare_row];
    let named_rounds = signers
        .iter()
        .map(|signer| format!("(b) cached handshake, {}", signer.name))
        .zip(cached_rounds)
        .chain([(
            format!("(b) cached, {}, log at warn", signers[0].name),
            quiet_rounds,
        )]);
    for ((scenario, rounds), cpu) in named_rounds.zip(&cpu[1..]) {
        let ratios: Vec<f64> = rounds
            .iter()
            .zip(&ceilings)
            .map(|((stats, _), ceiling)| stats.rps() / ceiling)
            .collect();
        let upstream_calls = rounds.iter().map(|(_, calls)| calls).sum();
        let stats = Stats::combine(rounds.into_iter().map(|(stats, _)| stats));
        let mut row = Row::new(scenario, stats, upstream_calls, ceiling);
        row.ratios = ratios;
        row.cpu_us = Some(per_request_us(*cpu, &row.stats));
        rows.push(row);
    }
    for signer in &signers {
        let fresh = signer.mint(
            (0..options.first_seen).map(|i| users[i % users.len()].clone()),
            true,
        );
        let before = total_calls();
        let stats = run_load(&handshake, fresh, connections, load::Stop::AfterEach).await;
        rows.push(Row::new(
            format!("(c) first-seen token, {}", signer.name),
            stats,
            total_calls() - before,
            ceiling,
        ));
    }

    // (d) Cache misses against a Seam that takes 20 ms per call.
    let latency = Duration::from_millis(20);
    let cold_users: Vec<String> = (0..2000).map(|i| format!("cold-{i}")).collect();
    for user in &cold_users {
        seam.add_connected_account(AccountSpec::owned_by(user));
    }
    let cold_tokens = signers[0].mint(cold_users.iter().cloned(), false);
    seam.set_latency(latency);
    let before = total_calls();
    let spent_before = spent(&management).await;
    let cold = run_load(&handshake, cold_tokens, 32, load::Stop::AfterEach).await;
    let spent_after = spent(&management).await;
    let cold_calls = total_calls() - before;
    seam.set_latency(Duration::ZERO);

    // The stand-in answers a little after its nominal 20 ms (timer granularity, its own
    // work); what the service adds is measured against the wait the service itself timed.
    let per_handshake_ms = |seconds: f64| seconds * 1000.0 / cold.requests as f64;
    let seam_wait_ms = per_handshake_ms(spent_after.upstream - spent_before.upstream);
    let added = Added {
        median_ms: cold.p50_ms() - seam_wait_ms,
        mean_ms: per_handshake_ms(spent_after.handshakes - spent_before.handshakes) - seam_wait_ms,
    };
    rows.push(Row::new(
        "(d) cold handshake, Seam at 20 ms".into(),
        cold,
        cold_calls,
        ceiling,
    ));

    // (e) 1,000 concurrent first handshakes for one user.
    seam.add_connected_account(AccountSpec::owned_by("herd"));
    let herd_token = signers[0]
        .mint(std::iter::once("herd".to_owned()), false)
        .remove(0);
    seam.set_latency(latency);
    let (get_or_create, lookups) = (
        seam.calls("/client_sessions/get_or_create"),
        seam.calls("/connected_accounts/list"),
    );
    let herd = run_load(
        &handshake,
        vec![herd_token; 1000],
        1000,
        load::Stop::AfterEach,
    )
    .await;
    let herd_get_or_create = seam.calls("/client_sessions/get_or_create") - get_or_create;
    let herd_lookups = seam.calls("/connected_accounts/list") - lookups;
    seam.set_latency(Duration::ZERO);
    rows.push(Row::new(
        "(e) herd: 1,000 first handshakes, one user".into(),
        herd,
        herd_get_or_create + herd_lookups,
        ceiling,
    ));

    // (f) Fleet mode, before the memory users make the stand-in's account listings slower.
    let (fleet_rows, fleet) = fleet::fleet(
        &seam,
        &config,
        &options,
        &signers[0],
        &bare_address,
        ceiling,
    )
    .await;
    rows.extend(fleet_rows);

    // Memory: resident growth per cached user.
    let memory_users: Vec<String> = (0..options.memory_users)
        .map(|i| format!("mem-{i}"))
        .collect();
    for user in &memory_users {
        seam.add_connected_account(AccountSpec::owned_by(user));
    }
    let memory_tokens = signers[0].mint(memory_users.iter().cloned(), false);
    let rss_before = rss_kib(service.pid());
    let warm = run_load(
        &handshake,
        memory_tokens,
        connections,
        load::Stop::AfterEach,
    )
    .await;
    let rss_after = rss_kib(service.pid());
    let per_user_bytes =
        (rss_after.saturating_sub(rss_before) * 1024) as f64 / memory_users.len() as f64;

    let _ = service.stop();
    drop(bare);

    report(
        &rows,
        &added,
        herd_get_or_create,
        herd_lookups,
        rss_before,
        rss_after,
        per_user_bytes,
        &warm,
        &fleet,
        &options,
    );
}

#[expect(clippy::too_many_arguments, reason = "one report, assembled once")]
fn report(
    rows: &[Row],
    added: &Added,
    herd_get_or_create: usize,
    herd_lookups: usize,
    rss_before: u64,
    rss_after: u64,
    per_user_bytes: f64,
    memory_warm: &Stats,
    fleet: &fleet::FleetReport,
    options: &Options,
) {
    println!(
        "\n{:<44} {:>10} {:>8} {:>10} {:>7} {:>8} {:>8} {:>8} {:>9} {:>7}",
        "scenario",
        "req/s",
        "of (a)",
        "rounds",
        "CPU µs",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "upstream",
        "errors"
    );
    for row in rows {
        let s = &row.stats;
        let percent = |ratios: &[f64]| {
            let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
            let max = ratios.iter().copied().fold(0.0, f64::max);
            format!("{:.0}–{:.0}%", 100.0 * min, 100.0 * max)
        };
        let rounds = if row.ratios.len() > 1 {
            percent(&row.ratios)
        } else {
            String::new()
        };
        let cpu = row.cpu_us.map_or(String::new(), |us| format!("{us:.1}"));
        println!(
            "{:<44} {:>10.0} {:>7.0}% {:>10} {:>7} {:>8.3} {:>8.3} {:>8.3} {:>9} {:>7}",
            row.scenario,
            s.rps(),
            100.0 * row.ratio(),
            rounds,
            cpu,
            s.p50_ms(),
            s.percentile_ms(0.99),
            s.percentile_ms(0.999),
            row.upstream_calls,
            s.errors
        );
    }
    println!(
        "\n(d) time added to the Seam wait per handshake: {:.3} ms mean on the service's clock; {:.3} ms as the client's median less the mean wait",
        added.mean_ms, added.median_ms
    );
    println!(
        "(e) upstream calls for the herd: {herd_get_or_create} get_or_create, {herd_lookups} account lookup"
    );
    println!(
        "memory: {} KiB before, {} KiB after caching {} more users: {:.0} bytes per cached user",
        rss_before, rss_after, options.memory_users, per_user_bytes
    );
    println!(
        "(f) fleet: {:.2} get_or_create per user over two replicas; Redis calls per handshake: {:.2} on the request path and {:.2} stores after it on the replica that fetched, {:.2} on the other; none per cached handshake",
        fleet.get_or_create_per_user,
        fleet.redis_calls_fetching,
        fleet.redis_stores_fetching,
        fleet.redis_calls_sharing
    );
    let json = json!({
        "connections": options.connections,
        "seconds_per_run": options.seconds,
        "rounds": options.rounds,
        "users": options.users,
        "scenarios": rows.iter().map(|row| json!({
            "scenario": row.scenario,
            "requests": row.stats.requests,
            "requests_per_second": row.stats.rps(),
            "ratio_to_bare": row.ratio(),
            "ratio_to_bare_by_round": row.ratios,
            "server_cpu_us_per_request": row.cpu_us,
            "p50_ms": row.stats.p50_ms(),
            "p99_ms": row.stats.percentile_ms(0.99),
            "p999_ms": row.stats.percentile_ms(0.999),
            "upstream_calls": row.upstream_calls,
            "errors": row.stats.errors,
            "statuses": row.stats.statuses,
        })).collect::<Vec<_>>(),
        "cold_added_ms": {"mean_service_clock": added.mean_ms, "client_median_less_mean_wait": added.median_ms},
        "herd": {"get_or_create": herd_get_or_create, "account_lookups": herd_lookups},
        "memory": {"cached_users": options.memory_users, "rss_kib_before": rss_before, "rss_kib_after": rss_after, "bytes_per_user": per_user_bytes},
        "fleet": {"get_or_create_per_user": fleet.get_or_create_per_user, "redis_calls_per_cold_handshake": fleet.redis_calls_fetching, "redis_stores_per_cold_handshake": fleet.redis_stores_fetching, "redis_calls_per_first_sight_elsewhere": fleet.redis_calls_sharing},
    });
    std::fs::write(
        "target/bench-report.json",
        serde_json::to_string_pretty(&json).expect("json"),
    )
    .expect("write report");
    println!("report: target/bench-report.json");
    let errors: u64 = rows.iter().map(|r| r.stats.errors).sum::<u64>() + memory_warm.errors;
    if errors > 0 {
        eprintln!("bench: {errors} requests failed");
        std::process::exit(1);
    }
}
