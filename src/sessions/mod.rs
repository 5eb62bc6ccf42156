//! Everything kept about users, and the handshake that fills it: from a verified login to the
//! client session handed to its frontend.
//!
//! - `users`: one bounded cache entry per user (remembered tokens, account lookup, session).
//! - `memo`: tokens that verified once, so a repeat login costs no signature check.
//! - `handshake`: the account-lookup and session policies, and the one function that runs them.
//! - `identity`: who a user is (an issuer's user id, in that issuer's namespace) and their
//!   Seam key; `accounts`: where a user's accounts come from; `issue`: asking Seam for a
//!   session that grants exactly those accounts.
//! - `seam_events`: Seam's webhook events applied to the caches, finding the users they
//!   concern through `holders`.
//!
//! The revocations (logout, the admin API, back-channel logout) are here too: they clear what the handshake filled,
//! and `revocations` refuses the logins they ended.

mod accounts;
mod fleet;
mod handshake;
mod holders;
mod identity;
mod issue;
mod memo;
mod revocations;
mod seam_events;
mod users;

use std::sync::Arc;

use serde_json::Value;
use time::Duration;

use crate::auth::{AuthError, Claims, LogoutClaims, PayloadRoom, Verifier};
use crate::cache::{Lookups, Outcome};
use crate::clock::Clock;
use crate::cluster::Cluster;
use crate::config::{ConfigError, Settings};
use crate::metrics::Metrics;
use crate::seam::{SeamClient, SeamError};

pub(crate) use accounts::BadAccountsClaim;
use accounts::Owned;
#[cfg(test)]
pub(crate) use accounts::account_set;
pub(crate) use handshake::HandshakeError;
use identity::Identity;
pub(crate) use identity::NoSuchUser;
pub(crate) use issue::IssuedSession;
use issue::Terms;
use revocations::Revocations;
use users::{User, Users};

/// The users cache's name in the metrics.
pub(crate) const USERS_CACHE: &str = users::CACHE_NAME;

pub(crate) struct Sessions {
    users: Users,
    revocations: Revocations,
    identity: Identity,
    /// Tokens remembered per user after one signature check (`auth.verified_tokens_per_user`),
    /// and the leeway their `exp` is judged with (`auth.leeway_secs`).
    remember: usize,
    leeway: u64,
    /// `auth.backchannel_logout`: the `sid` of logins is then noted, so a logout can end it.
    backchannel_logout: bool,
    /// Fleet mode (`fleet`), and how long its records and fetch lock last: as long as a login
    /// may live, and as long as a Seam call may take.
    cluster: Option<Arc<Cluster>>,
    held_locks: Arc<fleet::HeldLocks>,
    /// With Seam's webhooks on, which users hold the ids their events name.
    holders: Option<holders::Holders>,
    longest_login: std::time::Duration,
    fetch_lock: std::time::Duration,
    /// Account lookups serve for `account_ttl`, are refreshed in the background once older than
    /// `account_refresh_after`, and are served stale up to `account_serve_stale` while Seam
    /// cannot answer.
    account_ttl: Duration,
    account_refresh_after: Duration,
    account_serve_stale: Duration,
    terms: Terms,
    /// A session handed out this close to its `refresh_after` is renewed in the background.
    session_refresh_ahead: Duration,
    /// While Seam fails, a session due for renewal is still handed out with this long left
    /// (`sessions.stale_min_remaining_secs`; zero: never), counted by reason.
    stale_min_remaining: Duration,
    stale_sessions: prometheus::IntCounterVec,
    clock: Arc<dyn Clock>,
    login_lookups: Lookups,
    account_lookups: Lookups,
    session_lookups: Lookups,
}

/// A user whose login verified (now or before), as the handshake takes it.
pub(crate) struct Login {
    user: Arc<User>,
    /// The `accounts.claim` claim, when the `claim` account source is configured.
    accounts_claim: Option<Value>,
    /// In fleet mode, where the fleet stood on the user's session when the login was first
    /// seen.
    fleet: fleet::FleetStart,
}

impl Login {
    /// The user's key: their issuer's key prefix and user id (see `identity`).
    pub(crate) fn user_key(&self) -> &str {
        &self.user.user_key
    }
}

/// What `Sessions::recall` found.
pub(crate) enum Recalled {
    /// The token verified before and has not expired since.
    Known(Login),
    /// The token must be verified, then given to `Sessions::admit`.
    Unseen(Unseen),
}

