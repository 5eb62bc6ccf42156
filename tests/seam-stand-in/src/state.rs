//! The stand-in's memory and the rules Seam applies to it: accounts, devices, who may call,
//! pagination, and the test controls. Session rules live in `state/sessions.rs`.
//!
//! Everything sits in one `State` behind one `std::sync::Mutex`; the lock is only ever held for
//! a few lines of synchronous code, never across an `.await`.

mod events;
mod sessions;
mod webviews;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

pub(crate) use events::Webhook;
pub use events::{new_webhook_secret, sign_webhook};
pub use sessions::{AccountsOnExisting, RevokedSessions, SessionView};
pub(crate) use sessions::{Session, SessionRequest};
pub(crate) use webviews::{Webview, WebviewRequest};

use crate::{error::ApiError, faults::FaultQueue};

pub(crate) type Shared = Arc<Mutex<State>>;

/// Takes the lock even after a panic elsewhere: a failed test must not turn every later request
/// into a second, misleading panic.
pub(crate) fn lock(shared: &Mutex<State>) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The real API writes timestamps to the microsecond; storing them at that precision keeps
/// what a client reads back equal to what `SessionView` reports.
pub(crate) fn truncate_to_micros(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_microsecond(t.microsecond()).unwrap_or(t)
}

pub(crate) fn now() -> OffsetDateTime {
    truncate_to_micros(OffsetDateTime::now_utc())
}

/// What `/workspaces/get` says about the workspace (the stand-in's is a sandbox).
#[derive(Clone, Copy, Debug)]
pub struct WorkspaceSpec {
    pub is_sandbox: bool,
    pub is_suspended: bool,
    /// Publishable keys let a browser ask Seam for a session under any `user_identifier_key`.
    pub is_publishable_key_auth_enabled: bool,
}

impl Default for WorkspaceSpec {
    fn default() -> Self {
        Self {
            is_sandbox: true,
            is_suspended: false,
            is_publishable_key_auth_enabled: false,
        }
    }
}

/// How a connected account is created by the test, before the stand-in gives it an id.
#[derive(Clone, Debug, Default)]
pub struct AccountSpec {
    /// The key the account is filed under, as Seam does for accounts connected through a
    /// client session's Connect Webview.
    pub user_identifier_key: Option<String>,
    /// Copied onto the account like a Connect Webview's `custom_metadata`.
    pub custom_metadata: Map<String, Value>,
}

impl AccountSpec {
    pub fn owned_by(user_identifier_key: &str) -> Self {
        Self {
            user_identifier_key: Some(user_identifier_key.to_owned()),
            custom_metadata: Map::new(),
        }
    }

    pub fn unowned() -> Self {
        Self::default()
    }

    pub fn with_metadata(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.custom_metadata.insert(key.to_owned(), value.into());
        self
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Account {
    pub(crate) id: String,
    /// Creation order; page cursors point into it, so pages stay right when accounts come and go.
    seq: u64,
    pub(crate) display_name: String,
    pub(crate) created_at: OffsetDateTime,
    owner: Option<String>,
    pub(crate) custom_metadata: Map<String, Value>,
}

#[derive(Clone, Debug)]
pub(crate) struct Device {
    pub(crate) id: String,
    pub(crate) account_id: String,
    pub(crate) name: String,
    pub(crate) created_at: OffsetDateTime,
}

/// Who a request authenticated as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Caller {
    ApiKey,
    Session(String),
}

/// The filters and paging of `/connected_accounts/list`.
#[derive(Debug, Default)]
pub(crate) struct AccountQuery {
    pub(crate) user_identifier_key: Option<String>,
    pub(crate) custom_metadata_has: Map<String, Value>,
    pub(crate) limit: Option<u64>,
    pub(crate) page_cursor: Option<String>,
}

pub(crate) struct AccountPage {
    pub(crate) accounts: Vec<Account>,
    pub(crate) next_page_cursor: Option<String>,
}

/// The API's own default `limit` for `/connected_accounts/list`.
const DEFAULT_LIST_LIMIT: u64 = 11_000;
/// What a page holds unless a test lowers it to exercise pagination.
const DEFAULT_PAGE_SIZE: usize = 100;

pub(crate) struct State {
    pub(crate) api_key: String,
    pub(crate) workspace_id: String,
    pub(crate) workspace: WorkspaceSpec,
    /// When the workspace was made (the stand-in started).
    pub(crate) started_at: OffsetDateTime,
    pub(crate) accounts: Vec<Account>,
    pub(crate) devices: Vec<Device>,
    pub(crate) sessions: Vec<Session>,
    pub(crate) webviews: Vec<Webview>,
    next_seq: u64,
    /// Cursors we issued, each naming the `seq` of the last account on its page. Anything else
    /// is rejected, as the real API rejects a cursor it did not issue.
    cursors: HashMap<String, u64>,
    calls: HashMap<String, usize>,
    total_calls: usize,
    /// Woken whenever a call is counted, for tests that wait for background traffic.
    pub(crate) calls_changed: Arc<tokio::sync::Notify>,
    pub(crate) in_flight: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) latency: Duration,
    pub(crate) faults: FaultQueue,
    page_size: usize,
    pub(crate) accounts_on_existing: AccountsOnExisting,
    pub(crate) revoked_sessions: RevokedSessions,
    pub(crate) max_session_lifetime: Option<Duration>,
    /// The endpoint Seam's events go to, once a test registered one.
    pub(crate) webhook: Option<Webhook>,
}

