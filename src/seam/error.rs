//! What can go wrong talking to Seam. Display texts are for logs: they name the endpoint,
//! status, Seam's error type and request id, never a body, key or token.

use std::time::Duration;

use crate::http_failure::Cause;

#[derive(Debug, thiserror::Error)]
pub(crate) enum SeamError {
    #[error("seam {endpoint} timed out")]
    Timeout { endpoint: &'static str },
    #[error("seam {endpoint} unreachable ({}): {reason}", cause.as_str())]
    Unreachable {
        endpoint: &'static str,
        cause: Cause,
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
    /// The API key's workspace is not the one `seam.workspace_id` / `seam.sandbox` pin: the
    /// call was not sent.
    #[error(
        "the API key's workspace {workspace_id} (sandbox: {sandbox}) is not the pinned one; \
         not sent to seam"
    )]
    WorkspaceMismatch { workspace_id: String, sandbox: bool },
}

impl SeamError {
    /// When the failure is Seam's (unreachable, timed out, a 5xx, rate limiting, a body that
    /// cannot be read, the breaker open): its name for the metrics, and the wait Seam or the
    /// breaker suggests. `None` for anything else: the API key refused, an unexpected 4xx, a
    /// session the service will not hand out, a workspace that is not the pinned one (no
    /// session is served stale for it: the operator must act).
    pub(crate) fn outage(&self) -> Option<(&'static str, Option<Duration>)> {
        match self {
            SeamError::Timeout { .. } => Some(("timeout", None)),
            SeamError::Unreachable { .. } => Some(("unreachable", None)),
            SeamError::Status { status, .. } if *status >= 500 => Some(("status_5xx", None)),
            SeamError::RateLimited { retry_after, .. } => Some(("rate_limited", *retry_after)),
            SeamError::CircuitOpen { retry_after } => Some(("circuit_open", Some(*retry_after))),
            SeamError::BadResponse { .. } => Some(("bad_response", None)),
            SeamError::Unauthorized { .. }
            | SeamError::Status { .. }
            | SeamError::UnusableSession(_)
            | SeamError::WorkspaceMismatch { .. } => None,
        }
    }

    /// What to look at: the failure's class (`http_failure`); `None` for a refusal that is no
    /// failure to reach Seam (the breaker, a session the service will not hand out, a
    /// workspace that is not the pinned one).
    pub(crate) fn cause(&self) -> Option<Cause> {
        match self {
            SeamError::Timeout { .. } => Some(Cause::Timeout),
            SeamError::Unreachable { cause, .. } => Some(*cause),
            SeamError::Unauthorized { .. }
            | SeamError::RateLimited { .. }
            | SeamError::Status { .. } => Some(Cause::Status),
            SeamError::BadResponse { .. } => Some(Cause::Body),
            SeamError::CircuitOpen { .. }
            | SeamError::UnusableSession(_)
            | SeamError::WorkspaceMismatch { .. } => None,
        }
    }
}
