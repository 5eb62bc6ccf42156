//! Gives the errors that actix and its middleware answer by themselves the same JSON envelope
//! as the handlers' (`error::ApiError`), and no caching.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use actix_web::middleware::Next;

use crate::error::{ApiError, envelope};

/// Gives the errors that actix and its middleware answer by themselves (a refused CORS
/// preflight, an unreadable body) the same JSON envelope as ours, and no caching. (A request
/// head over actix-http's limit or a malformed request is answered before the app runs.)
pub(crate) async fn json_envelope(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let response = next.call(req).await?.map_into_boxed_body();
    let foreign = response
        .response()
        .error()
        .is_some_and(|e| e.as_error::<ApiError>().is_none());
    if !foreign {
        return Ok(response);
    }
    let status = response.status();
    let (code, message) = match response.response().error() {
        Some(e) if e.as_error::<actix_cors::CorsError>().is_some() => (
            "cors_rejected",
            "this origin, method or header is not allowed",
        ),
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => ("too_large", "the request is too large"),
        _ => ("bad_request", "the request could not be read"),
    };
    Ok(response.map_body(|head, _| {
        head.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        head.headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        BoxBody::new(envelope(code, message))
    }))
}
