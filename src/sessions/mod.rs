//! Client sessions handed to frontends: cached per user, renewed before they run short, and
//! always granting exactly the user's current accounts.
//!
//! A session serves while the user's account set is unchanged and until `refresh_after`
//! (`expires_at - sessions.min_remaining_secs`); then the next handshake renews it through
//! Seam's `get_or_create`, which updates the expiry of the user's one session. An entry handed
//! out within `sessions.refresh_ahead_secs` of `refresh_after` is renewed in the background,
//! so a user who keeps coming back never waits on Seam, and keeps being served from the cache
//! while Seam is down, for as long as the entry is inside its window.

mod issue;

use std::sync::Arc;

use actix_web::web::{Bytes, Data};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use time::OffsetDateTime;

use crate::accounts::AccountSet;
use crate::cache::{Found, Lookups, Outcome};
use crate::clock::Clock;
use crate::config::{ConfigError, SessionsSettings};
use crate::metrics::Metrics;
use crate::seam::{SeamClient, SeamError};
use crate::users::{User, Users};

/// A session as handed out, kept in the user's cache entry. Deliberately not `Debug`: it holds
/// the token.
pub(crate) struct IssuedSession {
    accounts: AccountSet,
    expires_at: OffsetDateTime,
    refresh_after: OffsetDateTime,
    token: SecretString,
    client_session_id: Box<str>,
}

/// The handshake's JSON body (see `routes::client_session`).
#[derive(Serialize)]
struct Body<'a> {
    token: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    refresh_after: OffsetDateTime,
    client_session_id: &'a str,
    connected_account_ids: &'a [String],
}

impl IssuedSession {
    /// The response body. Written per request rather than kept: the few hundred bytes would
    /// be a third of what a cached user costs, and writing them takes well under a microsecond.
    pub(crate) fn body(&self) -> Bytes {
        self.try_body()
            .expect("checked when the session was issued")
            .into()
    }

    /// Fails only for a time that RFC 3339 cannot write (a year past 9999).
    fn try_body(&self) -> serde_json::Result<Vec<u8>> {
        // Room for the usual body at once: growing a Vec from empty copies it several times.
        let mut body = Vec::with_capacity(256 + 40 * self.accounts.len());
        serde_json::to_writer(
            &mut body,
            &Body {
                token: self.token.expose_secret(),
                expires_at: self.expires_at,
                refresh_after: self.refresh_after,
                client_session_id: &self.client_session_id,
                connected_account_ids: &self.accounts,
            },
        )?;
        Ok(body)
    }
}

pub(crate) struct SessionBroker {
    lookups: Lookups,
    ttl: time::Duration,
    min_remaining: time::Duration,
    refresh_ahead: time::Duration,
    clock: Arc<dyn Clock>,
}

/// A background renewal of one user's session, due because it was handed out near its
/// `refresh_after`.
pub(crate) struct SessionRenewal {
    user: Arc<User>,
    accounts: AccountSet,
}

impl SessionBroker {
    pub(crate) fn from_settings(
        settings: &SessionsSettings,
        clock: Arc<dyn Clock>,
        metrics: &Metrics,
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
            lookups: Lookups::new("session", metrics),
            ttl: time::Duration::seconds(settings.ttl_secs as i64),
            min_remaining: time::Duration::seconds(settings.min_remaining_secs as i64),
            refresh_ahead: time::Duration::seconds(settings.refresh_ahead_secs as i64),
            clock,
        })
    }

    /// The user's session granting exactly `accounts`, from the cache when it still
    /// qualifies, else issued through Seam (once, however many callers wait for it). Also
    /// says whether a background renewal is due.
    pub(crate) async fn session_for(
        &self,
        user: &Arc<User>,
        accounts: &AccountSet,
        seam: &SeamClient,
    ) -> Result<(Arc<IssuedSession>, Outcome, Option<SessionRenewal>), SeamError> {
        let now = self.clock.now();
        let found = self
            .get(user, accounts, seam, |s| now < s.refresh_after)
            .await?;
        let (session, outcome) = (found.value, found.outcome);
        let due = outcome == Outcome::Hit
            && now >= session.refresh_after - self.refresh_ahead
            && user.session.claim_background_refresh();
        let renewal = due.then(|| SessionRenewal {
            user: user.clone(),
            accounts: accounts.clone(),
        });
        Ok((session, outcome, renewal))
    }

    async fn get(
        &self,
        user: &User,
        accounts: &AccountSet,
        seam: &SeamClient,
        in_time: impl Fn(&IssuedSession) -> bool,
    ) -> Result<Found<Arc<IssuedSession>>, SeamError> {
        user.session
            .get_or_refresh(
                &user.flight,
                &self.lookups,
                |session| session.accounts == *accounts && in_time(session),
                // Never past refresh_after: a token with less than min_remaining left is
                // never handed out, Seam down or not.
                |_| false,
                || async {
                    issue::issue(self, &user.user_identifier_key, accounts, seam)
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
        cached: Option<&User>,
        seam: &SeamClient,
    ) -> Result<usize, SeamError> {
        // Drop first: a handshake racing with this must not serve the old token from here.
        if let Some(user) = cached {
            user.session.clear(&user.flight).await;
        }
        let sessions = seam.list_sessions(Some(user_identifier_key)).await?;
        for session in &sessions {
            seam.revoke_session(&session.client_session_id).await?;
        }
        if let Some(user) = cached {
            user.session.clear(&user.flight).await;
        }
        Ok(sessions.len())
    }

    /// Drops the cached session of the user with this Seam key, if any, so that their next
    /// handshake asks Seam.
    pub(crate) async fn forget(&self, users: &Users, user_identifier_key: &str) {
        if let Some(user) = users.with_key(user_identifier_key) {
            user.session.clear(&user.flight).await;
        }
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
                .get(&self.user, &self.accounts, &seam, |s| {
                    now < s.refresh_after - ahead
                })
                .await;
            if let Err(error) = renewed {
                tracing::warn!(%error, "background session renewal failed; a handshake after refresh_after retries");
            }
        });
    }
}
