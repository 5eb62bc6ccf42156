//! The handshake: a verified login in, the client session to hand out (and how the caches
//! answered) out. It owns both policies that make repeat logins cost no upstream call:
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

use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use super::accounts::{self, AccountSet, BadAccountsClaim, Owned};
use super::fleet::FleetStart;
use super::issue::IssuedSession;
use super::users::{Lookup, User};
use super::{Login, Sessions};
use crate::cache::{Found, Outcome};
use crate::seam::{AccountFilter, SeamClient, SeamError};

/// How soon a stale session is asked for again when Seam suggests no wait; and the bounds of
/// a wait Seam or the breaker suggests.
const STALE_RETRY: Duration = Duration::seconds(15);
const STALE_RETRY_BOUNDS: (Duration, Duration) = (Duration::seconds(1), Duration::seconds(60));

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

impl Sessions {
    /// The session to hand to `login`'s frontend, when the cache holds one that qualifies
    /// (granting exactly the user's accounts, not yet due for renewal): the repeat handshake,
    /// without waiting on anything and without a Seam call. Background refreshes that have
    /// become due are started on this worker. `None`: only `handshake` can answer.
    pub(crate) fn cached(
        self: &Arc<Self>,
        login: &Login,
        seam: &Arc<SeamClient>,
    ) -> Result<Option<Handed>, HandshakeError> {
        let owned = self.owned(&login.user, login.accounts_claim.as_ref())?;
        Ok(self.from_cache(&login.user, &owned, seam))
    }

    /// The session to hand to `login`'s frontend, asking Seam for what the cache cannot give
    /// (once, however many callers wait for it): the account list, the session, or both.
    pub(crate) async fn handshake(
        self: &Arc<Self>,
        login: &Login,
        seam: &Arc<SeamClient>,
    ) -> Result<Handed, HandshakeError> {
        let owned = self.owned(&login.user, login.accounts_claim.as_ref())?;
        // Boxed: waiting on Seam takes a large future, which inline would be part of the
        // handler's, and so of every handshake's, the cached ones' too.
        Box::pin(self.through_seam(&login.user, owned, &login.fleet, seam)).await
    }

