//! The authenticated-user extractor: handlers take a `Login`, never a raw header.
//!
//! The login comes from `Authorization: Bearer <token>`, or, when `auth.cookie_name` is set
//! and there is no such header, from that cookie. A browser attaches cookies to cross-site
//! requests on its own, so a cookie login must also prove it came from our frontend: it must
//! carry `X-CSRF: 1` (a custom header no cross-site form or simple request can send, and
//! which forces a CORS preflight), and an `Origin`, when present, must be an allowed one.

use actix_web::dev::Payload;
use actix_web::http::header::{AUTHORIZATION, ORIGIN};
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::{Either, LocalBoxFuture};
use std::borrow::Cow;
use std::future::{Ready, ready};
use std::sync::Arc;

use serde_json::Value;

use super::{AuthError, IdpClient, Recalled, Verifier};
use crate::error::ApiError;
use crate::startup::registered;
use crate::users::User;

/// Header a cookie-authenticated request must carry, with value `1`.
pub(crate) const CSRF_HEADER: &str = "x-csrf";

/// A user whose login token verified.
pub(crate) struct Login {
    /// Everything cached about the user, their id included.
    pub(crate) user: Arc<User>,
    /// The `accounts.claim` claim, when the `claim` account source is configured.
    pub(crate) accounts_claim: Option<Value>,
}

impl Login {
    /// The app's user id, from the configured identity claim.
    pub(crate) fn user_id(&self) -> &str {
        &self.user.user_id
    }
}

/// Where a browser's login may come from, and from which pages.
pub(crate) struct BrowserRules {
    pub(crate) cookie_name: Option<String>,
    pub(crate) allowed_origins: Vec<String>,
}

impl FromRequest for Login {
    type Error = ApiError;
    type Future =
        Either<Ready<Result<Self, ApiError>>, LocalBoxFuture<'static, Result<Self, ApiError>>>;

    /// A token that verified before is answered at once: a repeat handshake allocates no
    /// future here. Only the first sight of a token waits (for its signature check and,
    /// with a JWKS, for keys).
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verifier = registered::<Verifier>(req);
        let rules = registered::<BrowserRules>(req);
        let recalled =
            credential(req, rules).and_then(|token| Ok((verifier.recall(&token)?, token)));
        let (unseen, token) = match recalled {
            Ok((Recalled::Known(login), _)) => return Either::Left(ready(Ok(login))),
            Ok((Recalled::Unseen(unseen), token)) => (unseen, token.into_owned()),
            Err(error) => return Either::Left(ready(Err(error.into()))),
        };
        let verifier = verifier.clone();
        let http = registered::<IdpClient>(req).clone();
        Either::Right(Box::pin(async move {
            Ok(verifier.verify_unseen(&token, unseen, &http).await?)
        }))
    }
}

/// The login token of this request: the bearer header, else the login cookie (CSRF-checked).
fn credential<'r>(req: &'r HttpRequest, rules: &BrowserRules) -> Result<Cow<'r, str>, AuthError> {
    if let Some(header) = req.headers().get(AUTHORIZATION) {
        let value = header.to_str().map_err(|_| AuthError::Malformed)?;
        let (scheme, token) = value.split_once(' ').ok_or(AuthError::Malformed)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(AuthError::Malformed);
        }
        return Ok(Cow::Borrowed(token));
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
    Ok(Cow::Owned(cookie.value().to_owned()))
}
