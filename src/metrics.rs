//! Prometheus metrics, served as text on the management listener at `/metrics`.
//!
//! One registry per application (not the process-global one), so that several instances in one
//! process, as in the tests, keep their own counts. Labels take only bounded values: route
//! patterns, status codes, Seam endpoint names, cache names.

use actix_web::http::{Method, StatusCode};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Log lines dropped because the log's buffer was full (`telemetry`), for the process: the
/// log is the process's, the registries are per application.
static DROPPED_LOG_LINES: std::sync::OnceLock<tracing_appender::non_blocking::ErrorCounter> =
    std::sync::OnceLock::new();

/// Reports the log writer's count of dropped lines in every registry's
/// `log_lines_dropped_total`.
pub(crate) fn count_dropped_log_lines(counter: tracing_appender::non_blocking::ErrorCounter) {
    let _ = DROPPED_LOG_LINES.set(counter);
}

/// Latency buckets in seconds: sub-millisecond cache hits up to multi-second Seam trouble.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub(crate) struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    /// The handshake's route pattern (told by whoever wires the routes): its POST latency has
    /// its own histogram, and its usual answer its own counter.
    handshake_route: &'static str,
    /// `http_requests` for the handshake's usual answer, resolved once: a label lookup on
    /// every request shows in profiles of the hot path.
    handshakes_ok: IntCounter,
    handshake_seconds: Histogram,
    pub(crate) cache_lookups: IntCounterVec,
    pub(crate) cache_evictions: IntCounterVec,
    pub(crate) cache_visits: IntCounterVec,
    pub(crate) cache_entries: IntGaugeVec,
    pub(crate) upstream_requests: IntCounterVec,
    pub(crate) upstream_seconds: HistogramVec,
    pub(crate) upstream_retries: IntCounterVec,
    pub(crate) stale_sessions: IntCounterVec,
    pub(crate) refused_grants: IntCounterVec,
    pub(crate) breaker_state: IntGauge,
    pub(crate) breaker_opened: IntCounter,
    pub(crate) key_set_refreshes: IntCounterVec,
    pub(crate) rate_limited: IntCounterVec,
    pub(crate) cluster_up: IntGauge,
    pub(crate) cluster_errors: IntCounterVec,
    pub(crate) cluster_latency: HistogramVec,
    pub(crate) revocations_full: IntCounterVec,
    log_lines_dropped: IntCounter,
}

