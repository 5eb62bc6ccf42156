//! Browser access from other origins: exactly the configured origins, with credentials, never
//! an echo of an unlisted `Origin`; preflights are answered without login.

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName};
use actix_web::middleware::Next;

use crate::auth::CSRF_HEADER;
use crate::config::{ConfigError, CorsSettings};
use crate::request_log::REQUEST_ID_HEADER;

/// Every configured origin must be a bare `scheme://host[:port]`: actix-cors compares them
/// exactly, and a wildcard or path would never match (or match too much).
pub(crate) fn check_origins(settings: &CorsSettings) -> Result<(), ConfigError> {
    for origin in &settings.allowed_origins {
        let valid = origin.split_once("://").is_some_and(|(scheme, rest)| {
            matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains('/')
        });
        if !valid {
            return Err(ConfigError::new(
                "cors.allowed_origins",
                format!(
                    "{origin:?} is not an origin: write scheme://host[:port], no path or wildcard"
                ),
            ));
        }
    }
    Ok(())
}

/// CORS for the public listener: exactly the listed origins, with credentials, and never an
/// echo of an unlisted `Origin`. With no origins listed, no CORS headers at all.
pub(crate) fn middleware(settings: &CorsSettings) -> Cors {
    let cors = Cors::default()
        .allowed_methods(["GET", "POST", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static(CSRF_HEADER),
        ])
        .expose_headers([header::RETRY_AFTER, REQUEST_ID_HEADER])
        .supports_credentials()
        .max_age(settings.max_age_secs as usize);
    settings
        .allowed_origins
        .iter()
        .fold(cors, |cors, origin| cors.allowed_origin(origin))
}

/// actix-cors marks every response `Access-Control-Allow-Credentials: true`; only a response
/// that also allows the caller's origin may say so.
pub(crate) async fn credentials_only_with_origin(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        headers.remove(header::ACCESS_CONTROL_ALLOW_CREDENTIALS);
    }
    Ok(response)
}
