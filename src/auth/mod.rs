//! Login verification: the app's JWT in, the user it names out.
//!
//! RFC 8725 throughout: algorithms are pinned per issuer (a token's `alg` never widens them),
//! a token's own key material (`jwk`, `jku`, `x5u`, `x5c` headers) is never used or fetched,
//! `kid` is only a lookup key, and size is checked before any parsing. Each issuer's rules sit
//! in one `Validation`: signature, `exp`, `nbf`, and `iss`/`aud` whenever configured (then
//! also required to be present, which jsonwebtoken does not do by itself).

mod issuer;
mod jwks;
mod keys;
mod login;
mod verified;

use std::sync::Arc;

use jsonwebtoken::{Header, decode_header};
use serde::Deserialize;
use serde_json::Value;

use crate::cache::{Lookups, Outcome};
use crate::clock::Clock;
use crate::config::{AuthSettings, ConfigError, IdentitySettings};
use crate::metrics::Metrics;
use crate::users::Users;

pub(crate) use issuer::IdpClient;
use issuer::Issuer;
pub(crate) use keys::MIN_SECRET_BYTES;
pub(crate) use login::{BrowserRules, CSRF_HEADER, Login};
pub(crate) use verified::VerifiedTokens;

/// Tokens longer than this are refused before any parsing: no identity provider issues them,
/// and parsing attacker-sized input is a cost we need not pay.
const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// User ids become Seam `user_identifier_key`s; Seam ids are far shorter than this.
const MAX_USER_ID_BYTES: usize = 255;

/// Why a login was refused. The display text is for logs; it never includes the token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum AuthError {
    #[error("no bearer token or login cookie")]
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
    #[error("cookie login refused: {0}")]
    Csrf(&'static str),
}

/// Checks login tokens against the trusted issuers.
pub(crate) struct Verifier {
    issuers: Vec<Issuer>,
    required_typ: Option<String>,
    identity_claim: String,
    /// The claim holding connected account ids, kept for the `claim` account source.
    accounts_claim: Option<String>,
    /// Tokens remembered per user after one signature check (`auth.verified_tokens_per_user`).
    remember: usize,
    leeway: u64,
    users: Arc<Users>,
    lookups: Lookups,
}

/// What `Verifier::recall` found.
pub(crate) enum Recalled {
    /// The token verified before.
    Known(Login),
    /// The token must be verified.
    Unseen(Unseen),
}

/// A token `Verifier::recall` did not know: its digest, for `Verifier::verify_unseen`.
pub(crate) struct Unseen(verified::Digest);

/// What a verified token says, as far as the service uses it.
struct Claims {
    user_id: String,
    accounts_claim: Option<Value>,
}

