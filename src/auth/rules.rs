//! The rules a token must meet that need no signature work, checked from its unverified claims
//! before the signature (they only refuse, so a token they turn away costs nothing): its size,
//! RFC 7515/7519's strict forms, the lifetime cap, the issuer's algorithms, `exp`, `nbf`, `iss`
//! and `aud`, and what its kind requires (`typ`; a logout token's claims).
//!
//! Every judgement of time here reads the service's `Clock`, the one the rest of the service
//! reads, and nothing else in `auth` judges a login's times (jsonwebtoken's checks are off,
//! see `issuer`; `Verifier` judges `exp` and `nbf` here again after the signature): moving that
//! clock moves login expiry too.

use std::sync::Arc;

use jsonwebtoken::Header;

use super::error::{AuthError, MAX_TOKEN_BYTES};
use super::issuer::Issuer;
use super::unverified::{Claim, Picked};
use crate::clock::Clock;
use crate::config::{AuthSettings, ConfigError};

/// The service's own settings of the rules, and the clock they judge time on; an issuer's
/// come with it (`Issuer`).
pub(super) struct Rules {
    required_typ: Option<String>,
    /// `auth.max_token_lifetime_secs` and `auth.leeway_secs`.
    max_lifetime: u64,
    leeway: u64,
    clock: Arc<dyn Clock>,
}

impl Rules {
    pub(super) fn from_settings(
        auth: &AuthSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        if auth.max_token_lifetime_secs == 0 {
            return Err(ConfigError::new(
                "auth.max_token_lifetime_secs",
                "must be above 0: the longest a login may live, e.g. 86400",
            ));
        }
        Ok(Self {
            required_typ: auth.required_typ.clone().filter(|t| !t.is_empty()),
            max_lifetime: auth.max_token_lifetime_secs,
            leeway: auth.leeway_secs,
            clock,
        })
    }

    /// Now in Unix seconds, as the claims count time.
    pub(super) fn now(&self) -> u64 {
        self.clock.unix_now()
    }

    /// The issuer's rules, applied before the signature from the unverified claims, so that a
    /// token they refuse costs no signature check: the algorithm, the times (`check_times`),
    /// `iss` and `aud` when configured. jsonwebtoken applies the algorithm, `iss` and `aud`
    /// again to the verified token, and `Verifier` the times.
    pub(super) fn check_rules(
        &self,
        issuer: &Issuer,
        header: &Header,
        claims: &Picked,
        audience: Option<&str>,
        now: u64,
    ) -> Result<(), AuthError> {
        let rejected = |why: &str| Err(AuthError::Rejected(why.into()));
        if !issuer.accepts(header.alg) {
            return rejected("algorithm not accepted");
        }
        self.check_times(claims, now)?;
        if let Some(name) = issuer.name() {
            match &claims.issuer {
                Claim::Valid(iss) if iss == name => {}
                Claim::Valid(_) => return rejected("wrong issuer"),
                _ => return rejected("missing `iss`"),
            }
        }
        if let Some(audience) = audience {
            match &claims.audience {
                Claim::Valid(auds) if auds.iter().any(|aud| aud == audience) => {}
                Claim::Valid(_) => return rejected("wrong audience"),
                Claim::Invalid => return rejected("malformed `aud`"),
                Claim::Absent => return rejected("missing `aud`"),
            }
        }
        Ok(())
    }

    /// `exp` (required) and `nbf` at `now` (Unix seconds, `Rules::now`), with the leeway.
    pub(super) fn check_times(&self, claims: &Picked, now: u64) -> Result<(), AuthError> {
        match claims.expires_at {
            Claim::Valid(exp) if exp.saturating_add(self.leeway) < now => {
                return Err(AuthError::Expired);
            }
            Claim::Valid(_) => {}
            _ => return Err(AuthError::Rejected("missing `exp`".into())),
        }
        if let Claim::Valid(nbf) = claims.not_before
            && nbf > now.saturating_add(self.leeway)
        {
            return Err(AuthError::NotYetValid);
        }
        Ok(())
    }

