//! One Seam call: a JSON POST with the API key, retried when that is safe, inside bounds.
//!
//! - Idempotent calls are retried on connection errors, 429 and 5xx, at most
//!   `seam.max_attempts` times, with exponential backoff and jitter, or after Seam's own
//!   `Retry-After`, all inside `seam.deadline_ms`: a retry that could not finish in time is
//!   not started.
//! - Each attempt has `seam.timeout_ms` (connect to last byte) and reads at most
//!   `seam.max_response_bytes`.
//! - At most `seam.max_concurrent_requests` calls are in flight across all workers; the
//!   circuit breaker stops calls altogether while Seam is down.
//! - Every attempt is logged once (endpoint, status, latency, attempt, `seam-request-id`; a
//!   failed one at WARN with its cause class and error) and counted in the metrics.
//! - With a workspace pin, a call waits until the key's workspace is confirmed, and is not
//!   sent while it is another (`workspace`).

use std::time::{Duration, Instant};

use actix_web::http::header::{AUTHORIZATION, RETRY_AFTER};
use actix_web::rt::time::{sleep, timeout};
use actix_web::web::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::types::ErrorEnvelope;
use super::{SeamClient, SeamError};
use crate::http_failure::Cause;

/// Seam's error types are short identifiers; anything longer is cut before it is logged.
const MAX_ERROR_TYPE_CHARS: usize = 64;

/// Whether a call may be sent twice without harm.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Retry {
    Idempotent,
    Never,
}

/// What one attempt produced, with what the log line needs.
struct Attempt {
    status: Option<u16>,
    request_id: Option<String>,
    result: Result<Bytes, SeamError>,
}

