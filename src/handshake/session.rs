//! The session policy of the handshake (see the handshake's **Sessions** and **Stale
//! sessions**): when a cached session still serves, when it is renewed (at once, or in the
//! background), what is handed out stale while Seam fails, and where a fresh one comes from:
//! Seam, or in fleet mode the fleet's one fetch.

use std::rc::Rc;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use super::Handshake;
use super::accounts::AccountSet;
use super::issue::{self, IssuedSession};
use super::users::User;
use crate::cache::{Found, Outcome};
use crate::fleet::{FleetStart, Stored};
use crate::seam::{SeamClient, SeamError};

/// How soon a stale session is asked for again when Seam suggests no wait; and the bounds of
/// a wait Seam or the breaker suggests.
const STALE_RETRY: Duration = Duration::seconds(15);
const STALE_RETRY_BOUNDS: (Duration, Duration) = (Duration::seconds(1), Duration::seconds(60));

impl Handshake {
    /// The user's session granting exactly `accounts`: the cached one while it serves (a due
    /// renewal then starts in the background), else a fresh one through the user's flight, or
    /// a stale one while Seam fails.
    pub(super) async fn session_for(
        self: &Arc<Self>,
        user: &Arc<User>,
        accounts: &AccountSet,
        fleet: &FleetStart,
        seam: &Rc<SeamClient>,
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
    pub(super) fn count_stale(&self, session: &IssuedSession) -> Option<Outcome> {
        let reason = session.stale?;
        self.stale_sessions.with_label_values(&[reason]).inc();
        Some(Outcome::Stale)
    }

    /// A session handed out within `sessions.refresh_ahead_secs` of its `refresh_after` is
    /// renewed in the background. Not a stale one: its `refresh_after` is when the next
    /// handshake tries Seam, and trying in the background too would double the calls.
    pub(super) fn after_session_hit(
        self: &Arc<Self>,
        user: &Arc<User>,
        session: &IssuedSession,
        accounts: &AccountSet,
        now: OffsetDateTime,
        seam: &Rc<SeamClient>,
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
                    let session = self.fetch_session(user, accounts, seam, fleet, qualifies);
                    let session = session.await?;
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
        seam: Rc<SeamClient>,
    ) {
        let handshake = self.clone();
        actix_web::rt::spawn(async move {
            let now = handshake.clock.now();
            let ahead = handshake.session_refresh_ahead;
            // Anything inside the renewal window counts as due; a concurrent renewal wins.
            // A failure leaves the session as it is: it is still inside its window.
            let renewed = handshake
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

    /// The user's session when this replica's cache cannot give one: from Seam, or in fleet
    /// mode a session another replica stored if it qualifies, else the fleet's one fetch.
    async fn fetch_session(
        &self,
        user: &User,
        accounts: &AccountSet,
        seam: &SeamClient,
        start: &FleetStart,
        qualifies: impl Fn(&IssuedSession) -> bool,
    ) -> Result<IssuedSession, SeamError> {
        let issue = async || {
            let previous = user.session.current();
            let key = &user.user_identifier_key;
            let clock = &*self.clock;
            issue::issue(
                &self.policy,
                &self.provenance,
                clock,
                key,
                accounts,
                previous.as_deref(),
                seam,
            )
            .await
        };
        let Some(fleet) = &self.fleet else {
            return issue().await;
        };
        let codec = Stored {
            usable: |bytes: &[u8]| {
                IssuedSession::from_stored(bytes, &self.policy).filter(|s| qualifies(s))
            },
            stored: |session: &IssuedSession| {
                let left = session.expires_at - self.clock.now();
                (
                    session.to_stored(),
                    std::time::Duration::try_from(left).unwrap_or_default(),
                )
            },
        };
        let key = &user.user_identifier_key;
        fleet.fetch_session(key, start, codec, issue).await
    }
}