impl Verifier {
    pub(crate) fn from_settings(
        auth: &AuthSettings,
        identity: &IdentitySettings,
        accounts_claim: Option<&str>,
        users: Arc<Users>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ConfigError> {
        if identity.claim.is_empty() {
            return Err(ConfigError::new(
                "identity.claim",
                "must name the token claim holding the user id, e.g. \"sub\"",
            ));
        }
        let lookups = Lookups::new("login", &metrics);
        let issuers = issuer::from_settings(auth, clock, metrics)?;
        Ok(Self {
            issuers,
            required_typ: auth.required_typ.clone().filter(|t| !t.is_empty()),
            identity_claim: identity.claim.clone(),
            accounts_claim: accounts_claim.map(str::to_owned),
            remember: auth.verified_tokens_per_user,
            leeway: auth.leeway_secs,
            users,
            lookups,
        })
    }

    /// Without waiting on anything: the login of a token that verified before and has not
    /// expired since, else what `verify_unseen` needs to check it.
    pub(crate) fn recall(&self, token: &str) -> Result<Recalled, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TooLarge);
        }
        let digest = verified::digest(token);
        if self.remember > 0
            && let Some(login) = self.remembered(token, &digest)
        {
            self.lookups.count(Outcome::Hit);
            return Ok(Recalled::Known(login));
        }
        Ok(Recalled::Unseen(Unseen(digest)))
    }

    /// Verifies a token that `recall` did not know, and returns the user it names.
    pub(crate) async fn verify_unseen(
        &self,
        token: &str,
        Unseen(digest): Unseen,
        http: &IdpClient,
    ) -> Result<Login, AuthError> {
        let (claims, exp) = self.verify_signed(token, http).await?;
        self.lookups.count(Outcome::Miss);
        let user = self.users.get_or_insert(&claims.user_id);
        if self.remember > 0 {
            let now = jsonwebtoken::get_current_timestamp();
            user.tokens
                .remember(digest, exp, now, self.leeway, self.remember);
        }
        Ok(Login {
            user,
            accounts_claim: claims.accounts_claim,
        })
    }

    /// The login of a token that verified before and has not expired since, found through
    /// the user id its unverified claims name (trusted only once the digest matches).
    fn remembered(&self, token: &str, digest: &verified::Digest) -> Option<Login> {
        let mut payload: verified::PayloadBuffer = [0; 2048];
        let claims = verified::unverified_claims(
            token,
            &mut payload,
            &self.identity_claim,
            self.accounts_claim.as_deref(),
        )?;
        let user_id = claims.identity.filter(|id| usable_user_id(id))?;
        let user = self.users.get(&user_id)?;
        let now = jsonwebtoken::get_current_timestamp();
        user.tokens.knows(digest, now, self.leeway).then(|| Login {
            user,
            accounts_claim: claims.accounts,
        })
    }

    /// Checks the signature and every claim rule; returns the claims used and the `exp`.
    async fn verify_signed(
        &self,
        token: &str,
        http: &IdpClient,
    ) -> Result<(Claims, u64), AuthError> {
        let header =
            decode_header(token).map_err(|_| AuthError::Rejected("malformed token".into()))?;
        self.check_typ(&header)?;
        let issuer = self.issuer_for(token)?;
        let mut claims = issuer.decode(token, &header, http).await?;
        let user_id = user_id(claims.remove(&self.identity_claim))
            .ok_or_else(|| AuthError::BadClaim(self.identity_claim.clone()))?;
        // `exp` is required and was checked; only what later steps need is kept.
        let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        let accounts_claim = self
            .accounts_claim
            .as_ref()
            .and_then(|name| claims.remove(name));
        Ok((
            Claims {
                user_id,
                accounts_claim,
            },
            exp,
        ))
    }

    /// `Ok` once every issuer has keys to verify with (a JWKS may still be loading).
    pub(crate) async fn ready(&self, http: &IdpClient) -> Result<(), &'static str> {
        for issuer in &self.issuers {
            issuer.ready(http).await?;
        }
        Ok(())
    }

    fn check_typ(&self, header: &Header) -> Result<(), AuthError> {
        match (&self.required_typ, &header.typ) {
            (None, _) => Ok(()),
            (Some(wanted), Some(typ)) if typ.eq_ignore_ascii_case(wanted) => Ok(()),
            _ => Err(AuthError::Rejected("wrong `typ`".into())),
        }
    }

    /// With one issuer, that one (it still checks `iss` when configured). With several, the one
    /// named by the token's `iss`, read before verification only to choose the keys: the
    /// chosen issuer's `Validation` then requires that same `iss`.
    fn issuer_for(&self, token: &str) -> Result<&Issuer, AuthError> {
        if let [only] = self.issuers.as_slice() {
            return Ok(only);
        }
        #[derive(Deserialize)]
        struct Unverified {
            iss: Option<String>,
        }
        let iss = jsonwebtoken::dangerous::insecure_decode_claims::<Unverified>(token)
            .ok()
            .and_then(|c| c.iss)
            .ok_or_else(|| AuthError::Rejected("missing `iss`".into()))?;
        self.issuers
            .iter()
            .find(|issuer| issuer.name() == Some(iss.as_str()))
            .ok_or_else(|| AuthError::Rejected("untrusted issuer".into()))
    }
}

/// The user id in the identity claim: a string, or an integer in decimal, that
/// `usable_user_id` accepts.
fn user_id(claim: Option<Value>) -> Option<String> {
    let id = match claim? {
        Value::String(id) => id,
        Value::Number(n) if n.is_u64() || n.is_i64() => n.to_string(),
        _ => return None,
    };
    usable_user_id(&id).then_some(id)
}

fn usable_user_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_USER_ID_BYTES
}

#[cfg(test)]
mod tests;