impl SeamError {
    fn is_retryable(&self) -> bool {
        match self {
            SeamError::Unreachable { .. } | SeamError::RateLimited { .. } => true,
            SeamError::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// Whether this outcome says Seam is in trouble (as opposed to refusing one request).
    fn counts_against_breaker(&self) -> bool {
        matches!(
            self,
            SeamError::Unreachable { .. }
                | SeamError::Timeout { .. }
                | SeamError::RateLimited { .. }
                | SeamError::BadResponse { .. }
        ) || matches!(self, SeamError::Status { status, .. } if *status >= 500)
    }
}

impl SeamClient {
    /// A call on the API key's behalf: sent once the workspace pin admits it.
    pub(super) async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        body: &Req,
        retry: Retry,
    ) -> Result<Resp, SeamError> {
        self.config.workspace.admit(|| self.workspace()).await?;
        self.send(endpoint, body, retry).await
    }

    /// A call sent as it is: only `/workspaces/get`, which the pin itself waits for, skips
    /// `call`.
    pub(super) async fn send<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        body: &Req,
        retry: Retry,
    ) -> Result<Resp, SeamError> {
        let config = &self.config;
        let deadline = Instant::now() + config.deadline;
        let mut attempt = 1;
        loop {
            let result = self.attempt(endpoint, body, attempt, deadline).await;
            match result {
                Ok(bytes) => {
                    return serde_json::from_slice(&bytes).map_err(|e| SeamError::BadResponse {
                        endpoint,
                        reason: format!("invalid JSON at line {} column {}", e.line(), e.column()),
                    });
                }
                Err(error)
                    if retry == Retry::Idempotent
                        && attempt < config.max_attempts
                        && error.is_retryable() =>
                {
                    let wait = match &error {
                        SeamError::RateLimited {
                            retry_after: Some(wait),
                            ..
                        } => *wait,
                        _ => self.backoff(attempt),
                    };
                    // Not worth starting an attempt that the deadline would cut short.
                    if Instant::now() + wait + config.timeout.min(config.deadline) / 4 > deadline {
                        return Err(error);
                    }
                    config
                        .metrics
                        .upstream_retries
                        .with_label_values(&[endpoint])
                        .inc();
                    sleep(wait).await;
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Exponential backoff with ("equal") jitter: between half and all of base × 2^(attempt-1),
    /// so that clients spread out yet none retries sooner than half the nominal wait.
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .config
            .retry_base
            .saturating_mul(1 << (attempt - 1).min(16));
        ceiling.mul_f64(0.5 + fastrand::f64() / 2.0)
    }

    /// One attempt through the breaker and the concurrency bound, logged and counted.
    async fn attempt<Req: Serialize>(
        &self,
        endpoint: &'static str,
        body: &Req,
        attempt: u32,
        deadline: Instant,
    ) -> Result<Bytes, SeamError> {
        let config = &self.config;
        config
            .breaker
            .admit()
            .map_err(|retry_after| SeamError::CircuitOpen { retry_after })?;
        let started = Instant::now();
        let remaining = deadline.saturating_duration_since(started);
        let outcome = match timeout(remaining, config.permits.acquire()).await {
            Ok(Ok(_permit)) => {
                let limit = config
                    .timeout
                    .min(deadline.saturating_duration_since(Instant::now()));
                match timeout(limit, self.exchange(endpoint, body)).await {
                    Ok(exchanged) => exchanged,
                    Err(_) => Attempt {
                        status: None,
                        request_id: None,
                        result: Err(SeamError::Timeout { endpoint }),
                    },
                }
            }
            // Too many calls in flight for the whole deadline: Seam is slow, shed this one.
            _ => Attempt {
                status: None,
                request_id: None,
                result: Err(SeamError::Timeout { endpoint }),
            },
        };
        let elapsed = started.elapsed();
        config.breaker.record(
            outcome
                .result
                .as_ref()
                .err()
                .is_none_or(|e| !e.counts_against_breaker()),
        );
        let status = outcome.status.unwrap_or(0);
        config
            .metrics
            .upstream_requests
            .with_label_values(&[endpoint, &status.to_string()])
            .inc();
        config
            .metrics
            .upstream_seconds
            .with_label_values(&[endpoint])
            .observe(elapsed.as_secs_f64());
        let latency_ms = format_args!("{:.1}", elapsed.as_secs_f64() * 1000.0);
        let seam_request_id = outcome.request_id.as_deref().unwrap_or("-");
        match &outcome.result {
            Ok(_) => tracing::info!(
                request_id = %crate::telemetry::CurrentRequest, endpoint,
                status,
                attempt,
                latency_ms,
                seam_request_id,
                "seam call"
            ),
            Err(error) => tracing::warn!(
                request_id = %crate::telemetry::CurrentRequest, endpoint,
                status,
                attempt,
                latency_ms,
                seam_request_id,
                cause = error.cause().map_or("-", Cause::as_str),
                %error,
                "seam call failed"
            ),
        }
        outcome.result
    }

    /// Sends one request and reads the body.
    async fn exchange<Req: Serialize>(&self, endpoint: &'static str, body: &Req) -> Attempt {
        let config = &self.config;
        let request = self
            .http
            .post(format!("{}{endpoint}", config.base_url))
            .insert_header((AUTHORIZATION, config.auth_header.clone()));
        let mut response = match request.send_json(body).await {
            Ok(response) => response,
            Err(e) => {
                let error = match Cause::of_send(&e) {
                    Cause::Timeout => SeamError::Timeout { endpoint },
                    cause => SeamError::Unreachable {
                        endpoint,
                        cause,
                        // awc's text names the host and the OS's reason, never the key.
                        reason: e.to_string(),
                    },
                };
                return Attempt {
                    status: None,
                    request_id: None,
                    result: Err(error),
                };
            }
        };
        let status = response.status();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let request_id = header(actix_web::http::header::HeaderName::from_static(
            "seam-request-id",
        ));
        let retry_after = header(RETRY_AFTER)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.body().limit(config.max_response_bytes).await;
        let result = match body {
            Err(e) => Err(SeamError::BadResponse {
                endpoint,
                reason: e.to_string(),
            }),
            Ok(bytes) if status.is_success() => Ok(bytes),
            Ok(_) if status.as_u16() == 401 => Err(SeamError::Unauthorized {
                endpoint,
                status: status.as_u16(),
            }),
            Ok(_) if status.as_u16() == 429 => Err(SeamError::RateLimited {
                endpoint,
                retry_after,
            }),
            Ok(bytes) => Err(SeamError::Status {
                endpoint,
                status: status.as_u16(),
                // Keep only Seam's error type: the message may echo what we sent.
                error_type: serde_json::from_slice::<ErrorEnvelope>(&bytes)
                    .map(|e| {
                        e.error
                            .error_type
                            .chars()
                            .take(MAX_ERROR_TYPE_CHARS)
                            .collect()
                    })
                    .unwrap_or_else(|_| "non-json".into()),
                request_id: request_id.clone().unwrap_or_else(|| "-".into()),
            }),
        };
        Attempt {
            status: Some(status.as_u16()),
            request_id,
            result,
        }
    }
}
