//! The handshake: a verified login in, the client session to hand out (and how the caches
//! answered) out. It owns the user cache (`users`), where accounts come from (`accounts`),
//! how a session is asked of Seam (`issue`) and both policies that make repeat logins cost no
//! upstream call:
//!
//! - **Accounts** (Seam-backed sources): a lookup serves for `accounts.cache_ttl_secs`, so a
//!   user who gains or loses an account sees it within that window; one used in the last
//!   quarter of its window is refreshed in the background, so a user who keeps coming back
//!   never waits; while Seam cannot answer, a lookup up to `accounts.serve_stale_secs` old is
//!   used rather than failing the handshake.
//! - **Sessions**: a session serves while the user's account set is unchanged and until
//!   `refresh_after` (`expires_at - sessions.min_remaining_secs`); then the next handshake
//!   renews it through Seam's `get_or_create`, which updates the expiry of the user's one
//!   session. One handed out within `sessions.refresh_ahead_secs` of `refresh_after` is renewed
//!   in the background, so a user who keeps coming back never waits on Seam, and keeps being
//!   served from the cache while Seam is down, for as long as it is inside its window.
//! - **Stale sessions** (stale-if-error, RFC 5861): when the renewal due at `refresh_after`
//!   fails for a reason that is Seam's (`SeamError::outage`), the cached session is still
//!   handed out while it has `sessions.stale_min_remaining_secs` left, with a `refresh_after`
//!   a few seconds ahead (`STALE_RETRY`, or the wait Seam or the breaker suggests). Until then
//!   it is served from the cache as it is, so the user's next handshakes (and those that
//!   waited on the failed renewal) make no call; after it, one handshake tries Seam again.
//!   Never when the user's accounts changed, nor after a logout (which drops it).
//!
//! Concurrent handshakes of one user share one Seam call (the user's flight, `cache::Slot`).
//! The session policy is in `session`; `holders` indexes what users hold for Seam's events.

mod accounts;
mod holders;
mod issue;
mod provenance;
mod session;
mod users;

use std::rc::Rc;
use std::sync::Arc;

use serde_json::Value;
use time::{Duration, OffsetDateTime};

use crate::cache::{Found, Lookups, Outcome};
use crate::clock::Clock;
use crate::config::{ConfigError, Settings};
use crate::fleet::{Fleet, FleetStart};
use crate::metrics::Metrics;
use crate::seam::{AccountFilter, ClientSession, SeamClient, SeamError};
use accounts::Owned;
#[cfg(test)]
pub(crate) use accounts::account_set;
pub(crate) use accounts::{AccountSet, AccountSource, BadAccountsClaim};
pub(crate) use holders::Holders;
pub(crate) use issue::IssuedSession;
use issue::Policy;
pub(crate) use provenance::Provenance;
use users::Lookup;
pub(crate) use users::{User, Users};

/// The users cache's name in the metrics.
pub(crate) const USERS_CACHE: &str = users::CACHE_NAME;

pub(crate) struct Handshake {
    users: Arc<Users>,
    /// Where each identity namespace's users have their accounts (`login::Identity`).
    sources: Arc<[AccountSource]>,
    /// Where the user id starts in a user key of each namespace (after its key prefix).
    user_ids_at: Box<[usize]>,
    /// `None`: a single instance.
    fleet: Option<Arc<Fleet>>,
    /// With Seam's webhooks on, which users hold the ids their events name.
    holders: Option<Arc<Holders>>,
    /// Whose Connect Webviews connected the accounts Seam lists.
    provenance: Arc<Provenance>,
    /// Account lookups serve for `account_ttl`, are refreshed in the background once older than
    /// `account_refresh_after`, and are served stale up to `account_serve_stale` while Seam
    /// cannot answer.
    account_ttl: Duration,
    account_refresh_after: Duration,
    account_serve_stale: Duration,
    policy: Policy,
    /// A session handed out this close to its `refresh_after` is renewed in the background.
    session_refresh_ahead: Duration,
    /// While Seam fails, a session due for renewal is still handed out with this long left
    /// (`sessions.stale_min_remaining_secs`; zero: never), counted by reason.
    stale_min_remaining: Duration,
    stale_sessions: prometheus::IntCounterVec,
    clock: Arc<dyn Clock>,
    account_lookups: Lookups,
    session_lookups: Lookups,
}

/// The parts the handshake shares with the login admission and Seam's events.
pub(crate) struct Shared {
    pub(crate) users: Arc<Users>,
    pub(crate) sources: Arc<[AccountSource]>,
    pub(crate) user_ids_at: Box<[usize]>,
    pub(crate) fleet: Option<Arc<Fleet>>,
    pub(crate) holders: Option<Arc<Holders>>,
    pub(crate) provenance: Arc<Provenance>,
}

