//! Client sessions handed to frontends: cached per user, renewed before they run short, and
//! always granting exactly the user's current accounts.
//!
//! An entry serves while the user's account set is unchanged and until `refresh_after`
//! (`expires_at - sessions.min_remaining_secs`); then the next handshake renews it through
//! Seam's `get_or_create`, which updates the expiry of the user's one session.

mod issue;

use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use time::OffsetDateTime;

use crate::accounts::AccountSet;
use crate::cache::{FreshCache, Outcome};
use crate::clock::Clock;
use crate::config::{ConfigError, SessionsSettings};
use crate::seam::{SeamClient, SeamError};

/// A session as handed out. Deliberately not `Debug`: `body` holds the token.
pub(crate) struct IssuedSession {
    accounts: AccountSet,
    refresh_after: OffsetDateTime,
    /// The response body, serialised once when the session is issued: every cache hit sends
    /// these same bytes.
    pub(crate) body: Bytes,
}

pub(crate) struct SessionBroker {
    cache: FreshCache<Arc<IssuedSession>>,
    ttl: time::Duration,
    min_remaining: time::Duration,
    clock: Arc<dyn Clock>,
}

impl SessionBroker {
    pub(crate) fn from_settings(
        settings: &SessionsSettings,
        clock: Arc<dyn Clock>,
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
            cache: FreshCache::new(settings.max_entries, Duration::from_secs(settings.ttl_secs)),
            ttl: time::Duration::seconds(settings.ttl_secs as i64),
            min_remaining: time::Duration::seconds(settings.min_remaining_secs as i64),
            clock,
        })
    }

    /// The session for `user_identifier_key` granting exactly `accounts`, from the cache when
    /// it still qualifies, else issued through Seam (once, however many callers wait for it).
    pub(crate) async fn session_for(
        &self,
        user_identifier_key: &str,
        accounts: &AccountSet,
        seam: &SeamClient,
    ) -> Result<(Arc<IssuedSession>, Outcome), SeamError> {
        let now = self.clock.now();
        self.cache
            .get_or_refresh(
                user_identifier_key,
                |session| session.accounts == *accounts && now < session.refresh_after,
                || async {
                    issue::issue(self, user_identifier_key, accounts, seam)
                        .await
                        .map(Arc::new)
                },
            )
            .await
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
        self.cache.invalidate(user_identifier_key).await;
    }
}
