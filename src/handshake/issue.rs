//! Getting a session from Seam that grants the wanted accounts and nothing the user does not
//! own, and the session as it is handed out.
//!
//! Seam does not settle what `get_or_create` does with `connected_account_ids` and
//! `connect_webview_ids` for a key that already has a session (its React guide says it
//! replaces them; nothing else says so), so the answer is checked: missing accounts are
//! granted, and a session holding an account the user does not own is deleted and created
//! afresh, never handed out.
//!
//! One exception keeps the Connect Webview flow working: an account that joined the session
//! through a Connect Webview the session's own token made (what Seam Components'
//! `ConnectAccountButton` does) was connected by the user, and stays (`extra`). So that a
//! `get_or_create` that replaces does not take it, or a webview still in progress, away from
//! the session, a renewal first reads the session as it is now and asks for it all back.

use secrecy::{ExposeSecret, SecretString};
use time::{Duration, OffsetDateTime};

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::accounts::{AccountSet, account_set};
use super::provenance::Provenance;
use crate::clock::Clock;
use crate::seam::{ClientSession, SeamClient, SeamError};

/// A session as handed out, kept in the user's cache entry. Deliberately not `Debug`: it holds
/// the token.
pub(crate) struct IssuedSession {
    /// The user's accounts, as their accounts source says (what a cached session must match).
    pub(crate) accounts: AccountSet,
    /// Accounts the user connected through this session's own Connect Webviews, beyond
    /// `accounts`, and the session's webviews: asked for again at each renewal.
    extra: Option<AccountSet>,
    webviews: Box<[String]>,
    pub(crate) expires_at: OffsetDateTime,
    /// When the frontend should ask again: `expires_at - sessions.min_remaining_secs`.
    pub(crate) refresh_after: OffsetDateTime,
    token: SecretString,
    pub(crate) client_session_id: Box<str>,
    /// Handed out past its renewal because Seam failed (`Handshake::stale_session`): why, for
    /// the metrics. Its `refresh_after` is then when to try Seam again.
    pub(crate) stale: Option<&'static str>,
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
            extra: None,
            webviews: Box::default(),
            expires_at,
            refresh_after,
            token,
            client_session_id: client_session_id.into(),
            stale: None,
        }
    }

    /// The same session, handed out stale because Seam failed with `reason`, to be asked
    /// for again at `refresh_after`.
    pub(crate) fn stale_copy(&self, refresh_after: OffsetDateTime, reason: &'static str) -> Self {
        Self {
            accounts: self.accounts.clone(),
            extra: self.extra.clone(),
            webviews: self.webviews.clone(),
            expires_at: self.expires_at,
            refresh_after,
            token: SecretString::from(self.token.expose_secret()),
            client_session_id: self.client_session_id.clone(),
            stale: Some(reason),
        }
    }

    /// Every account the session grants: the user's, then those they connected through it.
    pub(crate) fn granted(&self) -> impl Iterator<Item = &String> {
        self.accounts
            .iter()
            .chain(self.extra.iter().flat_map(|e| e.iter()))
    }

    /// The client session token, for the response body only.
    pub(crate) fn token(&self) -> &str {
        self.token.expose_secret()
    }

    /// The session as the fleet stores it (`cluster` seals it before it leaves the process).
    pub(super) fn to_stored(&self) -> Vec<u8> {
        let stored = Stored {
            accounts: self.accounts.to_vec(),
            extra: self
                .extra
                .as_deref()
                .map(<[String]>::to_vec)
                .unwrap_or_default(),
            webviews: self.webviews.to_vec(),
            expires_at: self.expires_at,
            token: Cow::Borrowed(self.token.expose_secret()),
            client_session_id: Cow::Borrowed(&self.client_session_id),
        };
        serde_json::to_vec(&stored).unwrap_or_default()
    }

    /// A session another replica stored; `refresh_after` follows this replica's own policy.
    pub(super) fn from_stored(bytes: &[u8], policy: &Policy) -> Option<Self> {
        let stored: Stored<'_> = serde_json::from_slice(bytes).ok()?;
        let mut session = Self::new(
            account_set(stored.accounts),
            stored.expires_at,
            stored.expires_at - policy.min_remaining,
            SecretString::from(stored.token.into_owned()),
            stored.client_session_id.into_owned(),
        );
        session.extra = Some(account_set(stored.extra)).filter(|e| !e.is_empty());
        session.webviews = stored.webviews.into();
        Some(session)
    }
}

/// `IssuedSession` in the fleet's store.
#[derive(Serialize, Deserialize)]
struct Stored<'a> {
    accounts: Vec<String>,
    #[serde(default)]
    extra: Vec<String>,
    #[serde(default)]
    webviews: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    #[serde(borrow)]
    token: Cow<'a, str>,
    #[serde(borrow)]
    client_session_id: Cow<'a, str>,
}