fn seconds(secs: u64) -> Duration {
    Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// What the handshake hands out, and how the caches answered.
pub(crate) struct Handed {
    pub(crate) session: Arc<IssuedSession>,
    /// How the account lookup was answered, for Seam-backed sources.
    pub(crate) accounts_outcome: Option<Outcome>,
    pub(crate) session_outcome: Outcome,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum HandshakeError {
    #[error(transparent)]
    Accounts(#[from] BadAccountsClaim),
    #[error(transparent)]
    Seam(#[from] SeamError),
}

impl Handshake {
    pub(crate) fn from_settings(
        settings: &Settings,
        shared: Shared,
        clock: Arc<dyn Clock>,
        metrics: &Metrics,
    ) -> Result<Self, ConfigError> {
        let sessions = &settings.sessions;
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
        let account_ttl = seconds(settings.accounts.cache_ttl_secs);
        Ok(Self {
            users: shared.users,
            sources: shared.sources,
            user_ids_at: shared.user_ids_at,
            fleet: shared.fleet,
            holders: shared.holders,
            provenance: shared.provenance,
            account_ttl,
            account_refresh_after: account_ttl * 3 / 4,
            account_serve_stale: seconds(settings.accounts.serve_stale_secs),
            policy: Policy {
                ttl: seconds(sessions.ttl_secs),
                min_remaining: seconds(sessions.min_remaining_secs),
                refused: metrics.refused_grants.clone(),
            },
            session_refresh_ahead: seconds(sessions.refresh_ahead_secs),
            stale_min_remaining: seconds(sessions.stale_min_remaining_secs),
            stale_sessions: metrics.stale_sessions.clone(),
            clock,
            account_lookups: Lookups::new("accounts", metrics),
            session_lookups: Lookups::new("session", metrics),
        })
    }

    /// The session to hand to `user`'s frontend, when the cache holds one that qualifies
    /// (granting exactly the user's accounts, not yet due for renewal): the repeat handshake,
    /// without waiting on anything and without a Seam call. Background refreshes that have
    /// become due are started on this worker. `None`: only `through_seam` can answer.
    /// `accounts_claim` is the login's, for the `claim` source.
    pub(crate) fn cached(
        self: &Arc<Self>,
        user: &Arc<User>,
        accounts_claim: Option<&Value>,
        seam: &Rc<SeamClient>,
    ) -> Result<Option<Handed>, HandshakeError> {
        let owned = self.owned(user, accounts_claim)?;
        Ok(self.from_cache(user, &owned, seam))
    }

    /// The session to hand to `user`'s frontend, asking Seam for what the cache cannot give
    /// (once, however many callers wait for it): the account list, the session, or both.
    /// `fleet` is where the fleet stood when the login was first seen.
    pub(crate) async fn through_seam(
        self: &Arc<Self>,
        user: &Arc<User>,
        accounts_claim: Option<&Value>,
        fleet: &FleetStart,
        seam: &Rc<SeamClient>,
    ) -> Result<Handed, HandshakeError> {
        let owned = self.owned(user, accounts_claim)?;
        // Boxed: waiting on Seam takes a large future, which inline would be part of the
        // handler's, and so of every handshake's, the cached ones' too.
        Box::pin(self.asking_seam(user, owned, fleet, seam)).await
    }

    /// Deletes `session` at Seam (the admin API), noting its webviews as its user's first
    /// (`provenance`), and drops it from the cache on every replica.
    pub(crate) async fn end_session(
        &self,
        session: &ClientSession,
        seam: &SeamClient,
    ) -> Result<(), SeamError> {
        self.provenance.before_deleting(session).await;
        seam.delete_session(&session.client_session_id).await?;
        if let Some(key) = &session.user_identifier_key {
            self.forget(key).await;
        }
        Ok(())
    }

    /// Drops the cached session of the user with this Seam key, on every replica, so that
    /// their next handshake asks Seam.
    async fn forget(&self, user_identifier_key: &str) {
        self.users.drop_session(user_identifier_key).await;
        if let Some(fleet) = &self.fleet {
            fleet.share_session_dropped(user_identifier_key).await;
        }
    }

    /// Users held, for the metrics.
    pub(crate) fn cached_users(&self) -> u64 {
        self.users.len()
    }

    /// Where the user's accounts are; `claim` is their login's accounts claim.
    fn owned<'u>(
        &'u self,
        user: &'u User,
        claim: Option<&Value>,
    ) -> Result<Owned<'u>, BadAccountsClaim> {
        let user_id = &user.user_key[self.user_ids_at[user.namespace]..];
        (self.sources[user.namespace]).owned(user_id, &user.user_identifier_key, claim)
    }

    /// Notes what a fetch of `user`'s account lookup or session holds, for Seam's events.
    fn note_held<'a>(&self, user: &'a User, ids: impl IntoIterator<Item = &'a str>) {
        if let Some(holders) = &self.holders {
            let seam_key = std::iter::once(&*user.user_identifier_key);
            holders.note(ids.into_iter().chain(seam_key), &user.user_key, &self.users);
        }
    }

    /// The repeat handshake, without waiting on anything: both answers cached and fresh.
    fn from_cache(
        self: &Arc<Self>,
        user: &Arc<User>,
        owned: &Owned,
        seam: &Rc<SeamClient>,
    ) -> Option<Handed> {
        let now = self.clock.now();
        let (accounts, fetched_at) = match owned {
            Owned::Known(accounts) => (accounts.clone(), None),
            Owned::AtSeam(_) => {
                let lookup = user
                    .accounts
                    .current()
                    .filter(|l| self.accounts_fresh(l, now))?;
                (lookup.accounts, Some(lookup.fetched_at))
            }
        };
        let session = user
            .session
            .current()
            .filter(|s| s.accounts == accounts && now < s.refresh_after)?;
        if let Some(fetched_at) = fetched_at {
            self.account_lookups.count(Outcome::Hit);
            self.after_accounts_hit(user, fetched_at, now, seam);
        }
        let session_outcome = self.count_stale(&session).unwrap_or(Outcome::Hit);
        self.session_lookups.count(session_outcome);
        self.after_session_hit(user, &session, &accounts, now, seam);
        Some(Handed {
            session,
            accounts_outcome: fetched_at.map(|_| Outcome::Hit),
            session_outcome,
        })
    }

    /// A handshake that may wait on Seam: for the account list, the session, or both.
    async fn asking_seam(
        self: &Arc<Self>,
        user: &Arc<User>,
        owned: Owned<'_>,
        fleet: &FleetStart,
        seam: &Rc<SeamClient>,
    ) -> Result<Handed, HandshakeError> {
        let (accounts, accounts_outcome) = match owned {
            Owned::Known(accounts) => (accounts, None),
            Owned::AtSeam(filter) => {
                let found = self.accounts_at_seam(user, filter, seam).await?;
                (found.value, Some(found.outcome))
            }
        };
        match self.session_for(user, &accounts, fleet, seam).await {
            Ok(found) => Ok(Handed {
                session_outcome: self.count_stale(&found.value).unwrap_or(found.outcome),
                session: found.value,
                accounts_outcome,
            }),
            Err(error) => {
                // The account list may be what Seam refused (an account deleted meanwhile):
                // look it up afresh next time rather than repeat the failure for a whole TTL.
                user.accounts.clear(&user.flight).await;
                Err(error.into())
            }
        }
    }

    async fn accounts_at_seam(
        self: &Arc<Self>,
        user: &Arc<User>,
        filter: AccountFilter<'_>,
        seam: &Rc<SeamClient>,
    ) -> Result<Found<AccountSet>, SeamError> {
        let now = self.clock.now();
        let found = self
            .look_up_accounts(user, filter, seam, |l| self.accounts_fresh(l, now))
            .await?;
        let lookup = found.value;
        if found.outcome == Outcome::Hit {
            self.after_accounts_hit(user, lookup.fetched_at, now, seam);
        }
        Ok(Found {
            value: lookup.accounts,
            outcome: found.outcome,
        })
    }

    /// Whether a lookup still serves: within `accounts.cache_ttl_secs`.
    fn accounts_fresh(&self, lookup: &Lookup, now: OffsetDateTime) -> bool {
        now < lookup.fetched_at + self.account_ttl
    }

    /// A lookup used in the last quarter of its window is refreshed in the background.
    fn after_accounts_hit(
        self: &Arc<Self>,
        user: &Arc<User>,
        fetched_at: OffsetDateTime,
        now: OffsetDateTime,
        seam: &Rc<SeamClient>,
    ) {
        if now >= fetched_at + self.account_refresh_after
            && user.accounts.claim_background_refresh()
        {
            self.refresh_accounts_in_background(user.clone(), seam.clone());
        }
    }

    async fn look_up_accounts(
        &self,
        user: &User,
        filter: AccountFilter<'_>,
        seam: &SeamClient,
        is_fresh: impl Fn(&Lookup) -> bool,
    ) -> Result<Found<Lookup>, SeamError> {
        user.accounts
            .get_or_refresh(
                &user.flight,
                &self.account_lookups,
                is_fresh,
                // Judged when the refresh has failed, which may be long after it started.
                |lookup, _| {
                    (self.clock.now() < lookup.fetched_at + self.account_serve_stale)
                        .then(|| lookup.clone())
                },
                || async {
                    let listed = seam.connected_account_ids(filter).await?;
                    let own = (self.provenance)
                        .own(filter, &user.user_identifier_key, listed, seam)
                        .await?;
                    let accounts = accounts::account_set(own);
                    self.note_held(user, accounts.iter().map(String::as_str));
                    Ok(Lookup {
                        accounts,
                        fetched_at: self.clock.now(),
                    })
                },
            )
            .await
    }

    /// Refreshes the lookup without holding up the request that found it due.
    fn refresh_accounts_in_background(self: &Arc<Self>, user: Arc<User>, seam: Rc<SeamClient>) {
        let handshake = self.clone();
        actix_web::rt::spawn(async move {
            // Only Seam-backed sources have lookups to refresh.
            let Ok(Owned::AtSeam(filter)) = handshake.owned(&user, None) else {
                return;
            };
            let now = handshake.clock.now();
            let due = handshake.account_refresh_after;
            // Anything past the refresh point counts as due; a concurrent refresh wins.
            let _ = handshake
                .look_up_accounts(&user, filter, &seam, |l| now < l.fetched_at + due)
                .await;
        });
    }
}
