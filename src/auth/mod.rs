//! Login verification: the app's JWT in, the user it names out.
//!
//! All token rules live in one `Validation`, built once from settings: pinned algorithms,
//! signature, `exp`, `nbf`, and `iss`/`aud` whenever they are configured (then they are also
//! required to be present, which jsonwebtoken does not do by itself).

mod keys;
mod login;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, Validation, decode};
use serde_json::{Map, Value};

use crate::config::{AuthSettings, ConfigError, IdentitySettings};

pub(crate) use login::Login;

/// Tokens longer than this are refused before any parsing: no identity provider issues them,
/// and parsing attacker-sized input is a cost we need not pay.
const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// User ids become Seam `user_identifier_key`s; Seam ids are far shorter than this.
const MAX_USER_ID_BYTES: usize = 255;

/// Why a login was refused. The display text is for logs; it never includes the token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum AuthError {
    #[error("no bearer token")]
    Missing,
    #[error("authorization header is not `Bearer <token>`")]
    Malformed,
    #[error("token longer than {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet")]
    NotYetValid,
    #[error("token rejected: {0}")]
    Rejected(String),
    #[error("token has no usable `{0}` claim")]
    BadClaim(String),
}

/// Checks login tokens against the configured key and rules.
pub(crate) struct Verifier {
    key: DecodingKey,
    validation: Validation,
    identity_claim: String,
}

impl Verifier {
    pub(crate) fn from_settings(
        auth: &AuthSettings,
        identity: &IdentitySettings,
    ) -> Result<Self, ConfigError> {
        let (key, algorithms) = keys::decoding_key(auth)?;
        if identity.claim.is_empty() {
            return Err(ConfigError::new(
                "identity.claim",
                "must name the token claim holding the user id, e.g. \"sub\"",
            ));
        }
        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms;
        validation.leeway = auth.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        if let Some(issuer) = non_empty(&auth.issuer) {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        match non_empty(&auth.audience) {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            // Without a configured audience there is nothing to match `aud` against;
            // jsonwebtoken would otherwise refuse every token that carries one.
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        Ok(Self {
            key,
            validation,
            identity_claim: identity.claim.clone(),
        })
    }

    /// Verifies `token` and returns the user it names with its claims.
    pub(crate) fn verify(&self, token: &str) -> Result<Login, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TooLarge);
        }
        let data = decode::<Map<String, Value>>(token, &self.key, &self.validation).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                other => AuthError::Rejected(describe(other)),
            },
        )?;
        let user_id = match data.claims.get(&self.identity_claim) {
            Some(Value::String(id)) if !id.is_empty() && id.len() <= MAX_USER_ID_BYTES => {
                id.clone()
            }
            Some(Value::Number(n)) if n.is_u64() || n.is_i64() => n.to_string(),
            _ => return Err(AuthError::BadClaim(self.identity_claim.clone())),
        };
        Ok(Login {
            user_id,
            claims: data.claims,
        })
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

/// A log-safe description of a verification failure (jsonwebtoken's own messages can quote
/// parts of the token, e.g. in JSON errors).
fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::InvalidSignature => "bad signature".into(),
        ErrorKind::InvalidAlgorithm => "algorithm not accepted".into(),
        ErrorKind::InvalidIssuer => "wrong issuer".into(),
        ErrorKind::InvalidAudience => "wrong audience".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("missing `{claim}`"),
        ErrorKind::InvalidClaimFormat(claim) => format!("malformed `{claim}`"),
        _ => "malformed token".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn settings(issuer: Option<&str>, audience: Option<&str>) -> (AuthSettings, IdentitySettings) {
        (
            AuthSettings {
                issuer: issuer.map(str::to_owned),
                audience: audience.map(str::to_owned),
                algorithms: vec!["HS256".into()],
                hs256_secret: Some(SECRET.into()),
                hs256_secret_file: None,
                public_key_file: None,
                leeway_secs: 0,
            },
            IdentitySettings {
                claim: "sub".into(),
                key_prefix: String::new(),
            },
        )
    }

    fn token(claims: Value) -> String {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .expect("encodes")
    }

    fn exp() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp() + 600
    }

    #[test]
    fn numeric_user_ids_are_accepted_as_text() {
        let (auth, identity) = settings(None, None);
        let verifier = Verifier::from_settings(&auth, &identity).expect("builds");
        let login = verifier
            .verify(&token(json!({"sub": 42, "exp": exp()})))
            .expect("valid");
        assert_eq!(login.user_id, "42");
    }

    #[test]
    fn configured_issuer_and_audience_must_be_present() {
        let (auth, identity) = settings(Some("https://idp"), Some("bff"));
        let verifier = Verifier::from_settings(&auth, &identity).expect("builds");
        let no_iss = token(json!({"sub": "u", "exp": exp(), "aud": "bff"}));
        assert_eq!(
            verifier.verify(&no_iss).map(|l| l.user_id),
            Err(AuthError::Rejected("missing `iss`".into()))
        );
        let good = token(json!({"sub": "u", "exp": exp(), "aud": "bff", "iss": "https://idp"}));
        assert_eq!(verifier.verify(&good).map(|l| l.user_id), Ok("u".into()));
    }

    #[test]
    fn oversize_and_userless_tokens_are_refused() {
        let (auth, identity) = settings(None, None);
        let verifier = Verifier::from_settings(&auth, &identity).expect("builds");
        let padding = "x".repeat(MAX_TOKEN_BYTES);
        assert_eq!(
            verifier
                .verify(&token(json!({"sub": "u", "exp": exp(), "pad": padding})))
                .err(),
            Some(AuthError::TooLarge)
        );
        assert_eq!(
            verifier
                .verify(&token(json!({"sub": "", "exp": exp()})))
                .err(),
            Some(AuthError::BadClaim("sub".into()))
        );
    }
}
