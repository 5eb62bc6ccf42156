//! Login verification: the app's JWT in, its verified claims out. A pure verifier: it keeps
//! nothing about users (the verified-token memo is `login`'s, the user cache the handshake's).
//!
//! RFC 8725 throughout: algorithms are pinned per issuer (a token's `alg` never widens them),
//! a token's own key material (`jwk`, `jku`, `x5u`, `x5c` headers) is never used or fetched,
//! `kid` is only a lookup key, and size is checked before any parsing. Each issuer's rules sit
//! in one `Validation`: signature, `exp` required, and `iss`/`aud` whenever configured (then
//! also required to be present, which jsonwebtoken does not do by itself). Times (`exp`, `nbf`,
//! the lifetime cap) are judged on the service's `Clock` by `rules`, before the signature and
//! again after it, never on the system clock.
//!
//! `Verifier` here holds the order of the checks; `rules` checks what needs no signature work,
//! `issuer` holds each trusted issuer's `Validation` and keys (fixed ones from `keys`, fetched
//! ones from `jwks`, perhaps where the issuer's OpenID document read by `discovery` says),
//! `signature` checks a token against one key, `unverified` is the one reader of claims, and
//! `error` says why a login was refused.

mod discovery;
mod error;
mod issuer;
mod jwks;
mod keys;
mod rules;
mod signature;
mod unverified;

use std::borrow::Cow;
use std::sync::Arc;

use jsonwebtoken::{Header, decode_header};
use serde_json::Value;

use crate::clock::Clock;
use crate::config::{AuthSettings, ConfigError};
use crate::http_failure::NotReady;
use crate::metrics::Metrics;

pub(crate) use error::AuthError;
use issuer::Issuer;
pub(crate) use jwks::IdpClient;
pub(crate) use keys::{KeyTrust, MIN_SECRET_BYTES};
use rules::{Rules, check_logout, check_size};
use signature::Purpose;
pub(crate) use unverified::PayloadRoom;
use unverified::{Claim, ClaimNames, Picked};

/// What a verified token says, as far as the service uses it.
pub(crate) struct Claims {
    /// The issuer that verified it: its place among the trusted issuers
    /// (`AuthSettings::issuer_entries`).
    pub(crate) issuer: usize,
    /// The configured identity claim (`identity.claim`), as text.
    pub(crate) user_id: String,
    /// `exp` in Unix seconds: required, a whole number, and checked.
    pub(crate) expires_at: u64,
    pub(crate) issued_at: Option<u64>,
    /// `sid`: the identity provider's session, which a back-channel logout may end alone.
    pub(crate) session_id: Option<String>,
    /// The `accounts.claim` claim, when the `claim` account source is configured.
    pub(crate) accounts: Option<Value>,
    /// The trust of the key that verified the token: whatever remembers the login must forget
    /// it once that is withdrawn.
    pub(crate) key: KeyTrust,
}

/// What a verified logout token says (OpenID Connect Back-Channel Logout 1.0 §2.4).
pub(crate) struct LogoutClaims {
    /// As in `Claims::issuer`.
    pub(crate) issuer: usize,
    /// `sub`: the user whose logins end, when it names one.
    pub(crate) user_id: Option<String>,
    /// `sid`: the one identity-provider session whose logins end, when it names one.
    pub(crate) session_id: Option<String>,
    /// `jti`, so that a replay can be refused.
    pub(crate) token_id: String,
    /// `iat`: when the user logged out, on the identity provider's clock (which also dated
    /// their logins).
    pub(crate) issued_at: u64,
}

/// A token that passed every check possible without its signature (`Verifier::inspect`).
pub(crate) struct Inspected {
    token: String,
    header: Header,
    issuer: usize,
}

/// The same, for a logout token (`Verifier::inspect_logout`).
pub(crate) struct InspectedLogout(Inspected);

/// What a token is inspected as.
#[derive(Clone, Copy)]
enum Kind {
    Login,
    Logout,
}

/// The claims of a token read without verifying it (see `unverified`): only to find a cache
/// entry; never trusted.
pub(crate) struct Unverified<'p> {
    /// The issuer its `iss` names, as in `Claims::issuer`.
    pub(crate) issuer: usize,
    pub(crate) user_id: Cow<'p, str>,
    pub(crate) accounts: Option<Value>,
}

