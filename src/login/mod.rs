//! Login admission: from a login token to a `Login` the handshake can serve, and the logouts
//! that end logins. It owns the tokens that verified once (`memo`, kept in the user's cache
//! entry so that a repeat login costs no signature check), the revocations (`revocations`:
//! logout, the admin API, back-channel logout, kept in `records`, a store that never drops a
//! record silently), the logins admitted lately (`seen`, so that a sign-in in a logout's own
//! second can be told from one seen before it) and who a user is (`identity`).
//!
//! Verifying a signature is `auth`'s; the route runs it between `recall` and `admit`, within
//! the client's budget of failed checks (`limits`).

mod identity;
mod logout;
mod memo;
mod records;
mod revocations;
mod seen;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::auth::{AuthError, Claims, PayloadRoom, Verifier};
use crate::cache::{Lookups, Outcome};
use crate::clock::Clock;
use crate::config::Settings;
use crate::fleet::{Fleet, FleetStart};
use crate::handshake::{Provenance, User, Users};
use crate::metrics::Metrics;

pub(crate) use identity::{Identity, NoSuchUser};
pub(crate) use logout::{LogoutError, RevokeError};
pub(crate) use memo::VerifiedTokens;
use revocations::{Revocations, SameSecond};
use seen::Seen;

pub(crate) struct Admission {
    users: Arc<Users>,
    revocations: Revocations,
    /// The logins admitted lately, so that a logout refuses those of its own second.
    seen: Seen,
    identity: Arc<Identity>,
    /// Tokens remembered per user after one signature check (`auth.verified_tokens_per_user`),
    /// and the leeway their `exp` is judged with (`auth.leeway_secs`).
    remember: usize,
    leeway: u64,
    /// `auth.backchannel_logout`: the `sid` of logins is then noted, so a logout can end it.
    backchannel_logout: bool,
    /// `None`: a single instance.
    fleet: Option<Arc<Fleet>>,
    /// Told before a logout deletes a session, so that its webviews stay known as the user's.
    provenance: Arc<Provenance>,
    clock: Arc<dyn Clock>,
    lookups: Lookups,
}

/// A user whose login verified (now or before), as the handshake takes it.
pub(crate) struct Login {
    user: Arc<User>,
    /// The `accounts.claim` claim, when the `claim` account source is configured.
    accounts_claim: Option<Value>,
    /// In fleet mode, where the fleet stood on the user's session when the login was first
    /// seen.
    fleet: FleetStart,
}

impl Login {
    /// The user's key: their issuer's key prefix and user id (see `identity`).
    pub(crate) fn user_key(&self) -> &str {
        &self.user.user_key
    }

    /// The user's cache entry.
    pub(crate) fn user(&self) -> &Arc<User> {
        &self.user
    }

    /// The login's accounts claim, for the `claim` account source.
    pub(crate) fn accounts_claim(&self) -> Option<&Value> {
        self.accounts_claim.as_ref()
    }

    /// Where the fleet stood on the user's session when the login was first seen.
    pub(crate) fn fleet(&self) -> &FleetStart {
        &self.fleet
    }
}

/// What `Admission::recall` found.
pub(crate) enum Recalled {
    /// The token verified before and has not expired since.
    Known(Login),
    /// The token must be verified, then given to `Admission::admit`.
    Unseen(Unseen),
}

/// A token `Admission::recall` did not know: its digest, to remember it once it verified.
pub(crate) struct Unseen(memo::Digest);

/// Why a login that verified is refused all the same.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum LoginRefused {
    /// A logout, an admin revoke or a back-channel logout since ended it.
    #[error("login ended by a logout or revoke of its user")]
    Revoked,
    /// A revocation the fleet knows of could not be recorded here: the store is full of
    /// records still needed (`records`).
    #[error("the revocation store is full")]
    RevocationsFull,
    /// Its user id would name another issuer's user (see `identity`).
    #[error("{0}")]
    NoSuchUser(#[from] NoSuchUser),
}

impl Admission {
    pub(crate) fn new(
        settings: &Settings,
        users: Arc<Users>,
        identity: Arc<Identity>,
        fleet: Option<Arc<Fleet>>,
        provenance: Arc<Provenance>,
        clock: Arc<dyn Clock>,
        metrics: &Metrics,
    ) -> Self {
        let auth = &settings.auth;
        Self {
            users,
            revocations: Revocations::new(
                settings.sessions.max_entries,
                auth.longest_login(),
                clock.clone(),
                metrics,
            ),
            seen: Seen::new(settings.sessions.max_entries),
            identity,
            remember: auth.verified_tokens_per_user,
            leeway: auth.leeway_secs,
            backchannel_logout: auth.backchannel_logout,
            fleet,
            provenance,
            clock,
            lookups: Lookups::new("login", metrics),
        }
    }