impl Metrics {
    pub(crate) fn new(handshake_route: &'static str) -> Self {
        let registry =
            Registry::new_custom(Some("seam_bff".into()), None).expect("a fixed prefix is valid");
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(metric.clone()))
                .expect("registered once");
            metric
        };
        let http_requests = counter(
            "http_requests_total",
            "Requests answered, by route pattern and status.",
            &["route", "status"],
        );
        let cache_lookups = counter(
            "cache_lookups_total",
            "Cache lookups by cache (login, accounts, session, readiness) and outcome (hit, miss, shared, stale).",
            &["cache", "outcome"],
        );
        let cache_evictions = counter(
            "cache_evictions_total",
            "Entries dropped for size or age, by cache.",
            &["cache"],
        );
        let cache_visits = counter(
            "cache_entries_visited_total",
            "Entries looked at to find one by another key than the cache's (users: by Seam key, \
             as a fleet event names them), by cache.",
            &["cache"],
        );
        let upstream_requests = counter(
            "upstream_requests_total",
            "Seam calls by endpoint and status (0: no answer).",
            &["endpoint", "status"],
        );
        let upstream_retries = counter(
            "upstream_retries_total",
            "Seam calls retried, by endpoint.",
            &["endpoint"],
        );
        let stale_sessions = counter(
            "stale_sessions_served_total",
            "Handshakes answered with a session past its renewal because Seam failed, by reason \
             (unreachable, timeout, status_5xx, rate_limited, bad_response, circuit_open).",
            &["reason"],
        );
        let refused_grants = counter(
            "refused_grants_total",
            "What Seam offered a user beyond their own, kept from them, by reason \
             (planted_account: connected through another user's Connect Webview; \
             customer_session, user_identity: a Seam session that reaches further, replaced).",
            &["reason"],
        );
        let key_set_refreshes = counter(
            "key_set_refreshes_total",
            "JWKS fetches by result (ok, error).",
            &["result"],
        );
        let rate_limited = counter(
            "rate_limited_total",
            "Requests refused by a rate limit, by scope (client, user) and what it counts (signature_failures, handshakes, logouts).",
            &["scope", "reason"],
        );
        let cluster_errors = counter(
            "cluster_errors_total",
            "Redis calls that failed or timed out (answered from local state), by operation.",
            &["op"],
        );
        let revocations_full = counter(
            "revocations_full_total",
            "Logouts and logins refused because the revocation store was full of records still \
             needed, by record kind (user, session, logout_token; session_note: a login whose \
             sid could not be noted, verified each time instead of remembered).",
            &["kind"],
        );
        let handshake_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "handshake_duration_seconds",
                "Time to answer POST /v1/client-session.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .expect("valid metric");
        let upstream_seconds = HistogramVec::new(
            HistogramOpts::new(
                "upstream_duration_seconds",
                "Seam call latency by endpoint.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["endpoint"],
        )
        .expect("valid metric");
        let cluster_latency = HistogramVec::new(
            HistogramOpts::new(
                "cluster_latency_seconds",
                "Redis call latency by operation.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["op"],
        )
        .expect("valid metric");
        let cluster_up = IntGauge::new("cluster_up", "1 while Redis answers (fleet mode), else 0.")
            .expect("valid metric");
        let cache_entries = IntGaugeVec::new(
            Opts::new("cache_entries", "Entries held, by cache."),
            &["cache"],
        )
        .expect("valid metric");
        let breaker_state = IntGauge::new(
            "breaker_state",
            "Seam circuit breaker: 0 closed, 1 half-open, 2 open.",
        )
        .expect("valid metric");
        let breaker_opened = IntCounter::new(
            "breaker_opened_total",
            "Times the Seam circuit breaker opened.",
        )
        .expect("valid metric");
        let log_lines_dropped = IntCounter::new(
            "log_lines_dropped_total",
            "Log lines dropped because the log's buffer was full (stdout too slow).",
        )
        .expect("valid metric");
        for metric in [
            Box::new(handshake_seconds.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(upstream_seconds.clone()),
            Box::new(cache_entries.clone()),
            Box::new(breaker_state.clone()),
            Box::new(breaker_opened.clone()),
            Box::new(cluster_latency.clone()),
            Box::new(cluster_up.clone()),
            Box::new(log_lines_dropped.clone()),
        ] {
            registry.register(metric).expect("registered once");
        }
        Self {
            registry,
            handshake_route,
            handshakes_ok: http_requests.with_label_values(&[handshake_route, "200"]),
            http_requests,
            handshake_seconds,
            cache_lookups,
            cache_evictions,
            cache_visits,
            cache_entries,
            upstream_requests,
            upstream_seconds,
            upstream_retries,
            stale_sessions,
            refused_grants,
            breaker_state,
            breaker_opened,
            key_set_refreshes,
            rate_limited,
            cluster_up,
            cluster_errors,
            cluster_latency,
            revocations_full,
            log_lines_dropped,
        }
    }

    /// Counts an answered request by route pattern and status, and times the handshake.
    pub(crate) fn observe_request(
        &self,
        route: &str,
        method: &Method,
        status: StatusCode,
        seconds: f64,
    ) {
        let handshake = route == self.handshake_route;
        if handshake && method == Method::POST {
            self.handshake_seconds.observe(seconds);
        }
        if handshake && status == StatusCode::OK {
            self.handshakes_ok.inc();
        } else {
            self.http_requests
                .with_label_values(&[route, status.as_str()])
                .inc();
        }
    }

    /// The text exposition format.
    pub(crate) fn render(&self) -> String {
        if let Some(dropped) = DROPPED_LOG_LINES.get() {
            let dropped = dropped.dropped_lines() as u64;
            self.log_lines_dropped
                .inc_by(dropped.saturating_sub(self.log_lines_dropped.get()));
        }
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
