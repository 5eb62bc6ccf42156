//! Connected accounts and their devices as Seam keeps them: filed under a `user_identifier_key`
//! and a `customer_key` when connected through a Connect Webview that had them, carrying the
//! webview's `custom_metadata`; listed with `/connected_accounts/list`'s filters and pages.
//! Disconnected is not deleted: a disconnected account stays (listed, in its sessions, with its
//! devices) with an `account_disconnected` entry in `errors` until it is reconnected in place;
//! only removal deletes it.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{ListFilters, Listing, Page, State, now, paging};
use crate::error::ApiError;

/// How a connected account is created by the test, before the stand-in gives it an id.
#[derive(Clone, Debug, Default)]
pub struct AccountSpec {
    /// The key the account is filed under, as Seam does for accounts connected through a
    /// client session's Connect Webview.
    pub user_identifier_key: Option<String>,
    /// Copied onto the account like a Connect Webview's `custom_metadata`.
    pub custom_metadata: Map<String, Value>,
    /// The customer the account belongs to, as a Connect Webview made with `customer_key`
    /// tags the account it connects.
    pub customer_key: Option<String>,
}

impl AccountSpec {
    pub fn owned_by(user_identifier_key: &str) -> Self {
        Self {
            user_identifier_key: Some(user_identifier_key.to_owned()),
            ..Self::default()
        }
    }

    pub fn unowned() -> Self {
        Self::default()
    }

    pub fn with_metadata(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.custom_metadata.insert(key.to_owned(), value.into());
        self
    }

    pub fn with_customer_key(mut self, customer_key: &str) -> Self {
        self.customer_key = Some(customer_key.to_owned());
        self
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Account {
    pub(crate) id: String,
    /// Creation order, for page cursors.
    seq: u64,
    pub(crate) display_name: String,
    pub(crate) created_at: OffsetDateTime,
    owner: Option<String>,
    pub(crate) custom_metadata: Map<String, Value>,
    pub(crate) customer_key: Option<String>,
    /// When the provider's link broke; `None` while connected.
    pub(crate) disconnected_at: Option<OffsetDateTime>,
}

#[derive(Clone, Debug)]
pub(crate) struct Device {
    pub(crate) id: String,
    pub(crate) account_id: String,
    pub(crate) name: String,
    pub(crate) created_at: OffsetDateTime,
}

/// The filters and paging of `/connected_accounts/list`.
#[derive(Debug, Default)]
pub(crate) struct AccountQuery {
    pub(crate) filters: ListFilters,
    /// A session with a customer sees only that customer's accounts, whatever it asks for.
    pub(crate) within_customer: Option<String>,
}

impl AccountQuery {
    fn matches(&self, a: &Account) -> bool {
        (self.filters).pass(
            a.owner.as_ref(),
            a.customer_key.as_ref(),
            &a.custom_metadata,
        ) && paging::wanted(self.within_customer.as_ref(), a.customer_key.as_ref())
    }
}

/// The `account_disconnected` entry of a disconnected account's `errors`; the event's
/// `connected_account_errors` has the same entry without the account-only flag.
pub(crate) fn disconnected_error(at: OffsetDateTime, in_account: bool) -> Value {
    let mut error = json!({
        "error_code": "account_disconnected",
        "message": "The account is disconnected: its owner must sign in to the provider again.",
        "created_at": crate::wire::timestamp(at),
    });
    if in_account {
        error["is_connected_account_error"] = Value::Bool(true);
    }
    error
}

impl State {
    pub(crate) fn add_account(&mut self, spec: AccountSpec) -> String {
        let id = self.file_account(spec);
        self.emit_connected(&id, None);
        id
    }

    /// A new account, without its event.
    pub(crate) fn file_account(&mut self, spec: AccountSpec) -> String {
        if let Some(key) = &spec.customer_key {
            self.customer(key);
        }
        let seq = self.next_seq();
        let id = Uuid::new_v4().to_string();
        self.accounts.push(Account {
            id: id.clone(),
            seq,
            display_name: format!("August account {seq}"),
            created_at: now(),
            owner: spec.user_identifier_key,
            custom_metadata: spec.custom_metadata,
            customer_key: spec.customer_key,
            disconnected_at: None,
        });
        id
    }

    /// Deletes the account and its devices (`connected_account.deleted`, with its
    /// `customer_key` when it has one). Sessions keep the stale id, as Seam would.
    pub(crate) fn remove_account(&mut self, id: &str) {
        let account = self.account(id).cloned();
        self.accounts.retain(|a| a.id != id);
        self.devices.retain(|d| d.account_id != id);
        let mut event = json!({
            "connected_account_id": id,
            "connected_account_custom_metadata":
                account.as_ref().map(|a| a.custom_metadata.clone()).unwrap_or_default(),
        });
        if let Some(key) = account.and_then(|a| a.customer_key) {
            event["customer_key"] = Value::String(key);
        }
        self.emit("connected_account.deleted", event);
    }

    /// The account, mutable, if it exists.
    fn account_mut(&mut self, id: &str) -> Result<&mut Account, String> {
        (self.accounts.iter_mut())
            .find(|a| a.id == id)
            .ok_or_else(|| format!("no connected account {id}"))
    }

    /// Marks the account disconnected and emits `connected_account.disconnected` with its
    /// errors and warnings (required in Seam's spec; Seam's event has no `customer_key`).
    pub(crate) fn disconnect_account(&mut self, id: &str) -> Result<(), String> {
        let at = now();
        let account = self.account_mut(id)?;
        if account.disconnected_at.is_some() {
            return Err(format!("{id} is disconnected already"));
        }
        account.disconnected_at = Some(at);
        let event = json!({
            "connected_account_id": id,
            "connected_account_custom_metadata": account.custom_metadata,
            "connected_account_errors": [disconnected_error(at, false)],
            "connected_account_warnings": [],
        });
        self.emit("connected_account.disconnected", event);
        Ok(())
    }

    /// Clears the disconnection in place and emits `connected_account.connected` again.
    pub(crate) fn reconnect_account(&mut self, id: &str) -> Result<(), String> {
        let account = self.account_mut(id)?;
        if account.disconnected_at.take().is_none() {
            return Err(format!("{id} is not disconnected"));
        }
        self.emit_connected(id, None);
        Ok(())
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

    pub(crate) fn list_accounts(
        &mut self,
        query: &AccountQuery,
    ) -> Result<Page<Account>, ApiError> {
        let page = &query.filters.page;
        (self.cursors).list(
            Listing::Accounts,
            page,
            &self.accounts,
            |r| r.seq,
            |r| query.matches(r),
        )
    }
}
