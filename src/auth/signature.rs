//! One signature check: a token against one key under its issuer's `Validation`, for a login or
//! for a logout token, with jsonwebtoken's refusals turned into `AuthError`s that quote nothing
//! of the token. Shared by the fixed keys (`issuer`) and the fetched ones (`jwks`).

use std::borrow::Cow;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, Validation, decode};
use serde::de::IgnoredAny;

use super::error::AuthError;

/// Which kind of token a check is for: they differ in the audience they are meant for.
#[derive(Clone, Copy)]
pub(super) enum Purpose<'a> {
    Login,
    /// A logout token, for this audience (the client id).
    Logout(&'a str),
}

pub(super) fn decode_with(
    token: &str,
    key: &DecodingKey,
    validation: &Validation,
    purpose: Purpose,
) -> Result<(), AuthError> {
    let validation = match purpose {
        Purpose::Login => Cow::Borrowed(validation),
        // The issuer's rules, addressed to the client: `aud` required and matched.
        Purpose::Logout(audience) => {
            let mut logout = validation.clone();
            logout.set_audience(&[audience]);
            logout.validate_aud = true;
            logout.required_spec_claims.insert("aud".into());
            Cow::Owned(logout)
        }
    };
    // Only the check: the claims the service uses are read by `unverified`, one way for both
    // a hint and a verified token. Times are not judged here (see `issuer`), so no refusal is
    // about them.
    decode::<IgnoredAny>(token, key, &validation)
        .map(drop)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => AuthError::BadSignature("bad signature"),
            other => AuthError::Rejected(describe(other)),
        })
}

/// A log-safe description of a verification failure (jsonwebtoken's own messages can quote
/// parts of the token, e.g. in JSON errors).
fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::InvalidAlgorithm => "algorithm not accepted".into(),
        ErrorKind::InvalidIssuer => "wrong issuer".into(),
        ErrorKind::InvalidAudience => "wrong audience".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("missing `{claim}`"),
        ErrorKind::InvalidClaimFormat(claim) => format!("malformed `{claim}`"),
        _ => "malformed token".into(),
    }
}
