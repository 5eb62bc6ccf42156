//! Client sessions as Seam keeps them: one live session per `user_identifier_key` that
//! `get_or_create` converges on, an expiry that `get_or_create` rewrites, revocation, deletion
//! and `grant_access`. What `get_or_create` does with the accounts of an existing session is
//! undocumented, so it is a test control (`AccountsOnExisting`). Only `create` makes a session
//! for a customer (`customer_key` or `customer_id`); `get_or_create` hands such a session back
//! as it is when it is the key's current one. A session may name one user identity.

use time::OffsetDateTime;
use uuid::Uuid;

use super::{SESSION_TOKEN_PREFIX, State, now};
use crate::error::ApiError;

/// What `/client_sessions/get_or_create` does with `connected_account_ids` (and
/// `connect_webview_ids`) when a live session for the key already exists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AccountsOnExisting {
    /// Keep the session's accounts as they are.
    #[default]
    Ignore,
    /// Set them to the requested list.
    Replace,
    /// Add the requested ones to those it has.
    Merge,
}

/// Whether `/client_sessions/get_or_create` hands a key's revoked session back. Seam does not
/// say; an emulation of its documented model (one session per key, returned again) does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RevokedSessions {
    /// A revoked session is left alone; the key gets a new one.
    #[default]
    Replaced,
    /// The key's revoked session comes back, its token still refused.
    ReturnedAgain,
}

/// A snapshot of a session, for tests to assert on.
#[derive(Clone, Debug)]
pub struct SessionView {
    pub client_session_id: String,
    pub token: String,
    pub user_identifier_key: Option<String>,
    pub connected_account_ids: Vec<String>,
    pub connect_webview_ids: Vec<String>,
    /// The customer it was created for (`/client_sessions/create`'s `customer_key` or
    /// `customer_id`): such a session is Seam's `client_session_with_customer`.
    pub customer_key: Option<String>,
    pub user_identity_id: Option<String>,
    pub expires_at: OffsetDateTime,
    /// Revoked sessions stay visible until deleted; their token no longer works.
    pub revoked: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) token: String,
    pub(crate) user_identifier_key: Option<String>,
    pub(crate) connected_account_ids: Vec<String>,
    pub(crate) connect_webview_ids: Vec<String>,
    pub(crate) customer_key: Option<String>,
    pub(crate) user_identity_id: Option<String>,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) expires_at: OffsetDateTime,
    pub(crate) revoked: bool,
}

impl Session {
    pub(crate) fn is_live(&self, now: OffsetDateTime) -> bool {
        !self.revoked && self.expires_at > now
    }

    pub(crate) fn view(&self) -> SessionView {
        SessionView {
            client_session_id: self.id.clone(),
            token: self.token.clone(),
            user_identifier_key: self.user_identifier_key.clone(),
            connected_account_ids: self.connected_account_ids.clone(),
            connect_webview_ids: self.connect_webview_ids.clone(),
            customer_key: self.customer_key.clone(),
            user_identity_id: self.user_identity_id.clone(),
            expires_at: self.expires_at,
            revoked: self.revoked,
        }
    }
}

/// The parameters of `/client_sessions/create` and `/client_sessions/get_or_create` (which
/// takes no customer).
#[derive(Debug, Default)]
pub(crate) struct SessionRequest {
    pub(crate) user_identifier_key: Option<String>,
    pub(crate) connected_account_ids: Vec<String>,
    pub(crate) connect_webview_ids: Vec<String>,
    pub(crate) expires_at: Option<OffsetDateTime>,
    pub(crate) customer_key: Option<String>,
    pub(crate) customer_id: Option<String>,
    pub(crate) user_identity_id: Option<String>,
}

/// Sessions last a day unless the caller says otherwise; the real default is undocumented.
const DEFAULT_LIFETIME: time::Duration = time::Duration::DAY;

fn add_missing(into: &mut Vec<String>, more: &[String]) {
    for id in more {
        if !into.contains(id) {
            into.push(id.clone());
        }
    }
}

fn deduped(ids: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(ids.len());
    add_missing(&mut out, ids);
    out
}

fn apply(mode: AccountsOnExisting, current: &mut Vec<String>, asked: &[String]) {
    match mode {
        AccountsOnExisting::Ignore => {}
        AccountsOnExisting::Replace => *current = deduped(asked),
        AccountsOnExisting::Merge => add_missing(current, asked),
    }
}

impl State {
    /// The newest live session of the key, else the newest one that still exists.
    pub(crate) fn current_session_index(&self, key: &str) -> Option<usize> {
        let now = now();
        let of_key = |s: &&Session| s.user_identifier_key.as_deref() == Some(key);
        let newest_live = self
            .sessions
            .iter()
            .rposition(|s| of_key(&s) && s.is_live(now));
        newest_live.or_else(|| self.sessions.iter().rposition(|s| of_key(&s)))
    }

    pub(crate) fn session_index(&self, id: &str) -> Option<usize> {
        self.sessions.iter().position(|s| s.id == id)
    }

