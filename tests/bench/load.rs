//! The load client (awc, the project's own HTTP stack) and the bare actix-web server that sets
//! the ceiling.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};

/// When a load run ends.
#[derive(Clone, Copy)]
pub enum Stop {
    /// Cycle through the tokens until this much time has passed.
    After(Duration),
    /// Send each token once.
    AfterEach,
}

#[derive(Default)]
pub struct Stats {
    pub requests: u64,
    pub errors: u64,
    pub statuses: BTreeMap<String, u64>,
    elapsed: Duration,
    latencies_us: Vec<u32>,
}

impl Stats {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn percentile_ms(&self, p: f64) -> f64 {
        let n = self.latencies_us.len();
        if n == 0 {
            return 0.0;
        }
        let index = ((n as f64 * p) as usize).min(n - 1);
        f64::from(self.latencies_us[index]) / 1000.0
    }

    pub fn p50_ms(&self) -> f64 {
        self.percentile_ms(0.5)
    }

    /// Several runs of one scenario as one: their requests over their summed time.
    pub fn combine(runs: impl IntoIterator<Item = Stats>) -> Stats {
        let mut total = Stats::default();
        for run in runs {
            total.elapsed += run.elapsed;
            total.absorb(run);
        }
        total.latencies_us.sort_unstable();
        total
    }

    /// Adds the counts and latencies of a run that went on at the same time (not its time).
    fn absorb(&mut self, other: Stats) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.latencies_us.extend(other.latencies_us);
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
    }
}

/// Sends POSTs to `url`, each with the next token as a bearer (none when empty), over
/// `connections` keep-alive connections spread across one client thread per core.
pub fn run_load(url: &str, tokens: Vec<String>, connections: usize, stop: Stop) -> Stats {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(connections);
    let tokens = Arc::new(tokens);
    let cursor = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = match stop {
        Stop::After(duration) => Some(started + duration),
        Stop::AfterEach => None,
    };
    let per_thread: Vec<Stats> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let (tokens, cursor, url) = (tokens.clone(), cursor.clone(), url.to_owned());
                let share = connections / threads + usize::from(thread < connections % threads);
                scope.spawn(move || {
                    actix_web::rt::System::new()
                        .block_on(client(url, tokens, cursor, share, deadline))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("load thread"))
            .collect()
    });
    let mut total = Stats {
        elapsed: started.elapsed(),
        ..Stats::default()
    };
    for stats in per_thread {
        total.absorb(stats);
    }
    total.latencies_us.sort_unstable();
    total
}

async fn client(
    url: String,
    tokens: Arc<Vec<String>>,
    cursor: Arc<AtomicUsize>,
    connections: usize,
    deadline: Option<Instant>,
) -> Stats {
    let http = awc::Client::builder()
        .connector(awc::Connector::new().limit(connections.max(1)))
        .timeout(Duration::from_secs(30))
        .finish();
    let loops: Vec<_> = (0..connections)
        .map(|_| {
            let (http, tokens, cursor, url) =
                (http.clone(), tokens.clone(), cursor.clone(), url.clone());
            actix_web::rt::spawn(async move {
                let mut stats = Stats::default();
                loop {
                    let index = cursor.fetch_add(1, Ordering::Relaxed);
                    let token = match deadline {
                        Some(deadline) if Instant::now() >= deadline => break,
                        Some(_) => &tokens[index % tokens.len()],
                        None if index >= tokens.len() => break,
                        None => &tokens[index],
                    };
                    let mut request = http.post(&url);
                    if !token.is_empty() {
                        request = request.bearer_auth(token);
                    }
                    let sent = Instant::now();
                    let status = match request.send().await {
                        Ok(mut response) => {
                            let _ = response.body().await;
                            response.status().as_u16()
                        }
                        Err(_) => 0,
                    };
                    stats
                        .latencies_us
                        .push(sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    stats.requests += 1;
                    if status != 200 {
                        stats.errors += 1;
                    }
                    *stats.statuses.entry(status.to_string()).or_default() += 1;
                }
                stats
            })
        })
        .collect();
    let mut stats = Stats::default();
    for handle in loops {
        stats.absorb(handle.await.expect("load task"));
    }
    stats
}

/// A body the size of a handshake's.
const BODY: &str = r#"{"token":"seam_cst0123456789abcdef0123456789abcdef","expires_at":"2026-11-27T13:00:00.123Z","refresh_after":"2026-11-27T12:50:00.123Z","client_session_id":"c75d4330-ae01-4dfd-b6c5-f3e94e0d8168","connected_account_ids":["3ea0b67f-649f-4131-bfe3-f2035e77a3f9"]}"#;

/// `bench --serve-bare`: the ceiling, a route that answers a small JSON body and nothing else,
/// with as many workers as the service.
pub fn serve_bare() {
    actix_web::rt::System::new().block_on(async {
        let server = HttpServer::new(|| {
            App::new().route(
                "/",
                web::post().to(|| async {
                    HttpResponse::Ok()
                        .insert_header(("cache-control", "no-store"))
                        .content_type("application/json")
                        .body(BODY)
                }),
            )
        })
        .bind("127.0.0.1:0")
        .expect("bind loopback");
        let address = server.addrs()[0];
        println!(r#"{{"fields":{{"message":"listening","address":"{address}"}}}}"#);
        server.run().await.expect("bare server");
    });
}
