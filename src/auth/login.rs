//! The authenticated-user extractor: handlers take a `Login`, never a raw header.

use std::future::{Ready, ready};

use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web::Data};
use serde_json::{Map, Value};

use super::{AuthError, Verifier};
use crate::error::ApiError;

/// A user whose login token verified.
pub(crate) struct Login {
    /// The app's user id, from the configured identity claim.
    pub(crate) user_id: String,
    /// Every claim of the verified token (the `claim` account source reads one).
    pub(crate) claims: Map<String, Value>,
}

impl FromRequest for Login {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verifier = req
            .app_data::<Data<Verifier>>()
            .expect("Verifier is registered by startup::Application");
        ready(
            bearer_token(req)
                .and_then(|token| verifier.verify(token))
                .map_err(ApiError::from),
        )
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 7235).
fn bearer_token(req: &HttpRequest) -> Result<&str, AuthError> {
    let header = req.headers().get(AUTHORIZATION).ok_or(AuthError::Missing)?;
    let value = header.to_str().map_err(|_| AuthError::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(AuthError::Malformed);
    }
    Ok(token)
}