/// Checks login tokens against the trusted issuers.
pub(crate) struct Verifier {
    issuers: Vec<Issuer>,
    rules: Rules,
    identity_claim: String,
    /// The claim holding connected account ids, read for the `claim` account source.
    accounts_claim: Option<String>,
}

impl Verifier {
    pub(crate) fn from_settings(
        auth: &AuthSettings,
        identity_claim: &str,
        accounts_claim: Option<&str>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ConfigError> {
        if identity_claim.is_empty() {
            return Err(ConfigError::new(
                "identity.claim",
                "must name the token claim holding the user id, e.g. \"sub\"",
            ));
        }
        if auth.backchannel_logout && identity_claim != "sub" {
            return Err(ConfigError::new(
                "auth.backchannel_logout",
                "needs identity.claim = \"sub\": a logout token names its user by `sub`",
            ));
        }
        let rules = Rules::from_settings(auth, clock.clone())?;
        Ok(Self {
            issuers: issuer::from_settings(auth, clock, metrics)?,
            rules,
            identity_claim: identity_claim.to_owned(),
            accounts_claim: accounts_claim.map(str::to_owned),
        })
    }

    fn names(&self, audience: bool) -> ClaimNames<'_> {
        ClaimNames {
            identity: &self.identity_claim,
            accounts: self.accounts_claim.as_deref(),
            audience,
        }
    }

