//! Seam's error envelope, `{"error": {"type", "message"}, "ok": false}`, as one type every
//! handler returns.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use serde_json::json;

/// An error answer in Seam's shape. The `type` strings are the ones the real API uses where we
/// know them, so that a client matching on them behaves here as it would in production.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    status: StatusCode,
    kind: String,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind: kind.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized")
    }

    /// A client session token on an endpoint only the API key may call.
    pub(crate) fn client_session_token_used_for_api_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "client_session_token_used_for_api_key",
            "A client session token cannot be used for this endpoint",
        )
    }

    /// A client session token no session has (never issued, or its session deleted).
    pub(crate) fn client_session_not_found() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "client_session_not_found",
            "Unauthorized (client session not found)",
        )
    }

    pub(crate) fn client_session_revoked() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "client_session_revoked",
            "The client session was revoked",
        )
    }

    pub(crate) fn client_session_expired() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "client_session_expired",
            "The client session has expired",
        )
    }

    pub(crate) fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_input", message)
    }

    pub(crate) fn not_found(kind: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, kind, message)
    }

    pub(crate) fn session_not_found() -> Self {
        Self::not_found("client_session_not_found", "Client session not found")
    }

    pub(crate) fn account_not_found() -> Self {
        Self::not_found("connected_account_not_found", "Connected account not found")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.kind,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(json!({
            "error": { "type": self.kind, "message": self.message },
            "ok": false,
        }))
    }
}
