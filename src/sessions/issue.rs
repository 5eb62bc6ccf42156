//! Getting a session from Seam that grants exactly the wanted accounts.
//!
//! Seam does not document what `get_or_create` does with `connected_account_ids` for a key
//! that already has a session (replace, merge or ignore), so the answer is checked: missing
//! accounts are granted, and a session holding an account the user no longer owns is deleted
//! and created afresh, never handed out.

use std::sync::atomic::AtomicBool;

use secrecy::ExposeSecret;
use serde::Serialize;
use time::OffsetDateTime;

use super::{IssuedSession, SessionBroker};
use crate::accounts::AccountSet;
use crate::seam::{ClientSession, SeamClient, SeamError};

pub(super) async fn issue(
    broker: &SessionBroker,
    user_identifier_key: &str,
    wanted: &AccountSet,
    seam: &SeamClient,
) -> Result<IssuedSession, SeamError> {
    let expires_at = broker.clock.now() + broker.ttl;
    let mut session = seam
        .get_or_create_session(user_identifier_key, wanted, expires_at)
        .await?;
    if let Some(problem) = unusable(broker, &session, wanted) {
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
        if let Some(problem) = unusable(broker, &session, wanted) {
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
    let refresh_after = session.expires_at - broker.min_remaining;
    Ok(IssuedSession {
        body: response_body(&session, refresh_after, wanted)?,
        accounts: wanted.clone(),
        refresh_after,
        renewing: AtomicBool::new(false),
        retired: AtomicBool::new(false),
    })
}

/// Why `session` must not be handed out, if it must not.
fn unusable(
    broker: &SessionBroker,
    session: &ClientSession,
    wanted: &AccountSet,
) -> Option<&'static str> {
    if holds_unwanted(session, wanted) {
        Some("it holds accounts the user does not own")
    } else if session.expires_at - broker.min_remaining <= broker.clock.now() {
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

fn response_body(
    session: &ClientSession,
    refresh_after: OffsetDateTime,
    accounts: &AccountSet,
) -> Result<actix_web::web::Bytes, SeamError> {
    serde_json::to_vec(&Body {
        token: session.token.expose_secret(),
        expires_at: session.expires_at,
        refresh_after,
        client_session_id: &session.client_session_id,
        connected_account_ids: accounts,
    })
    .map(Into::into)
    .map_err(|_| SeamError::UnusableSession("its fields cannot be written as JSON"))
}