    /// The repeat handshake, without waiting on anything: both answers cached and fresh.
    fn from_cache(
        self: &Arc<Self>,
        user: &Arc<User>,
        owned: &Owned,
        seam: &Arc<SeamClient>,
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
    async fn through_seam(
        self: &Arc<Self>,
        user: &Arc<User>,
        owned: Owned<'_>,
        fleet: &FleetStart,
        seam: &Arc<SeamClient>,
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
        seam: &Arc<SeamClient>,
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
        seam: &Arc<SeamClient>,
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
                    let accounts = accounts::fetch(filter, seam).await?;
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
    fn refresh_accounts_in_background(self: &Arc<Self>, user: Arc<User>, seam: Arc<SeamClient>) {
        let sessions = self.clone();
        actix_web::rt::spawn(async move {
            // Only Seam-backed sources have lookups to refresh.
            let Ok(Owned::AtSeam(filter)) = sessions.owned(&user, None) else {
                return;
            };
            let now = sessions.clock.now();
            let due = sessions.account_refresh_after;
            // Anything past the refresh point counts as due; a concurrent refresh wins.
            let _ = sessions
                .look_up_accounts(&user, filter, &seam, |l| now < l.fetched_at + due)
                .await;
        });
    }

    async fn session_for(
        self: &Arc<Self>,
        user: &Arc<User>,
        accounts: &AccountSet,
        fleet: &FleetStart,
        seam: &Arc<SeamClient>,
    ) -> Result<Found<Arc<IssuedSession>>, SeamError> {
        let now = self.clock.now();
        let found = self
            .get_session(
                user,
                accounts,
                seam,
                fleet,
                |s| now < s.refresh_after,
                |session, error| self.stale_session(session, accounts, error),
            )
            .await?;
        if found.outcome == Outcome::Hit {
            self.after_session_hit(user, &found.value, accounts, now, seam);
        }
        Ok(found)
    }

    /// The session to hand out after its renewal failed with `error`, if it may be (see the
    /// module's **Stale sessions**): a copy that says when to come back.
    fn stale_session(
        &self,
        session: &IssuedSession,
        accounts: &AccountSet,
        error: &SeamError,
    ) -> Option<Arc<IssuedSession>> {
        let (reason, suggested) = error.outage()?;
        if self.stale_min_remaining.is_zero() || session.accounts != *accounts {
            return None;
        }
        let now = self.clock.now();
        let last = session.expires_at - self.stale_min_remaining;
        if now >= last {
            return None;
        }
        let (shortest, longest) = STALE_RETRY_BOUNDS;
        let wait = suggested
            .and_then(|wait| Duration::try_from(wait).ok())
            .map_or(STALE_RETRY, |wait| wait.clamp(shortest, longest));
        Some(Arc::new(session.stale_copy((now + wait).min(last), reason)))
    }

    /// For a stale session: counts the serve by its reason, and says so.
    fn count_stale(&self, session: &IssuedSession) -> Option<Outcome> {
        let reason = session.stale?;
        self.stale_sessions.with_label_values(&[reason]).inc();
        Some(Outcome::Stale)
    }

    /// A session handed out within `sessions.refresh_ahead_secs` of its `refresh_after` is
    /// renewed in the background. Not a stale one: its `refresh_after` is when the next
    /// handshake tries Seam, and trying in the background too would double the calls.
    fn after_session_hit(
        self: &Arc<Self>,
        user: &Arc<User>,
        session: &IssuedSession,
        accounts: &AccountSet,
        now: OffsetDateTime,
        seam: &Arc<SeamClient>,
    ) {
        if session.stale.is_none()
            && now >= session.refresh_after - self.session_refresh_ahead
            && user.session.claim_background_refresh()
        {
            self.renew_in_background(user.clone(), accounts.clone(), seam.clone());
        }
    }

    async fn get_session(
        &self,
        user: &User,
        accounts: &AccountSet,
        seam: &SeamClient,
        fleet: &FleetStart,
        in_time: impl Fn(&IssuedSession) -> bool,
        stale: impl Fn(&IssuedSession, &SeamError) -> Option<Arc<IssuedSession>>,
    ) -> Result<Found<Arc<IssuedSession>>, SeamError> {
        let qualifies = |session: &IssuedSession| session.accounts == *accounts && in_time(session);
        user.session
            .get_or_refresh(
                &user.flight,
                &self.session_lookups,
                |session| qualifies(session),
                |session, error| stale(session, error),
                || async {
                    let session =
                        (self.fetch_session(user, accounts, seam, fleet, qualifies)).await?;
                    let id = std::iter::once(&*session.client_session_id);
                    self.note_held(user, session.granted().map(String::as_str).chain(id));
                    Ok(Arc::new(session))
                },
            )
            .await
    }

    /// Renews the session without holding up the request that found it due.
    fn renew_in_background(
        self: &Arc<Self>,
        user: Arc<User>,
        accounts: AccountSet,
        seam: Arc<SeamClient>,
    ) {
        let sessions = self.clone();
        actix_web::rt::spawn(async move {
            let now = sessions.clock.now();
            let ahead = sessions.session_refresh_ahead;
            // Anything inside the renewal window counts as due; a concurrent renewal wins.
            // A failure leaves the session as it is: it is still inside its window.
            let renewed = sessions
                .get_session(
                    &user,
                    &accounts,
                    &seam,
                    &FleetStart::default(),
                    |s| now < s.refresh_after - ahead,
                    |_, _| None,
                )
                .await;
            if let Err(error) = renewed {
                tracing::warn!(%error, "background session renewal failed; a handshake after refresh_after retries");
            }
        });
    }
}
