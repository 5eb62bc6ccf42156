//! What can go wrong talking to Seam. Display texts are for logs: they name the endpoint,
//! status, Seam's error type and request id, never a body, key or token.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub(crate) enum SeamError {
    #[error("seam {endpoint} timed out")]
    Timeout { endpoint: &'static str },
    #[error("seam {endpoint} unreachable: {reason}")]
    Unreachable {
        endpoint: &'static str,
        reason: String,
    },
    #[error("seam {endpoint} rejected the API key (status {status})")]
    Unauthorized { endpoint: &'static str, status: u16 },
    #[error("seam {endpoint} rate limited the service")]
    RateLimited {
        endpoint: &'static str,
        retry_after: Option<Duration>,
    },
    #[error("seam {endpoint} answered {status} (type {error_type}, request {request_id})")]
    Status {
        endpoint: &'static str,
        status: u16,
        error_type: String,
        request_id: String,
    },
    #[error("seam {endpoint} sent a response that could not be read: {reason}")]
    BadResponse {
        endpoint: &'static str,
        reason: String,
    },
    #[error("seam calls paused by the circuit breaker")]
    CircuitOpen { retry_after: Duration },
    #[error("seam returned a session that cannot be handed out: {0}")]
    UnusableSession(&'static str),
}