/// A token `Sessions::recall` did not know: its digest, to remember it once it verified.
pub(crate) struct Unseen(memo::Digest);

/// Why a login that verified is refused all the same.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum LoginRefused {
    /// A logout, an admin revoke or a back-channel logout since ended it.
    #[error("login ended by a logout or revoke of its user")]
    Revoked,
    /// Its user id would name another issuer's user (see `identity`).
    #[error("{0}")]
    NoSuchUser(#[from] NoSuchUser),
}

/// Why a back-channel logout was not applied.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LogoutError {
    #[error("logout token `jti` already applied")]
    Replayed,
    /// The user's logins are ended, but their Seam session could not be ended; the logout
    /// token may be sent again.
    #[error("logins ended, but the Seam session could not be ended: {0}")]
    Incomplete(#[source] SeamError),
}

/// Why an admin revoke did not happen.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RevokeError {
    #[error(transparent)]
    User(#[from] NoSuchUser),
    #[error(transparent)]
    Seam(#[from] SeamError),
}

/// Unix seconds, as login times count.
fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn seconds(secs: u64) -> Duration {
    Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX))
}

impl Sessions {
    pub(crate) fn from_settings(
        settings: &Settings,
        clock: Arc<dyn Clock>,
        metrics: &Metrics,
        cluster: Option<Arc<Cluster>>,
    ) -> Result<Self, ConfigError> {
        let sessions = &settings.sessions;
        let identity = Identity::from_settings(settings)?;
        if sessions.ttl_secs <= sessions.min_remaining_secs {
            return Err(ConfigError::new(
                "sessions.min_remaining_secs",
                "must be below sessions.ttl_secs, or no session could ever be handed out",
            ));
        }
        if sessions.stale_min_remaining_secs >= sessions.min_remaining_secs
            && sessions.stale_min_remaining_secs > 0
        {
            return Err(ConfigError::new(
                "sessions.stale_min_remaining_secs",
                "(default 60) must be below sessions.min_remaining_secs (a session is renewed \
                 before it gets that short): lower it too, or set it to 0 to hand out no \
                 session past its renewal",
            ));
        }
        if sessions.max_entries == 0 {
            return Err(ConfigError::new("sessions.max_entries", "must be above 0"));
        }
        let account_ttl = seconds(settings.accounts.cache_ttl_secs);
        let auth = &settings.auth;
        let longest_login = auth
            .max_token_lifetime_secs
            .saturating_add(auth.leeway_secs);
        Ok(Self {
            users: Users::new(sessions.max_entries, metrics),
            revocations: Revocations::new(
                sessions.max_entries,
                std::time::Duration::from_secs(longest_login),
            ),
            identity,
            remember: settings.auth.verified_tokens_per_user,
            leeway: settings.auth.leeway_secs,
            backchannel_logout: auth.backchannel_logout,
            cluster,
            held_locks: Arc::default(),
            holders: settings.seam.webhooks_on().then(holders::Holders::default),
            longest_login: std::time::Duration::from_secs(longest_login),
            fetch_lock: std::time::Duration::from_millis(settings.seam.deadline_ms),
            account_ttl,
            account_refresh_after: account_ttl * 3 / 4,
            account_serve_stale: seconds(settings.accounts.serve_stale_secs),
            terms: Terms {
                ttl: seconds(sessions.ttl_secs),
                min_remaining: seconds(sessions.min_remaining_secs),
            },
            session_refresh_ahead: seconds(sessions.refresh_ahead_secs),
            stale_min_remaining: seconds(sessions.stale_min_remaining_secs),
            stale_sessions: metrics.stale_sessions.clone(),
            clock,
            login_lookups: Lookups::new("login", metrics),
            account_lookups: Lookups::new("accounts", metrics),
            session_lookups: Lookups::new("session", metrics),
        })
    }

