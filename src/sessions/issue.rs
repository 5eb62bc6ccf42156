//! Getting a session from Seam that grants exactly the wanted accounts, and the session as it
//! is handed out.
//!
//! Seam does not document what `get_or_create` does with `connected_account_ids` for a key
//! that already has a session (replace, merge or ignore), so the answer is checked: missing
//! accounts are granted, and a session holding an account the user no longer owns is deleted
//! and created afresh, never handed out.

use secrecy::{ExposeSecret, SecretString};
use time::{Duration, OffsetDateTime};

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::accounts::{AccountSet, account_set};
use crate::clock::Clock;
use crate::seam::{ClientSession, SeamClient, SeamError};

/// A session as handed out, kept in the user's cache entry. Deliberately not `Debug`: it holds
/// the token.
pub(crate) struct IssuedSession {
    pub(crate) accounts: AccountSet,
    pub(crate) expires_at: OffsetDateTime,
    /// When the frontend should ask again: `expires_at - sessions.min_remaining_secs`.
    pub(crate) refresh_after: OffsetDateTime,
    token: SecretString,
    pub(crate) client_session_id: Box<str>,
}

impl IssuedSession {
    pub(crate) fn new(
        accounts: AccountSet,
        expires_at: OffsetDateTime,
        refresh_after: OffsetDateTime,
        token: SecretString,
        client_session_id: String,
    ) -> Self {
        Self {
            accounts,
            expires_at,
            refresh_after,
            token,
            client_session_id: client_session_id.into(),
        }
    }

    /// The client session token, for the response body only.
    pub(crate) fn token(&self) -> &str {
        self.token.expose_secret()
    }

    /// The session as the fleet stores it (`cluster` seals it before it leaves the process).
    pub(super) fn to_stored(&self) -> Vec<u8> {
        let stored = Stored {
            accounts: self.accounts.to_vec(),
            expires_at: self.expires_at,
            token: Cow::Borrowed(self.token.expose_secret()),
            client_session_id: Cow::Borrowed(&self.client_session_id),
        };
        serde_json::to_vec(&stored).unwrap_or_default()
    }

    /// A session another replica stored; `refresh_after` follows this replica's own terms.
    pub(super) fn from_stored(bytes: &[u8], terms: &Terms) -> Option<Self> {
        let stored: Stored<'_> = serde_json::from_slice(bytes).ok()?;
        Some(Self::new(
            account_set(stored.accounts),
            stored.expires_at,
            stored.expires_at - terms.min_remaining,
            SecretString::from(stored.token.into_owned()),
            stored.client_session_id.into_owned(),
        ))
    }
}

/// `IssuedSession` in the fleet's store.
#[derive(Serialize, Deserialize)]
struct Stored<'a> {
    accounts: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    #[serde(borrow)]
    token: Cow<'a, str>,
    #[serde(borrow)]
    client_session_id: Cow<'a, str>,
}

/// How long sessions are asked for and how long before their end they stop being handed out.
pub(super) struct Terms {
    pub(super) ttl: Duration,
    pub(super) min_remaining: Duration,
}

pub(super) async fn issue(
    terms: &Terms,
    clock: &dyn Clock,
    user_identifier_key: &str,
    wanted: &AccountSet,
    seam: &SeamClient,
) -> Result<IssuedSession, SeamError> {
    let expires_at = clock.now() + terms.ttl;
    let mut session = seam
        .get_or_create_session(user_identifier_key, wanted, expires_at)
        .await?;
    if let Some(problem) = unusable(terms, clock, &session, wanted) {
        // Also covers a revoked or expired session coming back, which Seam does not rule out.
        tracing::info!(
            client_session_id = %session.client_session_id,
            problem,
            "replacing the user's Seam session"
        );
        seam.delete_session(&session.client_session_id).await?;
        session = seam
            .get_or_create_session(user_identifier_key, wanted, expires_at)
            .await?;
        if let Some(problem) = unusable(terms, clock, &session, wanted) {
            return Err(SeamError::UnusableSession(problem));
        }
    }
    let missing: Vec<String> = wanted
        .iter()
        .filter(|id| !session.connected_account_ids.contains(id))
        .cloned()
        .collect();
    if !missing.is_empty() {
        seam.grant_access(&session.client_session_id, &missing)
            .await?;
    }
    Ok(IssuedSession::new(
        wanted.clone(),
        session.expires_at,
        session.expires_at - terms.min_remaining,
        session.token,
        session.client_session_id,
    ))
}

/// Why `session` must not be handed out, if it must not.
fn unusable(
    terms: &Terms,
    clock: &dyn Clock,
    session: &ClientSession,
    wanted: &AccountSet,
) -> Option<&'static str> {
    if holds_unwanted(session, wanted) {
        Some("it holds accounts the user does not own")
    } else if session.expires_at - terms.min_remaining <= clock.now() {
        Some("it expires within sessions.min_remaining_secs")
    } else {
        None
    }
}

fn holds_unwanted(session: &ClientSession, wanted: &AccountSet) -> bool {
    session
        .connected_account_ids
        .iter()
        .any(|id| wanted.binary_search(id).is_err())
}
