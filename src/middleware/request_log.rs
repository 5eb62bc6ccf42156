//! One log line per request: request id, method, route pattern, status, latency, cache
//! outcome and, for failures, the internal cause. Lines written while serving it (the Seam
//! calls, say) carry the request id too (`telemetry::CurrentRequest`).
//!
//! No tracing span per request: creating one, and entering and leaving it on every poll, cost
//! a cached handshake about 4 µs of CPU (the benchmark's CPU column, averaged over runs: 43 µs
//! with, 39 µs without), for what one field on a few lines gives; the id is a task-local
//! instead.
//!
//! Only the matched route pattern is logged, never the raw path, query or headers: those are
//! where a careless client puts tokens.

use std::cell::Cell;
use std::fmt;
use std::pin::pin;
use std::time::{Duration, Instant};

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::Data;

use crate::cache::Outcome;
use crate::metrics::Metrics;
use crate::telemetry;

/// Response header that echoes the request id, so a user's report can be matched to a log line.
pub(crate) const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// How a handler's caches answered, for its request's log line.
#[derive(Clone, Copy)]
pub(crate) struct CacheReport {
    pub(crate) accounts: Option<Outcome>,
    pub(crate) session: Outcome,
}

tokio::task_local! {
    /// The report of the request being served. A task-local scoped to the request's future,
    /// not a request extension: inserting one allocates, and showed in profiles of the hot path.
    static CACHE_REPORT: Cell<Option<CacheReport>>;
}

/// Reports how the caches answered the request being served.
pub(crate) fn report_cache(report: CacheReport) {
    // Outside a request (no scope), there is no log line to report to.
    let _ = CACHE_REPORT.try_with(|current| current.set(Some(report)));
}

pub(crate) async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let (request_id, header) = request_id();
    let method = req.method().clone();
    let serving = telemetry::in_request(request_id, next.call(req));
    let mut serving = pin!(CACHE_REPORT.scope(Cell::new(None), serving));
    let mut response = serving.as_mut().await?;
    let report = serving.take_value().and_then(Cell::into_inner);
    let latency = Millis(started.elapsed());
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "-".into());
    let status = response.status().as_u16();
    if let Some(metrics) = response.request().app_data::<Data<Metrics>>() {
        metrics.observe_request(&route, &method, response.status(), latency.0.as_secs_f64());
    }
    let cache = report.map_or("-", |r| r.session.as_str());
    let accounts_cache = report.and_then(|r| r.accounts).map_or("-", Outcome::as_str);
    let id = header.to_str().unwrap_or("-");
    match response.response().error() {
        Some(error) => tracing::info!(
            request_id = id, %method, route, status, latency_ms = %latency,
            cache, accounts_cache, error = %error, "request"
        ),
        None => tracing::info!(
            request_id = id, %method, route, status, latency_ms = %latency,
            cache, accounts_cache, "request"
        ),
    }
    response.headers_mut().insert(REQUEST_ID_HEADER, header);
    Ok(response)
}

/// A duration in milliseconds to two decimals, written from integers: formatting a float to a
/// precision showed in profiles of the request line (about 6 % of its cost).
struct Millis(Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hundredths = (self.0.as_micros() + 5) / 10;
        write!(f, "{}.{:02}", hundredths / 100, hundredths % 100)
    }
}

/// 128 random bits in hex, from a fast generator: unique enough to find a line, and no system
/// call per request (unlike a UUID from the OS's randomness), for the log and as the response
/// header. Written on the stack: `format!` showed in profiles of the hot path.
fn request_id() -> (telemetry::RequestId, HeaderValue) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bits = fastrand::u128(..);
    let mut text = [0; 32];
    for (i, digit) in text.iter_mut().enumerate() {
        *digit = HEX[(bits >> (124 - 4 * i)) as usize & 0xf];
    }
    let header = HeaderValue::from_bytes(&text).expect("hex digits are a valid header value");
    (telemetry::RequestId::new(text), header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_milliseconds_rounded_to_two_decimals() {
        let written = |micros| Millis(Duration::from_micros(micros)).to_string();
        assert_eq!(written(0), "0.00");
        assert_eq!(written(4), "0.00");
        assert_eq!(written(5), "0.01");
        assert_eq!(written(1_234), "1.23");
        assert_eq!(written(20_070), "20.07");
        assert_eq!(written(999_995), "1000.00");
    }
}