    /// Without waiting on anything: the login of a token that verified before and has not
    /// expired since, else what `admit` needs once `verifier` has verified it.
    pub(crate) fn recall(&self, token: &str, verifier: &Verifier) -> Result<Recalled, AuthError> {
        let mut payload = PayloadRoom::new();
        let unverified = verifier.unverified(token, &mut payload)?;
        let digest = memo::digest(token);
        if self.remember > 0
            && let Some(claims) = unverified
            && let namespace = self.identity.of_issuer(claims.issuer)
            && let Ok(Some(user)) =
                (self.identity).with_user_key(namespace, &claims.user_id, |key| self.users.get(key))
            && user
                .tokens
                .knows(&digest, jsonwebtoken::get_current_timestamp(), self.leeway)
        {
            // The digest matched one that verified: these are that token's claims.
            self.login_lookups.count(Outcome::Hit);
            return Ok(Recalled::Known(Login {
                user,
                accounts_claim: claims.accounts,
                fleet: fleet::FleetStart::default(),
            }));
        }
        Ok(Recalled::Unseen(Unseen(digest)))
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
        self.login_lookups.count(Outcome::Miss);
        let namespace = self.identity.of_issuer(claims.issuer);
        let key = self.identity.user_key(namespace, &claims.user_id)?;
        let session = (claims.session_id.as_deref())
            .filter(|_| self.backchannel_logout)
            .map(|sid| (claims.issuer, sid));
        if self.revocations.refuses(&key, claims.issued_at, session) {
            return Err(LoginRefused::Revoked);
        }
        let mut fleet_start = fleet::FleetStart::default();
        if self.cluster.is_some() {
            let seam_key =
                (self.identity.derived_key(namespace, &key)).unwrap_or_else(|| key.to_string());
            // A user with a session here needs no fetch, and so no lock.
            let fetch = (self.users.get(&key)).is_none_or(|user| user.session.current().is_none());
            let fleet = self.fleet_recall(&key, &seam_key, session, fetch).await;
            if let Some(at) = fleet.revoked_at {
                // Ended on a replica this one did not hear from: remembered from now on.
                self.revocations.revoke(&key, at);
            }
            if let (true, Some((issuer, sid))) = (fleet.session_ended, session) {
                self.revocations.end_session(issuer, sid);
            }
            if self.revocations.refuses(&key, claims.issued_at, session) {
                return Err(LoginRefused::Revoked);
            }
            fleet_start = fleet.start;
        }
        tracing::debug!(
            request_id = %crate::telemetry::CurrentRequest, issuer = self.identity.issuer_name(claims.issuer),
            issued_at = claims.issued_at,
            "login verified"
        );
        let user = self.users.get_or_insert(&key, namespace, &self.identity);
        if let Some((issuer, sid)) = session {
            self.revocations.note_session(issuer, sid, &user.user_key);
        }
        if self.remember > 0 {
            let now = jsonwebtoken::get_current_timestamp();
            let (exp, leeway) = (claims.expires_at, self.leeway);
            (user.tokens).remember(digest, claims.key, exp, now, leeway, self.remember);
        }
        Ok(Login {
            user,
            accounts_claim: claims.accounts,
            fleet: fleet_start,
        })
    }

    /// Logout: ends every login of the user issued so far, ends their live Seam session (Seam
    /// keeps one per user, so this signs them out on every device) and drops the cached one.
    pub(crate) async fn logout(
        &self,
        login: &Login,
        seam: &SeamClient,
    ) -> Result<usize, SeamError> {
        let (user_key, seam_key) = (&login.user.user_key, &login.user.user_identifier_key);
        let at = now();
        self.end_logins(user_key, Some(&login.user), at);
        self.share_user_revoked(user_key, seam_key, at).await;
        let ended = (self.end_sessions(seam_key, Some(&login.user), seam)).await?;
        // A replica may have fetched the session again between the revocation and its end
        // at Seam (a sign-in just then): it drops what is now dead.
        self.share_session_dropped(seam_key).await;
        Ok(ended)
    }

    /// A logout of any user of the issuer named `issuer` (needed when several are trusted),
    /// cached here or not (the admin API): their Seam key and how many sessions were ended.
    pub(crate) async fn revoke_user(
        &self,
        user_id: &str,
        issuer: Option<&str>,
        seam: &SeamClient,
    ) -> Result<(String, usize), RevokeError> {
        let namespace = self.identity.named(issuer)?;
        self.revoke_in(namespace, user_id, now(), seam).await
    }

    /// A back-channel logout, from a verified logout token: with `sub`, a logout of that user
    /// as of the token's `iat` (bounded by now and the leeway, against a clock running ahead);
    /// with `sid`, every login carrying it is refused. Each logout token is applied once.
    pub(crate) async fn backchannel_logout(
        &self,
        logout: LogoutClaims,
        seam: &SeamClient,
    ) -> Result<(), LogoutError> {
        let issuer = logout.issuer;
        if !self.revocations.first_logout(issuer, &logout.token_id) {
            return Err(LogoutError::Replayed);
        }
        if let Some(sid) = &logout.session_id {
            self.end_identity_session(issuer, sid);
            self.share_session_ended(issuer, sid).await;
        }
        let Some(user_id) = &logout.user_id else {
            return Ok(());
        };
        let at = logout.issued_at.min(now().saturating_add(self.leeway));
        let namespace = self.identity.of_issuer(issuer);
        match self.revoke_in(namespace, user_id, at, seam).await {
            // An id that names no user here has no logins here.
            Ok(_) | Err(RevokeError::User(_)) => Ok(()),
            Err(RevokeError::Seam(error)) => {
                self.revocations.retry_logout(issuer, &logout.token_id);
                Err(LogoutError::Incomplete(error))
            }
        }
    }

