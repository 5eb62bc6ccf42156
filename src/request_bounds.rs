//! Bounds on every public request: a declared body over `server.max_body_bytes` is refused
//! with 413 before it is read, and handling that takes longer than `server.request_timeout_ms`
//! is cut off with 504, so that no request holds a worker's attention without end. (Header
//! size is bounded by actix-web itself, at 32 KiB.)

use std::time::Duration;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::middleware::Next;
use actix_web::rt::time::timeout;
use actix_web::web::Data;

use crate::config::{ConfigError, ServerSettings};
use crate::error::ApiError;

pub(crate) struct RequestBounds {
    max_body_bytes: u64,
    timeout: Duration,
}

impl RequestBounds {
    pub(crate) fn from_settings(server: &ServerSettings) -> Result<Self, ConfigError> {
        if server.request_timeout_ms == 0 {
            return Err(ConfigError::new(
                "server.request_timeout_ms",
                "must be above 0",
            ));
        }
        Ok(Self {
            max_body_bytes: server.max_body_bytes as u64,
            timeout: Duration::from_millis(server.request_timeout_ms),
        })
    }
}

pub(crate) async fn bound(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let Some(bounds) = req.app_data::<Data<RequestBounds>>().cloned() else {
        return next.call(req).await;
    };
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > bounds.max_body_bytes) {
        return Err(ApiError::TooLarge.into());
    }
    timeout(bounds.timeout, next.call(req))
        .await
        .unwrap_or_else(|_| Err(ApiError::RequestTimeout.into()))
}
