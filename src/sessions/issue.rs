//! Getting a session from Seam that grants exactly the wanted accounts.
//!
//! Seam does not document what `get_or_create` does with `connected_account_ids` for a key
//! that already has a session (replace, merge or ignore), so the answer is checked: missing
//! accounts are granted, and a session holding an account the user no longer owns is deleted
//! and created afresh, never handed out.

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
    IssuedSession::new(
        wanted.clone(),
        session.expires_at,
        session.expires_at - broker.min_remaining,
        session.token,
        session.client_session_id,
    )
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