    /// The user id and accounts claim `token` names, read without verifying it and without
    /// waiting on anything: only to find what a token that verified before left in a cache,
    /// which is trusted only if the token's whole text matches. `Ok(None)` when the token is
    /// unusual (then only `verify` decides); `Err` for a token too large to read at all.
    pub(crate) fn unverified<'p>(
        &self,
        token: &str,
        room: &'p mut PayloadRoom,
    ) -> Result<Option<Unverified<'p>>, AuthError> {
        check_size(token)?;
        Ok(room.claims(token, self.names(false)).and_then(|picked| {
            Some(Unverified {
                issuer: self.issuer_for(&picked).ok()?,
                user_id: picked.user_id?,
                accounts: picked.accounts,
            })
        }))
    }

    /// Every check of a login that needs no signature work: size, header, the strict rules,
    /// the issuer, its algorithms, `exp`, `nbf`, `iss`, `aud` and `typ`. These only refuse, so
    /// an expired, malformed or misaddressed token is turned away for nothing; what remains is
    /// the signature (`verify`).
    pub(crate) fn inspect(&self, token: String) -> Result<Inspected, AuthError> {
        let (header, issuer) = self.inspect_as(&token, Kind::Login)?;
        Ok(Inspected {
            token,
            header,
            issuer,
        })
    }

    /// As `inspect`, for a logout token (OpenID Connect Back-Channel Logout 1.0 §2.6): addressed
    /// to its issuer's `logout_audience`, with `iat`, `jti`, the logout event, `sub` and/or
    /// `sid`, no `nonce`, and typed `logout+jwt` when typed at all.
    pub(crate) fn inspect_logout(&self, token: String) -> Result<InspectedLogout, AuthError> {
        let (header, issuer) = self.inspect_as(&token, Kind::Logout)?;
        Ok(InspectedLogout(Inspected {
            token,
            header,
            issuer,
        }))
    }

    /// Checks the signature of an inspected login, then reads the claims the service uses.
    /// `AuthError::BadSignature` is the one failure that cost a signature check.
    pub(crate) async fn verify(
        &self,
        inspected: Inspected,
        http: &IdpClient,
    ) -> Result<Claims, AuthError> {
        let Inspected {
            token,
            header,
            issuer,
        } = inspected;
        let key = (self.issuers[issuer])
            .check(&token, &header, http, Purpose::Login)
            .await?;
        let mut buffer = unverified::buffer_for(&token);
        let Picked {
            user_id,
            accounts,
            expires_at,
            issued_at,
            session_id,
            ..
        } = self.verified_claims(&token, &mut buffer)?;
        let user_id = user_id.ok_or_else(|| AuthError::BadClaim(self.identity_claim.clone()))?;
        Ok(Claims {
            issuer,
            user_id: user_id.into_owned(),
            // Required and checked, so present.
            expires_at: expires_at.valid().unwrap_or(0),
            issued_at: issued_at.valid(),
            session_id: session_id.map(Cow::into_owned),
            accounts,
            key,
        })
    }

    /// Checks the signature of an inspected logout token, then reads what it says.
    pub(crate) async fn verify_logout(
        &self,
        InspectedLogout(inspected): InspectedLogout,
        http: &IdpClient,
    ) -> Result<LogoutClaims, AuthError> {
        let Inspected {
            token,
            header,
            issuer,
        } = inspected;
        let audience = self.logout_audience(issuer)?;
        (self.issuers[issuer])
            .check(&token, &header, http, Purpose::Logout(audience))
            .await?;
        let mut buffer = unverified::buffer_for(&token);
        let picked = self.verified_claims(&token, &mut buffer)?;
        // Present: inspection refused the token otherwise.
        let (Some(token_id), Claim::Valid(issued_at)) = (picked.token_id, picked.issued_at) else {
            return Err(malformed());
        };
        Ok(LogoutClaims {
            issuer,
            user_id: picked.user_id.map(Cow::into_owned),
            session_id: picked.session_id.map(Cow::into_owned),
            token_id: token_id.into_owned(),
            issued_at,
        })
    }

    /// The claims of a token whose signature has just verified: those the signature covers
    /// (the same text that was inspected). Its times are judged again, as nothing else judges
    /// them after the signature: the wait since inspection (the client's turn, a key fetch) may
    /// have outlasted the token.
    fn verified_claims<'p>(
        &self,
        token: &str,
        buffer: &'p mut [u8],
    ) -> Result<Picked<'p>, AuthError> {
        let picked = unverified::claims(token, buffer, self.names(false)).ok_or_else(malformed)?;
        self.rules.check_times(&picked, self.rules.now())?;
        Ok(picked)
    }

    /// What every token goes through before its signature (all of it only refuses): its size,
    /// header and claims read, the strict rules, the issuer whose keys will check it, and the
    /// claims that issuer's rules require; then what its kind requires. Its times are judged
    /// at one instant of the service's clock.
    fn inspect_as(&self, token: &str, kind: Kind) -> Result<(Header, usize), AuthError> {
        check_size(token)?;
        let header = decode_header(token).map_err(|_| malformed())?;
        let mut buffer = unverified::buffer_for(token);
        let picked =
            unverified::claims(token, &mut buffer, self.names(true)).ok_or_else(malformed)?;
        let now = self.rules.now();
        self.rules.check_strictly(&header, &picked, now)?;
        let issuer = self.issuer_for(&picked)?;
        let audience = match kind {
            Kind::Login => self.issuers[issuer].audience(),
            Kind::Logout => Some(self.logout_audience(issuer)?),
        };
        (self.rules).check_rules(&self.issuers[issuer], &header, &picked, audience, now)?;
        match kind {
            Kind::Login => self.rules.check_login(&header, &picked)?,
            Kind::Logout => check_logout(&header, &picked)?,
        }
        Ok((header, issuer))
    }

    fn logout_audience(&self, issuer: usize) -> Result<&str, AuthError> {
        (self.issuers[issuer].logout_audience())
            .ok_or_else(|| AuthError::Rejected("back-channel logout is off".into()))
    }

    /// `Ok` once every issuer has keys to verify with (a JWKS may still be loading).
    pub(crate) async fn ready(&self, http: &IdpClient) -> Result<(), NotReady> {
        for issuer in &self.issuers {
            issuer.ready(http).await?;
        }
        Ok(())
    }

    /// The place of the issuer whose keys check this token. With one issuer, that one (it still
    /// checks `iss` when configured). With several, the one named by the token's `iss`, read
    /// before verification only to choose the keys: the chosen issuer's `Validation` then
    /// requires that same `iss`.
    fn issuer_for(&self, unverified: &Picked) -> Result<usize, AuthError> {
        if self.issuers.len() == 1 {
            return Ok(0);
        }
        let Claim::Valid(iss) = &unverified.issuer else {
            return Err(AuthError::Rejected("missing `iss`".into()));
        };
        self.issuers
            .iter()
            .position(|issuer| issuer.name() == Some(&**iss))
            .ok_or_else(|| AuthError::Rejected("untrusted issuer".into()))
    }
}

fn malformed() -> AuthError {
    AuthError::Rejected("malformed token".into())
}

#[cfg(test)]
pub(crate) mod tests;
