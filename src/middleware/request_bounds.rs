//! Bounds on every public request: a declared body over `server.max_body_bytes` is refused
//! with 413 before it is read, and handling that takes longer than `server.request_timeout_ms`
//! is cut off with 504, so that no request holds a worker's attention without end. (Header
//! size is bounded by actix-http itself, which buffers at most 128 KiB of request head.)

use std::time::Duration;

use actix_web::Error;
use actix_web::body::{EitherBody, MessageBody};
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

/// A declared body over the limit is refused before it is read. Answered as a response, not
/// returned as an error, so that the middleware around this one (CORS, the request log) treats
/// it like any other answer: a page can read it, and it is logged and counted.
pub(crate) async fn limit_body<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let limit = req
        .app_data::<Data<RequestBounds>>()
        .map(|bounds| bounds.max_body_bytes);
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let (Some(limit), Some(declared)) = (limit, declared)
        && declared > limit
    {
        return Ok(req.error_response(ApiError::TooLarge).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// Handling that takes longer than the limit is cut off with 504. Wraps the routes that can
/// wait (on Seam or an identity provider), after routing: the router needs the request to
/// itself, and the answer is made from a copy of it.
pub(crate) async fn limit_time<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let Some(limit) = req.app_data::<Data<RequestBounds>>().map(|b| b.timeout) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let request = req.request().clone();
    match timeout(limit, next.call(req)).await {
        Ok(answered) => answered.map(ServiceResponse::map_into_left_body),
        Err(_) => {
            Ok(ServiceResponse::from_err(ApiError::RequestTimeout, request).map_into_right_body())
        }
    }
}