    /// Resolves the `client_session_id` / `user_identifier_key` pair that several endpoints take.
    pub(crate) fn find_session(
        &self,
        id: Option<&str>,
        key: Option<&str>,
    ) -> Result<usize, ApiError> {
        let found = match (id, key) {
            (Some(id), _) => self.session_index(id),
            (None, Some(key)) => self.current_session_index(key),
            (None, None) => {
                return Err(ApiError::invalid_input(
                    "Either client_session_id or user_identifier_key is required",
                ));
            }
        };
        found.ok_or_else(ApiError::session_not_found)
    }

    /// Seam checks the expiry it is asked for, then the workspace's own cap applies.
    fn expiry(
        &self,
        asked: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<OffsetDateTime, ApiError> {
        let asked = asked.unwrap_or(now + DEFAULT_LIFETIME);
        if asked <= now {
            return Err(ApiError::invalid_input("expires_at must be in the future"));
        }
        let cap = self
            .max_session_lifetime
            .and_then(|max| time::Duration::try_from(max).ok())
            .and_then(|max| now.checked_add(max));
        Ok(cap.map_or(asked, |cap| asked.min(cap)))
    }

    fn validate(
        &self,
        request: &SessionRequest,
        now: OffsetDateTime,
    ) -> Result<OffsetDateTime, ApiError> {
        if request.user_identifier_key.as_deref() == Some("") {
            return Err(ApiError::invalid_input(
                "user_identifier_key must not be empty",
            ));
        }
        self.check_accounts_exist(&request.connected_account_ids)?;
        self.expiry(request.expires_at, now)
    }

    /// `/client_sessions/create`: always a new session; for its key it becomes the current one.
    pub(crate) fn create_session(&mut self, request: &SessionRequest) -> Result<usize, ApiError> {
        let now = now();
        let expires_at = self.validate(request, now)?;
        let customer_key = self.named_customer(
            request.customer_key.as_deref(),
            request.customer_id.as_deref(),
        )?;
        self.sessions.push(Session {
            id: Uuid::new_v4().to_string(),
            token: format!("{SESSION_TOKEN_PREFIX}{}", Uuid::new_v4().simple()),
            user_identifier_key: request.user_identifier_key.clone(),
            connected_account_ids: deduped(&request.connected_account_ids),
            connect_webview_ids: deduped(&request.connect_webview_ids),
            customer_key,
            user_identity_id: request.user_identity_id.clone(),
            created_at: now,
            expires_at,
            revoked: false,
        });
        Ok(self.sessions.len() - 1)
    }

    /// `/client_sessions/get_or_create`: the key's live session with its expiry rewritten (its
    /// customer and user identity as they are), or a new one when the key has none (never had
    /// one, expired or deleted; revoked, unless `RevokedSessions::ReturnedAgain`).
    pub(crate) fn get_or_create_session(
        &mut self,
        request: &SessionRequest,
    ) -> Result<usize, ApiError> {
        let Some(key) = request
            .user_identifier_key
            .as_deref()
            .filter(|k| !k.is_empty())
        else {
            return Err(ApiError::invalid_input("user_identifier_key is required"));
        };
        let now = now();
        let expires_at = self.validate(request, now)?;
        let again = self.revoked_sessions == RevokedSessions::ReturnedAgain;
        let existing = self.sessions.iter().rposition(|s| {
            s.user_identifier_key.as_deref() == Some(key)
                && (s.is_live(now) || (again && s.revoked && s.expires_at > now))
        });
        let Some(index) = existing else {
            return self.create_session(request);
        };
        let mode = self.accounts_on_existing;
        let session = &mut self.sessions[index];
        session.expires_at = expires_at;
        apply(
            mode,
            &mut session.connected_account_ids,
            &request.connected_account_ids,
        );
        apply(
            mode,
            &mut session.connect_webview_ids,
            &request.connect_webview_ids,
        );
        Ok(index)
    }

    /// Adds accounts and webviews to the session; a user identity, when given, becomes its one.
    pub(crate) fn grant_access(
        &mut self,
        index: usize,
        account_ids: &[String],
        webview_ids: &[String],
        user_identity_id: Option<String>,
    ) -> Result<(), ApiError> {
        self.check_accounts_exist(account_ids)?;
        let session = self
            .sessions
            .get_mut(index)
            .ok_or_else(ApiError::session_not_found)?;
        add_missing(&mut session.connected_account_ids, account_ids);
        add_missing(&mut session.connect_webview_ids, webview_ids);
        if user_identity_id.is_some() {
            session.user_identity_id = user_identity_id;
        }
        Ok(())
    }

    pub(crate) fn revoke_session(&mut self, id: &str) -> Result<(), ApiError> {
        let index = self
            .session_index(id)
            .ok_or_else(ApiError::session_not_found)?;
        self.sessions[index].revoked = true;
        Ok(())
    }

    pub(crate) fn delete_session(&mut self, id: &str) -> Result<(), ApiError> {
        let index = self
            .session_index(id)
            .ok_or_else(ApiError::session_not_found)?;
        let session = self.sessions.remove(index);
        self.emit(
            "client_session.deleted",
            serde_json::json!({ "client_session_id": session.id }),
        );
        Ok(())
    }

    /// Devices a session can see: those of its accounts that still exist.
    pub(crate) fn device_count(&self, session: &Session) -> usize {
        self.devices_of(&session.connected_account_ids).count()
    }
}