pub(crate) fn new_api_key() -> String {
    format!("seam_test_{}", Uuid::new_v4().simple())
}

impl State {
    pub(crate) fn new() -> Self {
        Self {
            api_key: new_api_key(),
            workspace_id: Uuid::new_v4().to_string(),
            workspace: WorkspaceSpec::default(),
            started_at: now(),
            accounts: Vec::new(),
            devices: Vec::new(),
            sessions: Vec::new(),
            webviews: Vec::new(),
            next_seq: 0,
            cursors: HashMap::new(),
            calls: HashMap::new(),
            total_calls: 0,
            calls_changed: Arc::new(tokio::sync::Notify::new()),
            in_flight: 0,
            max_in_flight: 0,
            latency: Duration::ZERO,
            faults: FaultQueue::default(),
            page_size: DEFAULT_PAGE_SIZE,
            accounts_on_existing: AccountsOnExisting::default(),
            revoked_sessions: RevokedSessions::default(),
            max_session_lifetime: None,
            webhook: None,
        }
    }

    pub(crate) fn record_call(&mut self, path: &str) {
        *self.calls.entry(path.to_owned()).or_default() += 1;
        self.total_calls += 1;
    }

    pub(crate) fn calls(&self, path: &str) -> usize {
        self.calls.get(path).copied().unwrap_or(0)
    }

    pub(crate) fn total_calls(&self) -> usize {
        self.total_calls
    }

    /// A zero page size would hand out empty pages that never advance.
    pub(crate) fn set_page_size(&mut self, n: usize) {
        self.page_size = n.max(1);
    }