    /// A logout of `user_id` in `namespace` as of `at`: their Seam key and how many sessions
    /// were ended.
    async fn revoke_in(
        &self,
        namespace: usize,
        user_id: &str,
        at: u64,
        seam: &SeamClient,
    ) -> Result<(String, usize), RevokeError> {
        let key = self.identity.user_key(namespace, user_id)?;
        let seam_key =
            (self.identity.derived_key(namespace, &key)).unwrap_or_else(|| key.to_string());
        let cached = self.users.get(&key);
        self.end_logins(&key, cached.as_deref(), at);
        self.share_user_revoked(&key, &seam_key, at).await;
        let revoked = (self.end_sessions(&seam_key, cached.as_deref(), seam)).await?;
        // As in `logout`.
        self.share_session_dropped(&seam_key).await;
        Ok((seam_key, revoked))
    }

    /// Where the user's accounts are; `claim` is their login's accounts claim.
    fn owned<'u>(
        &'u self,
        user: &'u User,
        claim: Option<&Value>,
    ) -> Result<Owned<'u>, BadAccountsClaim> {
        let user_id = self.identity.user_id(user.namespace, &user.user_key);
        (self.identity.accounts(user.namespace)).owned(user_id, &user.user_identifier_key, claim)
    }

    /// Refuses from now on every login of the user issued until `at`, the remembered ones too.
    fn end_logins(&self, user_key: &str, cached: Option<&User>, at: u64) {
        self.revocations.revoke(user_key, at);
        if let Some(user) = cached {
            user.tokens.forget_all();
        }
    }

    /// Refuses from now on every login carrying the identity-provider session `sid`, the
    /// remembered ones too.
    fn end_identity_session(&self, issuer: usize, sid: &str) {
        if let Some(key) = self.revocations.end_session(issuer, sid)
            && let Some(user) = self.users.get(&key)
        {
            // Its remembered logins are checked again, and those carrying `sid` refused.
            user.tokens.forget_all();
        }
    }

    /// Drops the cached session of the user with this Seam key, on every replica, so that
    /// their next handshake asks Seam.
    pub(crate) async fn forget(&self, user_identifier_key: &str) {
        self.forget_here(user_identifier_key).await;
        self.share_session_dropped(user_identifier_key).await;
    }

    async fn forget_here(&self, user_identifier_key: &str) {
        if let Some(user) = self.users.with_key(user_identifier_key) {
            user.session.clear(&user.flight).await;
        }
    }

    /// Ends every live Seam session of the user and drops the cached one: their tokens stop
    /// working at once, on every device. Returns how many were ended.
    ///
    /// Deleted, not revoked: a revoked session stays in Seam's list, so each logout would end
    /// the user's whole history again, and nothing Seam documents says `get_or_create` will not
    /// hand a revoked session back; a deleted one is gone. Expired sessions are left alone, as
    /// their tokens already fail. Seam's `/client_sessions/list` is not paginated (its schema
    /// has no `pagination`), so this is one list call and, as Seam keeps one session per
    /// user, at most one delete.
    async fn end_sessions(
        &self,
        user_identifier_key: &str,
        cached: Option<&User>,
        seam: &SeamClient,
    ) -> Result<usize, SeamError> {
        // Drop first: a handshake racing with this must not serve the old token from here.
        if let Some(user) = cached {
            user.session.clear(&user.flight).await;
        }
        let now = self.clock.now();
        let sessions = seam.list_sessions(Some(user_identifier_key)).await?;
        let live: Vec<_> = sessions.iter().filter(|s| s.expires_at > now).collect();
        for session in &live {
            seam.delete_session(&session.client_session_id).await?;
        }
        if let Some(user) = cached {
            user.session.clear(&user.flight).await;
        }
        Ok(live.len())
    }

    /// Users held, for the metrics.
    pub(crate) fn cached_users(&self) -> u64 {
        self.users.len()
    }
}

#[cfg(test)]
mod tests;
