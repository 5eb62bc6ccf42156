//! Soak test: holds load on the real `seam-bff` binary for a number of minutes, across thousands
//! of users, while Seam (the stand-in) fails in turn: 503s, slowness, 429s, garbage, and
//! going down altogether. Reports responses by status, the failures of users whose session
//! still had `sessions.stale_min_remaining_secs` left (none expected: they are handed the
//! stale session), the stale serves by reason, latency percentiles, and the service's resident
//! memory over time, as a table and as JSON.
//!
//! Run with `tests/soak/run [minutes] [users]` (release build). Not part of `cargo test`.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use seam_stand_in::{AccountSpec, Fault, StandIn};
use server::{rss_kib, start};

#[path = "../support/server.rs"]
mod server;
use serde_json::json;

const SECRET: &str = "soak-test-secret-0123456789abcdef-0123456789";
/// Concurrent clients; each sends its next handshake when the last one is answered.
const CLIENTS: usize = 32;
/// Seam's weather changes this often.
const PHASE: Duration = Duration::from_secs(10);
/// `sessions.stale_min_remaining_secs` below: a user whose session has more left than this
/// (and a second, for the time between the service's judgement and the answer) is answered.
const STALE_MIN_REMAINING_SECS: i64 = 15;

struct Args {
    binary: PathBuf,
    minutes: u64,
    users: usize,
}

fn args() -> Args {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        binary: PathBuf::from("target/release/seam-bff"),
        minutes: 1,
        users: 5000,
    };
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--binary" => parsed.binary = value.into(),
            "--minutes" => parsed.minutes = value.parse().expect("--minutes takes a number"),
            "--users" => parsed.users = value.parse().expect("--users takes a number"),
            other => panic!("unknown argument {other}"),
        }
    }
    parsed
}

#[derive(Default)]
struct Tally {
    by_status: BTreeMap<String, u64>,
    latencies_us: Vec<u32>,
    /// Each user's latest session expiry seen (Unix seconds).
    expiries: HashMap<usize, i64>,
    /// 5xx answers to users whose last session had more than the stale minimum left.
    failed_with_session_left: u64,
}

