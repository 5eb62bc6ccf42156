//! Browser access from other origins: exactly the configured origins, with credentials, never
//! an echo of an unlisted `Origin`; preflights are answered without login.
//!
//! And the rule for logins a browser sends by itself: when `auth.cookie_name` is set, a request
//! without an `Authorization` header may log in with that cookie. A browser attaches cookies to
//! cross-site requests on its own, so a cookie login must also prove it came from our frontend:
//! it must carry `X-CSRF: 1` (a custom header no cross-site form or simple request can send,
//! and which forces a CORS preflight), and an `Origin`, when present, must be an allowed one.

use actix_cors::Cors;
use actix_web::HttpRequest;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, ORIGIN};
use actix_web::middleware::Next;

use super::request_log::REQUEST_ID_HEADER;
use crate::auth::AuthError;
use crate::config::{AuthSettings, ConfigError, CorsSettings};
use crate::limits::{RATELIMIT, RATELIMIT_POLICY};

/// Header a cookie-authenticated request must carry, with value `1`.
const CSRF_HEADER: &str = "x-csrf";

/// Where a browser's login may come from, and from which pages.
pub(crate) struct BrowserRules {
    cookie_name: Option<String>,
    allowed_origins: Vec<String>,
}

impl BrowserRules {
    pub(crate) fn from_settings(
        auth: &AuthSettings,
        cors: &CorsSettings,
    ) -> Result<Self, ConfigError> {
        check_origins(cors)?;
        Ok(Self {
            cookie_name: auth.cookie_name.clone().filter(|n| !n.is_empty()),
            allowed_origins: cors.allowed_origins.clone(),
        })
    }

    /// The request's login cookie, when cookie logins are on and it carries one, and only if
    /// the request proves it came from an allowed page. Two cookies of that name are refused:
    /// a browser sends both when another site (a parent domain) planted one.
    pub(crate) fn login_cookie(&self, req: &HttpRequest) -> Result<Option<String>, AuthError> {
        let Some(name) = self.cookie_name.as_deref() else {
            return Ok(None);
        };
        // Unreadable cookies carry no login, as for `HttpRequest::cookie`.
        let Ok(cookies) = req.cookies() else {
            return Ok(None);
        };
        let mut named = cookies.iter().filter(|cookie| cookie.name() == name);
        let Some(cookie) = named.next() else {
            return Ok(None);
        };
        if named.next().is_some() {
            return Err(AuthError::Ambiguous("two login cookies"));
        }
        if req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) != Some("1") {
            return Err(AuthError::Csrf("missing `X-CSRF: 1` header"));
        }
        if let Some(origin) = req.headers().get(ORIGIN) {
            let allowed = origin
                .to_str()
                .is_ok_and(|o| self.allowed_origins.iter().any(|a| a == o));
            if !allowed {
                return Err(AuthError::Csrf("origin not allowed"));
            }
        }
        Ok(Some(cookie.value().to_owned()))
    }
}

/// Every configured origin must be a bare `scheme://host[:port]`: actix-cors compares them
/// exactly, and a wildcard or path would never match (or match too much).
fn check_origins(settings: &CorsSettings) -> Result<(), ConfigError> {
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
        .expose_headers([
            header::RETRY_AFTER,
            RATELIMIT_POLICY,
            RATELIMIT,
            REQUEST_ID_HEADER,
        ])
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