    /// Without waiting on anything: the login of a token that verified before and has not
    /// expired since, else what `admit` needs once `verifier` has verified it.
    pub(crate) fn recall(&self, token: &str, verifier: &Verifier) -> Result<Recalled, AuthError> {
        let mut payload = PayloadRoom::new();
        let unverified = verifier.unverified(token, &mut payload)?;
        if self.remember > 0
            && let Some(claims) = unverified
            && let Ok(Some(user)) =
                (self.identity).cached_user(claims.issuer, &claims.user_id, &self.users)
        {
            let now = self.clock.unix_now();
            return Ok(match user.tokens.recall(token, now, self.leeway) {
                // The digest matched one that verified: these are that token's claims.
                Ok(()) => {
                    self.lookups.count(Outcome::Hit);
                    Recalled::Known(Login {
                        user,
                        accounts_claim: claims.accounts,
                        fleet: FleetStart::default(),
                    })
                }
                Err(digest) => Recalled::Unseen(Unseen(digest)),
            });
        }
        Ok(Recalled::Unseen(Unseen(memo::digest(token))))
    }

    /// The login of a token `recall` did not know and that has now verified; remembered so
    /// that the same token is not verified again until it expires. Refused when a logout or
    /// revoke of its user since ended it (here, or in fleet mode anywhere), or when its user id
    /// names no user here.
    pub(crate) async fn admit(
        &self,
        claims: Claims,
        Unseen(digest): Unseen,
    ) -> Result<Login, LoginRefused> {
        self.lookups.count(Outcome::Miss);
        let namespace = self.identity.of_issuer(claims.issuer);
        let key = self.identity.user_key(namespace, &claims.user_id)?;
        let session = (claims.session_id.as_deref())
            .filter(|_| self.backchannel_logout)
            .map(|sid| (claims.issuer, sid));
        let login = seen::short(&digest);
        let now = self.clock.unix_now();
        // Noted before the check: a logout from now on counts it as seen.
        let fresh = claims
            .issued_at
            .filter(|iat| iat.saturating_add(seen::WINDOW) >= now);
        if let Some(iat) = fresh {
            self.seen.note(&key, login, iat, now);
        }
        if (self.revocations).refuses(&key, claims.issued_at, &login, session) {
            return Err(LoginRefused::Revoked);
        }
        let mut fleet_start = FleetStart::default();
        if let Some(fleet) = &self.fleet {
            let seam_key =
                (self.identity.derived_key(namespace, &key)).unwrap_or_else(|| key.to_string());
            // A user with a session here needs no fetch, and so no lock.
            let fetch = (self.users.get(&key)).is_none_or(|user| user.session.current().is_none());
            let keep = fresh.map(|_| Duration::from_secs(seen::WINDOW));
            let login_hex = seen::hex(&login);
            let recalled =
                (fleet.recall(&key, &seam_key, session, fetch, (&login_hex, keep))).await;
            if let Some((at, rule)) = recalled.revoked {
                // Ended on a replica this one did not hear from: remembered from now on.
                let seen: &[seen::Short] = if recalled.seen_before { &[login] } else { &[] };
                let same_second = SameSecond::from_record(&rule);
                (self.revocations.revoke(&key, at, same_second, seen))
                    .map_err(|_| LoginRefused::RevocationsFull)?;
            }
            if let (true, Some((issuer, sid))) = (recalled.session_ended, session) {
                (self.revocations.end_session(issuer, sid).1)
                    .map_err(|_| LoginRefused::RevocationsFull)?;
            }
            if (self.revocations).refuses(&key, claims.issued_at, &login, session) {
                return Err(LoginRefused::Revoked);
            }
            fleet_start = recalled.start;
        }
        tracing::debug!(
            request_id = %crate::telemetry::CurrentRequest, issuer = self.identity.issuer_name(claims.issuer),
            issued_at = claims.issued_at,
            "login verified"
        );
        let user = (self.users).get_or_insert(&key, namespace, || {
            self.identity.derived_key(namespace, &key)
        });
        // A login whose `sid` could not be noted is not remembered: ending the `sid` could not
        // forget it, so it is verified and checked each time.
        let noted = session.is_none_or(|(issuer, sid)| {
            (self.revocations.note_session(issuer, sid, &user.user_key)).is_ok()
        });
        if self.remember > 0 && noted {
            let (exp, leeway) = (claims.expires_at, self.leeway);
            (user.tokens).remember(digest, claims.key, exp, now, leeway, self.remember);
        }
        Ok(Login {
            user,
            accounts_claim: claims.accounts,
            fleet: fleet_start,
        })
    }
}

#[cfg(test)]
mod tests;