    /// What a login must be beyond the issuer's rules: of the required `typ`, and no logout
    /// token.
    pub(super) fn check_login(&self, header: &Header, claims: &Picked) -> Result<(), AuthError> {
        self.check_typ(header)?;
        // §2.4 of Back-Channel Logout: a logout token must never pass for a login.
        if claims.logout_event || header.typ.as_deref().is_some_and(is_logout_typ) {
            return Err(AuthError::Rejected("a logout token is not a login".into()));
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

    /// The rules jsonwebtoken does not apply, checked before the signature (they only refuse):
    /// RFC 7515 §4.1.11 (`crit`: no extension is implemented, so any listed one is not
    /// understood), RFC 7519 §4.1 (`iss` a string, never an array that happens to hold the
    /// right one; times as whole seconds, where jsonwebtoken would round `1e19`), and the
    /// lifetime cap, so that no login is good for longer than `auth.max_token_lifetime_secs`
    /// after `now` (Unix seconds, `Rules::now`).
    pub(super) fn check_strictly(
        &self,
        header: &Header,
        claims: &Picked,
        now: u64,
    ) -> Result<(), AuthError> {
        if header.crit.is_some() {
            return Err(AuthError::Rejected(
                "`crit` names an extension this service does not implement".into(),
            ));
        }
        let times = [
            ("exp", &claims.expires_at),
            ("nbf", &claims.not_before),
            ("iat", &claims.issued_at),
        ];
        for (name, claim) in times {
            if *claim == Claim::Invalid {
                return Err(AuthError::Rejected(format!("malformed `{name}`")));
            }
        }
        if claims.issuer == Claim::Invalid {
            return Err(AuthError::Rejected("malformed `iss`".into()));
        }
        if let Claim::Valid(exp) = claims.expires_at {
            let latest = now
                .saturating_add(self.max_lifetime)
                .saturating_add(self.leeway);
            let issued_too_long = matches!(
                claims.issued_at,
                Claim::Valid(iat) if exp.saturating_sub(iat) > self.max_lifetime
            );
            if exp > latest || issued_too_long {
                return Err(AuthError::Rejected(
                    "lives longer than auth.max_token_lifetime_secs".into(),
                ));
            }
        }
        Ok(())
    }
}

/// What a logout token must be beyond its issuer's rules (OpenID Connect Back-Channel Logout
/// 1.0 §2.6): typed `logout+jwt` when typed at all, with the logout event, no `nonce`, `iat`,
/// `sub` and/or `sid`, and `jti`.
pub(super) fn check_logout(header: &Header, claims: &Picked) -> Result<(), AuthError> {
    let rejected = |why: &str| Err(AuthError::Rejected(why.into()));
    if header.typ.as_deref().is_some_and(|typ| !is_logout_typ(typ)) {
        return rejected("wrong `typ`");
    }
    if !claims.logout_event {
        return rejected("no back-channel logout event in `events`");
    }
    if claims.nonce {
        return rejected("a logout token has no `nonce`");
    }
    if !matches!(claims.issued_at, Claim::Valid(_)) {
        return rejected("missing `iat`");
    }
    if claims.user_id.is_none() && claims.session_id.is_none() {
        return rejected("names neither `sub` nor `sid`");
    }
    if claims.token_id.is_none() {
        return rejected("missing `jti`");
    }
    Ok(())
}

/// RFC 8725 §3.11's explicit type of logout tokens (Back-Channel Logout §2.4), either form.
fn is_logout_typ(typ: &str) -> bool {
    typ.eq_ignore_ascii_case("logout+jwt") || typ.eq_ignore_ascii_case("application/logout+jwt")
}

pub(super) fn check_size(token: &str) -> Result<(), AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::TooLarge);
    }
    Ok(())
}
