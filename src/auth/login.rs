//! The authenticated-user extractor: handlers take a `Login`, never a raw header.
//!
//! The login comes from `Authorization: Bearer <token>`, or, when `auth.cookie_name` is set
//! and there is no such header, from that cookie. A browser attaches cookies to cross-site
//! requests on its own, so a cookie login must also prove it came from our frontend: it must
//! carry `X-CSRF: 1` (a custom header no cross-site form or simple request can send, and
//! which forces a CORS preflight), and an `Origin`, when present, must be an allowed one.

use actix_web::dev::Payload;
use actix_web::http::header::{AUTHORIZATION, ORIGIN};
use actix_web::{FromRequest, HttpRequest, web::Data};
use futures_util::future::LocalBoxFuture;
use std::sync::Arc;

use serde_json::Value;

use super::{AuthError, IdpClient, Verifier};
use crate::error::ApiError;
use crate::users::User;

/// Header a cookie-authenticated request must carry, with value `1`.
pub(crate) const CSRF_HEADER: &str = "x-csrf";

/// A user whose login token verified.
pub(crate) struct Login {
    /// The app's user id, from the configured identity claim.
    pub(crate) user_id: String,
    /// Everything cached about the user.
    pub(crate) user: Arc<User>,
    /// The `accounts.claim` claim, when the `claim` account source is configured.
    pub(crate) accounts_claim: Option<Value>,
}

/// Where a browser's login may come from, and from which pages.
pub(crate) struct BrowserRules {
    pub(crate) cookie_name: Option<String>,
    pub(crate) allowed_origins: Vec<String>,
}

impl FromRequest for Login {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let verifier = req
                .app_data::<Data<Verifier>>()
                .expect("Verifier is registered by startup");
            let http = req
                .app_data::<Data<IdpClient>>()
                .expect("IdpClient is registered by startup");
            let rules = req
                .app_data::<Data<BrowserRules>>()
                .expect("BrowserRules are registered by startup");
            let token = credential(&req, rules)?;
            Ok(verifier.verify(&token, http).await?)
        })
    }
}

/// The login token of this request: the bearer header, else the login cookie (CSRF-checked).
fn credential(req: &HttpRequest, rules: &BrowserRules) -> Result<String, AuthError> {
    if let Some(header) = req.headers().get(AUTHORIZATION) {
        let value = header.to_str().map_err(|_| AuthError::Malformed)?;
        let (scheme, token) = value.split_once(' ').ok_or(AuthError::Malformed)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(AuthError::Malformed);
        }
        return Ok(token.to_owned());
    }
    let cookie = rules
        .cookie_name
        .as_deref()
        .and_then(|name| req.cookie(name))
        .ok_or(AuthError::Missing)?;
    if req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) != Some("1") {
        return Err(AuthError::Csrf("missing `X-CSRF: 1` header"));
    }
    if let Some(origin) = req.headers().get(ORIGIN) {
        let allowed = origin
            .to_str()
            .is_ok_and(|o| rules.allowed_origins.iter().any(|a| a == o));
        if !allowed {
            return Err(AuthError::Csrf("origin not allowed"));
        }
    }
    Ok(cookie.value().to_owned())
}
