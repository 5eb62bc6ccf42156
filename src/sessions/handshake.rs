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
//!   served from the cache while Seam is down, for as long as it is inside its window. Never
//!   past `refresh_after`: a token with less than `min_remaining` left is never handed out.
//!
//! Concurrent handshakes of one user share one Seam call (the user's flight, `cache::Slot`).

use std::sync::Arc;

use time::OffsetDateTime;

use super::accounts::{self, AccountSet, BadAccountsClaim, Owned};
use super::fleet::FleetStart;
use super::issue::IssuedSession;
use super::users::{Lookup, User};
use super::{Login, Sessions};
use crate::cache::{Found, Outcome};
use crate::seam::{AccountFilter, SeamClient, SeamError};

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
        self.session_lookups.count(Outcome::Hit);
        self.after_session_hit(user, &session, &accounts, now, seam);
        Some(Handed {
            session,
            accounts_outcome: fetched_at.map(|_| Outcome::Hit),
            session_outcome: Outcome::Hit,
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
                session: found.value,
                accounts_outcome,
                session_outcome: found.outcome,
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
                |lookup| self.clock.now() < lookup.fetched_at + self.account_serve_stale,
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
            .get_session(user, accounts, seam, fleet, |s| now < s.refresh_after)
            .await?;
        if found.outcome == Outcome::Hit {
            self.after_session_hit(user, &found.value, accounts, now, seam);
        }
        Ok(found)
    }

    /// A session handed out within `sessions.refresh_ahead_secs` of its `refresh_after` is
    /// renewed in the background.
    fn after_session_hit(
        self: &Arc<Self>,
        user: &Arc<User>,
        session: &IssuedSession,
        accounts: &AccountSet,
        now: OffsetDateTime,
        seam: &Arc<SeamClient>,
    ) {
        if now >= session.refresh_after - self.session_refresh_ahead
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
    ) -> Result<Found<Arc<IssuedSession>>, SeamError> {
        let qualifies = |session: &IssuedSession| session.accounts == *accounts && in_time(session);
        user.session
            .get_or_refresh(
                &user.flight,
                &self.session_lookups,
                |session| qualifies(session),
                // Never past refresh_after, Seam down or not.
                |_| false,
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
            let renewed = sessions
                .get_session(&user, &accounts, &seam, &FleetStart::default(), |s| {
                    now < s.refresh_after - ahead
                })
                .await;
            if let Err(error) = renewed {
                tracing::warn!(%error, "background session renewal failed; a handshake after refresh_after retries");
            }
        });
    }
}
