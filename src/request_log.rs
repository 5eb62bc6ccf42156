//! One log line per request: request id, method, route pattern, status, latency, cache
//! outcome and, for failures, the internal cause. Upstream calls made while serving it are
//! logged inside the same span, so they carry the request id too.
//!
//! Only the matched route pattern is logged, never the raw path, query or headers: those are
//! where a careless client puts tokens.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::Data;
use actix_web::{Error, HttpMessage};
use tracing::Instrument;

use crate::cache::Outcome;
use crate::metrics::Metrics;

/// The handshake's route pattern, whose latency has its own histogram.
const HANDSHAKE_ROUTE: &str = "/v1/client-session";

/// Response header that echoes the request id, so a user's report can be matched to a log line.
pub(crate) const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Set by a handler in the request's extensions to report how its caches answered.
#[derive(Clone, Copy)]
pub(crate) struct CacheReport {
    pub(crate) accounts: Option<Outcome>,
    pub(crate) session: Outcome,
}

pub(crate) async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    // 128 random bits from a fast generator: unique enough to find a line, and no system call
    // per request (unlike a UUID from the OS's randomness).
    let request_id = format!("{:032x}", fastrand::u128(..));
    let span = tracing::info_span!("request", request_id = %request_id);
    let method = req.method().clone();
    let mut response = next.call(req).instrument(span.clone()).await?;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "-".into());
    let status = response.status().as_u16();
    if let Some(metrics) = response.request().app_data::<Data<Metrics>>() {
        metrics
            .http_requests
            .with_label_values(&[route.as_str(), response.status().as_str()])
            .inc();
        if route == HANDSHAKE_ROUTE && method == Method::POST {
            metrics.handshake_seconds.observe(latency_ms / 1000.0);
        }
    }
    let report = response
        .request()
        .extensions()
        .get::<CacheReport>()
        .copied();
    let cache = report.map_or("-", |r| r.session.as_str());
    let accounts_cache = report.and_then(|r| r.accounts).map_or("-", Outcome::as_str);
    let _entered = span.enter();
    match response.response().error() {
        Some(error) => tracing::info!(
            %method, route, status, latency_ms = format_args!("{latency_ms:.2}"), cache,
            accounts_cache, error = %error, "request"
        ),
        None => tracing::info!(
            %method, route, status, latency_ms = format_args!("{latency_ms:.2}"), cache,
            accounts_cache, "request"
        ),
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(response)
}