#[actix_web::main]
async fn main() {
    let args = args();
    let seam = Rc::new(StandIn::start().await);
    for i in 0..args.users {
        seam.add_connected_account(AccountSpec::owned_by(&format!("user-{i}")));
    }
    let dir = std::env::temp_dir().join(format!("seam-bff-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("soak.toml");
    let rest = format!(
        r#"
[auth]
algorithms = ["HS256"]
hs256_secret = "{SECRET}"
[accounts]
cache_ttl_secs = 30
[sessions]
# A 15 s window, so that Seam's bad phases reach sessions that need renewing.
ttl_secs = 75
min_remaining_secs = 60
refresh_ahead_secs = 5
stale_min_remaining_secs = {STALE_MIN_REMAINING_SECS}
"#
    );
    std::fs::write(
        &config,
        server::config(&seam, "timeout_ms = 1000\ndeadline_ms = 2500", &rest),
    )
    .expect("write config");

    let mut command = Command::new(&args.binary);
    command
        .args(["--config", config.to_str().expect("utf-8"), "--log-format", "json"])
        .env(
            "RUST_LOG",
            "warn,seam_bff=info,seam_bff::middleware::request_log=warn,seam_bff::seam=warn,seam_bff::cache=error",
        );
    let (service, address, management) = start(command);
    let pid = service.pid();

    let expires =
        time::OffsetDateTime::now_utc().unix_timestamp() + (args.minutes as i64 + 10) * 60;
    let tokens: Rc<Vec<String>> = Rc::new(
        (0..args.users)
            .map(|i| {
                encode(
                    &Header::new(Algorithm::HS256),
                    &json!({"sub": format!("user-{i}"), "exp": expires}),
                    &EncodingKey::from_secret(SECRET.as_bytes()),
                )
                .expect("token")
            })
            .collect(),
    );
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.minutes * 60);
    let tally = Rc::new(RefCell::new(Tally::default()));
    println!(
        "soak: {} users, {CLIENTS} clients, {} min, service at {address}",
        args.users, args.minutes
    );

    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (tokens, tally, url) = (
                tokens.clone(),
                tally.clone(),
                format!("http://{address}/v1/client-session"),
            );
            actix_web::rt::spawn(async move {
                let http = awc::Client::builder()
                    .timeout(Duration::from_secs(15))
                    .finish();
                while Instant::now() < deadline {
                    let user = fastrand::usize(..tokens.len());
                    let sent = Instant::now();
                    let (status, expires_at) =
                        match http.post(&url).bearer_auth(&tokens[user]).send().await {
                            Ok(mut response) => {
                                let body = response.body().await.unwrap_or_default();
                                (response.status().as_u16().to_string(), expiry(&body))
                            }
                            Err(e) => (format!("client error: {e}"), None),
                        };
                    let mut tally = tally.borrow_mut();
                    if let Some(at) = expires_at {
                        let seen = tally.expiries.entry(user).or_default();
                        *seen = (*seen).max(at);
                    }
                    let now = time::OffsetDateTime::now_utc().unix_timestamp();
                    let left = tally.expiries.get(&user).map_or(0, |at| at - now);
                    if status.starts_with('5') && left > STALE_MIN_REMAINING_SECS + 1 {
                        tally.failed_with_session_left += 1;
                    }
                    *tally.by_status.entry(status).or_default() += 1;
                    tally
                        .latencies_us
                        .push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
                }
            })
        })
        .collect();

    // Seam's weather, and memory samples, until the deadline.
    let weather = [
        "fine", "503s", "fine", "slow", "fine", "429s", "fine", "garbage", "fine", "down",
    ];
    let mut memory = Vec::new();
    let mut phase = 0;
    while Instant::now() < deadline {
        let now = weather[phase % weather.len()];
        seam.clear_faults();
        seam.set_latency(Duration::ZERO);
        match now {
            "503s" => seam.inject("*", Fault::Status(503), 1_000_000),
            "slow" => seam.set_latency(Duration::from_millis(1500)),
            "429s" => seam.inject(
                "*",
                Fault::RateLimited {
                    retry_after_secs: 1,
                },
                1_000_000,
            ),
            "garbage" => seam.inject("*", Fault::Garbage, 1_000_000),
            "down" => seam.go_down().await,
            _ => {}
        }
        let phase_end = (Instant::now() + PHASE).min(deadline);
        while Instant::now() < phase_end {
            memory.push((started.elapsed().as_secs(), rss_kib(pid)));
            actix_web::rt::time::sleep(Duration::from_secs(5).min(phase_end - Instant::now()))
                .await;
        }
        if now == "down" {
            seam.come_back().await;
        }
        phase += 1;
    }
    seam.clear_faults();
    for client in clients {
        let _ = client.await;
    }
    memory.push((started.elapsed().as_secs(), rss_kib(pid)));
    let stale = stale_serves(&management).await;
    let exit = service.stop().expect("service exits");

    let mut tally = tally.borrow_mut();
    tally.latencies_us.sort_unstable();
    let total: u64 = tally.by_status.values().sum();
    let percentile = |p: f64| {
        let i = ((tally.latencies_us.len() as f64 * p) as usize)
            .min(tally.latencies_us.len().saturating_sub(1));
        tally.latencies_us.get(i).copied().unwrap_or(0) as f64 / 1000.0
    };
    let report = json!({
        "minutes": args.minutes,
        "users": args.users,
        "requests": total,
        "requests_per_second": total as f64 / started.elapsed().as_secs_f64(),
        "by_status": tally.by_status,
        "failed_with_session_left": tally.failed_with_session_left,
        "stale_serves_by_reason": stale,
        "latency_ms": {"p50": percentile(0.50), "p90": percentile(0.90), "p99": percentile(0.99), "p999": percentile(0.999)},
        "rss_kib_over_time": memory,
        "service_exit_ok": exit.success(),
    });
    println!("\n{:<12} {:>10}", "status", "responses");
    for (status, count) in &tally.by_status {
        println!("{status:<12} {count:>10}");
    }
    println!(
        "\nstale sessions served: {} ({})",
        stale.values().sum::<u64>(),
        stale
            .iter()
            .map(|(reason, n)| format!("{reason} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "5xx for users whose session had over {STALE_MIN_REMAINING_SECS} s left: {}",
        tally.failed_with_session_left
    );
    println!(
        "\nlatency ms   p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}",
        percentile(0.5),
        percentile(0.9),
        percentile(0.99),
        percentile(0.999)
    );
    println!(
        "rss KiB      {}",
        memory
            .iter()
            .map(|(t, kib)| format!("{t}s:{kib}"))
            .collect::<Vec<_>>()
            .join("  ")
    );
    let path = PathBuf::from("target/soak-report.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report).expect("json"))
        .expect("write report");
    println!("\nreport: {}", path.display());
    // Anything but the statuses Seam's faults explain is a failure of the service.
    let unexplained = tally
        .by_status
        .keys()
        .any(|s| !matches!(s.as_str(), "200" | "502" | "503" | "504"));
    if unexplained || tally.failed_with_session_left > 0 || !exit.success() {
        std::process::exit(1);
    }
}

/// `expires_at` of a handshake's answer, in Unix seconds.
fn expiry(body: &[u8]) -> Option<i64> {
    let body: serde_json::Value = serde_json::from_slice(body).ok()?;
    let at = body["expires_at"].as_str()?;
    let at = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339);
    Some(at.ok()?.unix_timestamp())
}

/// The service's `stale_sessions_served_total`, by reason.
async fn stale_serves(management: &str) -> BTreeMap<String, u64> {
    let mut response = awc::Client::default()
        .get(format!("http://{management}/metrics"))
        .send()
        .await
        .expect("the metrics answer");
    let text = response.body().await.expect("the metrics' body");
    String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|l| l.strip_prefix("seam_bff_stale_sessions_served_total{reason=\""))
        .filter_map(|l| {
            let (reason, count) = l.split_once("\"} ")?;
            Some((reason.to_owned(), count.parse().ok()?))
        })
        .collect()
}
