//! The stand-in's memory and who may call: the workspace, its credentials and the test
//! controls. Accounts and devices live in `state/accounts.rs`, sessions in `state/sessions.rs`,
//! Connect Webviews in `state/webviews.rs`, customers in `state/customers.rs`, events in
//! `state/events.rs`, and the page cursors of the paginated lists in `state/paging.rs`.
//!
//! Everything sits in one `State` behind one `std::sync::Mutex`; the lock is only ever held for
//! a few lines of synchronous code, never across an `.await`.

mod accounts;
mod customers;
mod events;
mod paging;
mod sessions;
mod webviews;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use time::OffsetDateTime;
use uuid::Uuid;

pub use accounts::AccountSpec;
pub(crate) use accounts::{Account, AccountQuery, Device, disconnected_error};
pub(crate) use customers::Customer;
pub(crate) use events::Webhook;
pub use events::{new_webhook_secret, sign_webhook};
pub(crate) use paging::{Cursors, ListFilters, Listing, Page, PageQuery, wanted};
pub use sessions::{AccountsOnExisting, RevokedSessions, SessionView};
pub(crate) use sessions::{Session, SessionRequest};
pub(crate) use webviews::{Webview, WebviewQuery, WebviewRequest};

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

/// Who a request authenticated as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Caller {
    ApiKey,
    Session(String),
}

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
    pub(crate) customers: Vec<Customer>,
    /// Creation order of accounts and webviews; page cursors point into it, so pages stay
    /// right when records come and go.
    next_seq: u64,
    pub(crate) cursors: Cursors,
    calls: HashMap<String, usize>,
    total_calls: usize,
    /// Woken whenever a call is counted, for tests that wait for background traffic.
    pub(crate) calls_changed: Arc<tokio::sync::Notify>,
    pub(crate) in_flight: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) latency: Duration,
    pub(crate) faults: FaultQueue,
    pub(crate) accounts_on_existing: AccountsOnExisting,
    pub(crate) revoked_sessions: RevokedSessions,
    pub(crate) max_session_lifetime: Option<Duration>,
    /// The endpoint Seam's events go to, once a test registered one.
    pub(crate) webhook: Option<Webhook>,
}

/// What every client session token starts with (`seam_cst1…` at Seam and its fake).
pub(crate) const SESSION_TOKEN_PREFIX: &str = "seam_cst";

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
            customers: Vec::new(),
            next_seq: 0,
            cursors: Cursors::default(),
            calls: HashMap::new(),
            total_calls: 0,
            calls_changed: Arc::new(tokio::sync::Notify::new()),
            in_flight: 0,
            max_in_flight: 0,
            latency: Duration::ZERO,
            faults: FaultQueue::default(),
            accounts_on_existing: AccountsOnExisting::default(),
            revoked_sessions: RevokedSessions::default(),
            max_session_lifetime: None,
            webhook: None,
        }
    }

    /// The next place in creation order.
    fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
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

    /// The API key, or the token of a session that is neither revoked nor expired; a token of
    /// a revoked or expired session gets Seam's error saying which, and a client session token
    /// Seam does not know (never issued, or its session deleted) `client_session_not_found`,
    /// as Seam's fake answers it. Any other credential is `unauthorized`.
    pub(crate) fn authenticate(
        &self,
        bearer: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Caller, ApiError> {
        let bearer = bearer.ok_or_else(ApiError::unauthorized)?;
        if bearer == self.api_key {
            return Ok(Caller::ApiKey);
        }
        let Some(session) = self.sessions.iter().find(|s| s.token == bearer) else {
            return Err(if bearer.starts_with(SESSION_TOKEN_PREFIX) {
                ApiError::client_session_not_found()
            } else {
                ApiError::unauthorized()
            });
        };
        if session.revoked {
            Err(ApiError::client_session_revoked())
        } else if session.expires_at <= now {
            Err(ApiError::client_session_expired())
        } else {
            Ok(Caller::Session(session.id.clone()))
        }
    }
}
