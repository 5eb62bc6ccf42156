//! Client sessions handed to frontends: cached per user, renewed before they run short, and
//! always granting exactly the user's current accounts.
//!
//! An entry serves while the user's account set is unchanged and until `refresh_after`
//! (`expires_at - sessions.min_remaining_secs`); then the next handshake renews it through
//! Seam's `get_or_create`, which updates the expiry of the user's one session. An entry handed
//! out within `sessions.refresh_ahead_secs` of `refresh_after` is renewed in the background,
//! so a user who keeps coming back never waits on Seam, and keeps being served from the cache
//! while Seam is down, for as long as the entry is inside its window.

mod issue;
mod memo;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::web::{Bytes, Data};
use time::OffsetDateTime;

use crate::accounts::AccountSet;
use crate::cache::{Found, FreshCache, Outcome};
use crate::clock::Clock;
use crate::config::{ConfigError, SessionsSettings};
use crate::metrics::Metrics;
use crate::seam::{SeamClient, SeamError};

pub(crate) use memo::Memo;

/// A session as handed out. Deliberately not `Debug`: `body` holds the token.
pub(crate) struct IssuedSession {
    accounts: AccountSet,
    refresh_after: OffsetDateTime,
    /// The response body, serialised once when the session is issued: every cache hit sends
    /// these same bytes.
    pub(crate) body: Bytes,
    /// Set once a background renewal of this entry has started.
    renewing: AtomicBool,
    /// Set when the cache lets go of this entry (logout, revocation, replacement), so that
    /// no remembered copy of it is handed out any more.
    retired: AtomicBool,
}

pub(crate) struct SessionBroker {
    cache: FreshCache<Arc<IssuedSession>>,
    ttl: time::Duration,
    min_remaining: time::Duration,
    refresh_ahead: time::Duration,
    clock: Arc<dyn Clock>,
}

/// A background renewal of one user's session, due because it was handed out near its
/// `refresh_after`.
pub(crate) struct SessionRenewal {
    user_identifier_key: String,
    accounts: AccountSet,
}

impl SessionBroker {
    pub(crate) fn from_settings(
        settings: &SessionsSettings,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ConfigError> {
        if settings.ttl_secs <= settings.min_remaining_secs {
            return Err(ConfigError::new(
                "sessions.min_remaining_secs",
                "must be below sessions.ttl_secs, or no session could ever be handed out",
            ));
        }
        if settings.max_entries == 0 {
            return Err(ConfigError::new("sessions.max_entries", "must be above 0"));
        }
        Ok(Self {
            cache: FreshCache::new("session", settings.max_entries, metrics),
            ttl: time::Duration::seconds(settings.ttl_secs as i64),
            min_remaining: time::Duration::seconds(settings.min_remaining_secs as i64),
            refresh_ahead: time::Duration::seconds(settings.refresh_ahead_secs as i64),
            clock,
        })
    }

    /// The session for `user_identifier_key` granting exactly `accounts`, from the cache when
    /// it still qualifies, else issued through Seam (once, however many callers wait for it).
    /// Also says whether a background renewal is due.
    pub(crate) async fn session_for(
        &self,
        user_identifier_key: &str,
        accounts: &AccountSet,
        seam: &SeamClient,
    ) -> Result<(Arc<IssuedSession>, Outcome, Option<SessionRenewal>), SeamError> {
        let now = self.clock.now();
        let found = self
            .get(user_identifier_key, accounts, seam, |s| {
                now < s.refresh_after
            })
            .await?;
        if let Some(previous) = &found.replaced {
            previous.retired.store(true, Ordering::Release);
        }
        let (session, outcome) = (found.value, found.outcome);
        let due = outcome == Outcome::Hit
            && now >= session.refresh_after - self.refresh_ahead
            && !session.renewing.swap(true, Ordering::Relaxed);
        let renewal = due.then(|| SessionRenewal {
            user_identifier_key: user_identifier_key.to_owned(),
            accounts: accounts.clone(),
        });
        Ok((session, outcome, renewal))
    }

    async fn get(
        &self,
        user_identifier_key: &str,
        accounts: &AccountSet,
        seam: &SeamClient,
        in_time: impl Fn(&IssuedSession) -> bool,
    ) -> Result<Found<Arc<IssuedSession>>, SeamError> {
        self.cache
            .get_or_refresh(
                user_identifier_key,
                |session| session.accounts == *accounts && in_time(session),
                // Never past refresh_after: a token with less than min_remaining left is
                // never handed out, Seam down or not.
                |_| false,
                || async {
                    issue::issue(self, user_identifier_key, accounts, seam)
                        .await
                        .map(Arc::new)
                },
            )
            .await
    }

    /// Entries held, for the metrics.
    pub(crate) async fn cached(&self) -> u64 {
        self.cache.len().await
    }

    /// Revokes every Seam session of the user and drops the cached one: their tokens stop
    /// working at once, on every device. Returns how many were revoked.
    pub(crate) async fn revoke_user(
        &self,
        user_identifier_key: &str,
        seam: &SeamClient,
    ) -> Result<usize, SeamError> {
        // Evict first: a handshake racing with this must not serve the old token from here.
        self.forget(user_identifier_key).await;
        let sessions = seam.list_sessions(Some(user_identifier_key)).await?;
        for session in &sessions {
            seam.revoke_session(&session.client_session_id).await?;
        }
        self.forget(user_identifier_key).await;
        Ok(sessions.len())
    }

    /// Drops the user's cached session, so that the next handshake asks Seam.
    pub(crate) async fn forget(&self, user_identifier_key: &str) {
        if let Some(session) = self.cache.remove(user_identifier_key).await {
            session.retired.store(true, Ordering::Release);
        }
    }

    /// The session remembered for this login, while it needs no look at the caches.
    pub(crate) fn remembered(&self, memo: &Memo) -> Option<Arc<IssuedSession>> {
        let session = memo.get(self.clock.now())?;
        self.cache.count_hit();
        Some(session)
    }

    /// Remembers `session` for the login that just received it, until its renewal point or
    /// until the accounts need checking, whichever comes first.
    pub(crate) fn remember(
        &self,
        memo: &Memo,
        session: &Arc<IssuedSession>,
        accounts_settled_until: Option<OffsetDateTime>,
    ) {
        let renewal_point = session.refresh_after - self.refresh_ahead;
        let until = accounts_settled_until.map_or(renewal_point, |a| a.min(renewal_point));
        memo.set(session.clone(), until);
    }
}

impl SessionRenewal {
    /// Renews the session on this worker without holding up the request that found it due.
    pub(crate) fn spawn(self, broker: Data<SessionBroker>, seam: Data<SeamClient>) {
        actix_web::rt::spawn(async move {
            let now = broker.clock.now();
            let ahead = broker.refresh_ahead;
            // Anything inside the renewal window counts as due; a concurrent renewal wins.
            let renewed = broker
                .get(&self.user_identifier_key, &self.accounts, &seam, |s| {
                    now < s.refresh_after - ahead
                })
                .await;
            if let Ok(Found {
                replaced: Some(previous),
                ..
            }) = &renewed
            {
                previous.retired.store(true, Ordering::Release);
            }
            if let Err(error) = renewed {
                tracing::warn!(%error, "background session renewal failed; a handshake after refresh_after retries");
            }
        });
    }
}