/// How sessions are asked for: how long, how long before their end they stop being handed
/// out, and where refusals are counted.
pub(super) struct Policy {
    pub(super) ttl: Duration,
    pub(super) min_remaining: Duration,
    /// `refused_grants_total`: Seam sessions replaced because they reach beyond the user's own.
    pub(super) refused: prometheus::IntCounterVec,
}

/// The most Connect Webviews of one session looked up to explain its accounts: more is no
/// flow a frontend runs, and each costs a Seam call.
const MOST_WEBVIEWS_LOOKED_UP: usize = 20;

/// A session for the user with `wanted` accounts; `previous` is the one handed out so far,
/// whose webviews and extra accounts are kept.
pub(super) async fn issue(
    policy: &Policy,
    provenance: &Provenance,
    clock: &dyn Clock,
    user_identifier_key: &str,
    wanted: &AccountSet,
    previous: Option<&IssuedSession>,
    seam: &SeamClient,
) -> Result<IssuedSession, SeamError> {
    let expires_at = clock.now() + policy.ttl;
    let (mut extra, mut webviews) = (Vec::new(), Vec::new());
    if let Some(previous) = previous
        && let Some(now) = seam.get_session(&previous.client_session_id).await?
        && now.foreign().is_none()
        && let Some(own) = explained(&now, wanted, previous.extra.as_deref(), seam).await?
    {
        (extra, webviews) = (own, now.connect_webview_ids);
    }
    let ask: Vec<String> = wanted.iter().chain(&extra).cloned().collect();
    let mut session = seam
        .get_or_create_session(user_identifier_key, &ask, &webviews, expires_at)
        .await?;
    let mut own = explained(&session, wanted, Some(&extra), seam).await?;
    if let Some(problem) = unusable(policy, clock, &session, own.is_some()) {
        // Also covers a revoked or expired session coming back, which Seam does not rule out.
        if let Some(foreign) = session.foreign() {
            policy.refused.with_label_values(&[foreign.label()]).inc();
            tracing::warn!(
                request_id = %crate::telemetry::CurrentRequest,
                client_session_id = %session.client_session_id, problem,
                "replacing the user's Seam session: it reaches beyond the user's own"
            );
        } else {
            tracing::info!(
                request_id = %crate::telemetry::CurrentRequest,
                client_session_id = %session.client_session_id, problem,
                "replacing the user's Seam session"
            );
        }
        provenance.before_deleting(&session).await;
        seam.delete_session(&session.client_session_id).await?;
        session = seam
            .get_or_create_session(user_identifier_key, wanted, &[], expires_at)
            .await?;
        own = explained(&session, wanted, None, seam).await?;
        if let Some(problem) = unusable(policy, clock, &session, own.is_some()) {
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
    let mut issued = IssuedSession::new(
        wanted.clone(),
        session.expires_at,
        session.expires_at - policy.min_remaining,
        session.token,
        session.client_session_id,
    );
    issued.extra = own.map(account_set).filter(|e| !e.is_empty());
    issued.webviews = session.connect_webview_ids.into();
    Ok(issued)
}

/// Why Seam's session must not be handed out, when it must not: it is a customer session
/// (an admin credential) or tied to a user identity, it holds accounts the user does not own
/// (`explained` is false), or it ends too soon.
fn unusable(
    policy: &Policy,
    clock: &dyn Clock,
    session: &ClientSession,
    explained: bool,
) -> Option<&'static str> {
    if let Some(foreign) = session.foreign() {
        Some(foreign.problem())
    } else if !explained {
        Some("it holds accounts the user does not own")
    } else if expires_soon(policy, clock, session) {
        Some("it expires within sessions.min_remaining_secs")
    } else {
        None
    }
}

fn expires_soon(policy: &Policy, clock: &dyn Clock, session: &ClientSession) -> bool {
    session.expires_at - policy.min_remaining <= clock.now()
}

/// The session's accounts beyond `wanted`, when each is one the user connected through a
/// Connect Webview of this session (`known`: found so before); `None` when one is not.
async fn explained(
    session: &ClientSession,
    wanted: &AccountSet,
    known: Option<&[String]>,
    seam: &SeamClient,
) -> Result<Option<Vec<String>>, SeamError> {
    let beyond: Vec<String> = (session.connected_account_ids.iter())
        .filter(|id| wanted.binary_search(id).is_err())
        .cloned()
        .collect();
    let known = known.unwrap_or_default();
    if beyond.iter().all(|id| known.contains(id)) {
        return Ok(Some(beyond));
    }
    if session.connect_webview_ids.len() > MOST_WEBVIEWS_LOOKED_UP {
        return Ok(None);
    }
    let mut connected = Vec::new();
    for webview in &session.connect_webview_ids {
        if let Some(account) = seam.webview_account(webview).await? {
            connected.push(account);
        }
    }
    let own = beyond
        .iter()
        .all(|id| known.contains(id) || connected.contains(id));
    Ok(own.then_some(beyond))
}
