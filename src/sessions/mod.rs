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
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

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

impl IssuedSession {
    /// Checks what `body` relies on: the token and the session id need no JSON escaping
    /// (Seam's are ASCII letters, digits and `_`), and both times can be written in RFC 3339
    /// (a year past 9999 cannot).
    fn new(
        accounts: AccountSet,
        expires_at: OffsetDateTime,
        refresh_after: OffsetDateTime,
        token: SecretString,
        client_session_id: String,
    ) -> Result<Self, SeamError> {
        let writable = !needs_escaping(token.expose_secret())
            && !needs_escaping(&client_session_id)
            && rfc3339(expires_at).is_some()
            && rfc3339(refresh_after).is_some();
        if !writable {
            return Err(SeamError::UnusableSession(
                "its fields cannot be written as JSON",
            ));
        }
        Ok(Self {
            accounts,
            expires_at,
            refresh_after,
            token,
            client_session_id: client_session_id.into(),
        })
    }

    /// The response body (see `routes::client_session`). Written per request rather than
    /// kept: the few hundred bytes would be a third of what a cached user costs.
    pub(crate) fn body(&self) -> Bytes {
        Bytes::from(self.write_body())
    }

    /// Written by hand into one buffer of exactly its size (so that it becomes `Bytes` without
    /// another allocation): serializing it was a repeat handshake's largest cost after the
    /// network. Only the account ids may need escaping.
    fn write_body(&self) -> Vec<u8> {
        let times = rfc3339(self.expires_at).zip(rfc3339(self.refresh_after));
        let (expires_at, refresh_after) = times.expect("checked when the session was issued");
        let parts: [&[u8]; 9] = [
            br#"{"token":""#,
            self.token.expose_secret().as_bytes(),
            br#"","expires_at":""#,
            expires_at.as_ref(),
            br#"","refresh_after":""#,
            refresh_after.as_ref(),
            br#"","client_session_id":""#,
            self.client_session_id.as_bytes(),
            br#"","connected_account_ids":"#,
        ];
        // `[`, `]`, and per id its quotes and a comma, less one comma.
        let ids: usize = self.accounts.iter().map(|id| id.len() + 3).sum();
        let ids = ids.max(1) + 1;
        let mut body = Vec::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() + ids + 1);
        for part in parts {
            body.extend_from_slice(part);
        }
        serde_json::to_writer(&mut body, &*self.accounts).expect("strings serialize into memory");
        body.push(b'}');
        body
    }
}

/// Whether `value` needs escaping inside a JSON string.
fn needs_escaping(value: &str) -> bool {
    value.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\')
}

/// A time in RFC 3339, on the stack (at most 35 bytes with nanoseconds and an offset).
fn rfc3339(at: OffsetDateTime) -> Option<Rfc3339Text> {
    let mut buffer = [0; 35];
    let mut unwritten = &mut buffer[..];
    // The length is what the writes used up: `format_into`'s own count leaves out the
    // fraction's digits (time 0.3.55).
    at.format_into(&mut unwritten, &Rfc3339).ok()?;
    let len = 35 - unwritten.len();
    Some(Rfc3339Text(buffer, len))
}

struct Rfc3339Text([u8; 35], usize);

impl AsRef<[u8]> for Rfc3339Text {
    fn as_ref(&self) -> &[u8] {
        &self.0[..self.1]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::account_set;
    use serde_json::{Value, json};
    use time::macros::datetime;

    fn session(token: &str, id: &str, accounts: &[&str]) -> Result<IssuedSession, SeamError> {
        IssuedSession::new(
            account_set(accounts.iter().map(|a| a.to_string())),
            datetime!(2026-11-28 10:00:00.25 UTC),
            datetime!(2026-11-28 09:55:00 UTC),
            SecretString::from(token),
            id.to_owned(),
        )
    }

    #[test]
    fn the_body_is_the_session_as_json_and_escapes_what_it_must() {
        let issued = session("seam_cst1abc", "cs-1", &["acct-b", r#"acct "a"\"#])
            .expect("a writable session");
        let body = issued.body();
        let parsed: Value = serde_json::from_slice(&body).expect("valid JSON");
        assert_eq!(
            parsed,
            json!({
                "token": "seam_cst1abc",
                "expires_at": "2026-11-28T10:00:00.25Z",
                "refresh_after": "2026-11-28T09:55:00Z",
                "client_session_id": "cs-1",
                "connected_account_ids": [r#"acct "a"\"#, "acct-b"],
            })
        );
        let no_accounts = session("seam_cst1abc", "cs-1", &[])
            .expect("a writable session")
            .body();
        let parsed: Value = serde_json::from_slice(&no_accounts).expect("valid JSON");
        assert_eq!(parsed["connected_account_ids"], json!([]));
    }

    #[test]
    fn the_body_is_sized_exactly_when_no_id_needs_escaping() {
        for accounts in [&[][..], &["acct-1"], &["acct-1", "acct-22", "acct-333"]] {
            let body = session("seam_cst1abc", "cs-1", accounts)
                .expect("a writable session")
                .write_body();
            assert_eq!(body.len(), body.capacity(), "{accounts:?}");
        }
    }

    #[test]
    fn a_session_whose_token_or_id_would_need_escaping_is_refused() {
        for (token, id) in [
            ("seam_\"cst", "cs-1"),
            ("seam_cst", "cs\\1"),
            ("seam\ncst", "cs"),
        ] {
            assert!(matches!(
                session(token, id, &["acct"]),
                Err(SeamError::UnusableSession(_))
            ));
        }
    }
}