    /// The API key, or the token of a session that is neither revoked nor expired; a token of
    /// a revoked or expired session gets Seam's error saying which.
    pub(crate) fn authenticate(
        &self,
        bearer: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Caller, ApiError> {
        let bearer = bearer.ok_or_else(ApiError::unauthorized)?;
        if bearer == self.api_key {
            return Ok(Caller::ApiKey);
        }
        let session = (self.sessions.iter())
            .find(|s| s.token == bearer)
            .ok_or_else(ApiError::unauthorized)?;
        if session.revoked {
            Err(ApiError::client_session_revoked())
        } else if session.expires_at <= now {
            Err(ApiError::client_session_expired())
        } else {
            Ok(Caller::Session(session.id.clone()))
        }
    }

    pub(crate) fn add_account(&mut self, spec: AccountSpec) -> String {
        let id = self.file_account(spec);
        self.emit_connected(&id, None);
        id
    }

    /// A new account, without its event.
    fn file_account(&mut self, spec: AccountSpec) -> String {
        self.next_seq += 1;
        let id = Uuid::new_v4().to_string();
        self.accounts.push(Account {
            id: id.clone(),
            seq: self.next_seq,
            display_name: format!("August account {}", self.next_seq),
            created_at: now(),
            owner: spec.user_identifier_key,
            custom_metadata: spec.custom_metadata,
        });
        id
    }

    /// Removes the account and its devices, announced as `event_type` (deleted, or
    /// disconnected). Sessions keep the stale id, as Seam would.
    pub(crate) fn remove_account(&mut self, id: &str, event_type: &str) {
        let metadata = self.account(id).map(|a| a.custom_metadata.clone());
        self.accounts.retain(|a| a.id != id);
        self.devices.retain(|d| d.account_id != id);
        self.emit(
            event_type,
            serde_json::json!({
                "connected_account_id": id,
                "connected_account_custom_metadata": metadata.unwrap_or_default(),
            }),
        );
    }

    pub(crate) fn add_device(&mut self, account_id: &str, name: &str) -> Option<String> {
        self.account(account_id)?;
        let id = Uuid::new_v4().to_string();
        self.devices.push(Device {
            id: id.clone(),
            account_id: account_id.to_owned(),
            name: name.to_owned(),
            created_at: now(),
        });
        Some(id)
    }

    pub(crate) fn account(&self, id: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.id == id)
    }

    /// The accounts filed under the key: connected through its sessions' Connect Webviews, or
    /// added for it by a test.
    pub(crate) fn accounts_of(&self, user_identifier_key: &str) -> Vec<String> {
        (self.accounts.iter())
            .filter(|a| a.owner.as_deref() == Some(user_identifier_key))
            .map(|a| a.id.clone())
            .collect()
    }

    pub(crate) fn check_accounts_exist(&self, ids: &[String]) -> Result<(), ApiError> {
        match ids.iter().find(|id| self.account(id).is_none()) {
            Some(id) => Err(ApiError::invalid_input(format!(
                "Connected account {id} not found"
            ))),
            None => Ok(()),
        }
    }

    /// Devices of these accounts; a removed account has no devices left, so stale ids add none.
    pub(crate) fn devices_of<'a>(
        &'a self,
        account_ids: &'a [String],
    ) -> impl Iterator<Item = &'a Device> {
        self.devices
            .iter()
            .filter(move |d| account_ids.contains(&d.account_id))
    }

    pub(crate) fn list_accounts(&mut self, query: &AccountQuery) -> Result<AccountPage, ApiError> {
        let after = match &query.page_cursor {
            None => 0,
            Some(cursor) => *self
                .cursors
                .get(cursor)
                .ok_or_else(|| ApiError::invalid_input("Invalid page_cursor"))?,
        };
        let limit = query.limit.unwrap_or(DEFAULT_LIST_LIMIT);
        let limit = usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .clamp(1, self.page_size);
        let mut matching = self
            .accounts
            .iter()
            .filter(|a| a.seq > after && account_matches(a, query));
        let accounts: Vec<Account> = matching.by_ref().take(limit).cloned().collect();
        let has_next_page = matching.next().is_some();
        let next_page_cursor = match accounts.last() {
            Some(last) if has_next_page => {
                let cursor = Uuid::new_v4().simple().to_string();
                self.cursors.insert(cursor.clone(), last.seq);
                Some(cursor)
            }
            _ => None,
        };
        Ok(AccountPage {
            accounts,
            next_page_cursor,
        })
    }
}

fn account_matches(account: &Account, query: &AccountQuery) -> bool {
    let owner_ok = query
        .user_identifier_key
        .as_ref()
        .is_none_or(|key| account.owner.as_ref() == Some(key));
    let metadata_ok = query
        .custom_metadata_has
        .iter()
        .all(|(k, v)| metadata_equal(account.custom_metadata.get(k), v));
    owner_ok && metadata_ok
}

/// A metadata value against the one asked for, which a query string gives as text
/// (`custom_metadata_has.active=true`).
fn metadata_equal(stored: Option<&Value>, asked: &Value) -> bool {
    match (stored, asked) {
        (Some(Value::Bool(b)), Value::String(text)) => text == if *b { "true" } else { "false" },
        (stored, asked) => stored == Some(asked),
    }
}
