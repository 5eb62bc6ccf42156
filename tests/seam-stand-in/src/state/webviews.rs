//! Connect Webviews as Seam keeps them: created (with the API key, or with a client session
//! token, which adds the webview to that session and files it under the session's
//! `user_identifier_key`), listed with `/connect_webviews/list`'s filters and pages, then
//! completed when the user signs in to their provider. Completion is a test hook here: it
//! makes the connected account, files it under the webview's `user_identifier_key` and
//! `customer_key`, copies the webview's `custom_metadata` onto it, and adds it to the session
//! that made the webview.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{AccountSpec, ListFilters, Listing, Page, State, now, paging};
use crate::error::ApiError;

#[derive(Clone, Debug)]
pub(crate) struct Webview {
    pub(crate) id: String,
    /// Creation order, for page cursors.
    seq: u64,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) request: WebviewRequest,
    /// The session whose token made it, if one did.
    pub(crate) client_session_id: Option<String>,
    /// That session's key, kept here so that it outlives the session.
    pub(crate) user_identifier_key: Option<String>,
    /// Set once completed.
    pub(crate) connected_account_id: Option<String>,
    pub(crate) authorized_at: Option<OffsetDateTime>,
}

impl Webview {
    pub(crate) fn status(&self) -> &'static str {
        if self.connected_account_id.is_some() {
            "authorized"
        } else {
            "pending"
        }
    }
}

/// The parameters of `/connect_webviews/create`, all kept; those Seam's `connect_webview`
/// schema has are echoed in it (`excluded_providers` and `provider_category` are not).
#[derive(Clone, Debug, Default)]
pub(crate) struct WebviewRequest {
    pub(crate) custom_metadata: Map<String, Value>,
    pub(crate) customer_key: Option<String>,
    pub(crate) accepted_providers: Vec<String>,
    pub(crate) accepted_capabilities: Vec<String>,
    pub(crate) excluded_providers: Vec<String>,
    pub(crate) provider_category: Option<String>,
    pub(crate) custom_redirect_url: Option<String>,
    pub(crate) custom_redirect_failure_url: Option<String>,
    pub(crate) device_selection_mode: Option<String>,
    pub(crate) automatically_manage_new_devices: Option<bool>,
    pub(crate) wait_for_device_creation: Option<bool>,
}

/// The filters and paging of `/connect_webviews/list`.
#[derive(Debug, Default)]
pub(crate) struct WebviewQuery {
    pub(crate) filters: ListFilters,
    /// A client session token sees only the webviews it made.
    pub(crate) made_by: Option<String>,
}

impl WebviewQuery {
    fn matches(&self, w: &Webview) -> bool {
        let (key, metadata) = (w.request.customer_key.as_ref(), &w.request.custom_metadata);
        self.filters
            .pass(w.user_identifier_key.as_ref(), key, metadata)
            && paging::wanted(self.made_by.as_ref(), w.client_session_id.as_ref())
    }
}

impl State {
    pub(crate) fn webview(&self, id: &str) -> Option<&Webview> {
        self.webviews.iter().find(|w| w.id == id)
    }

    /// A new webview; made with a session's token (`client_session_id`), it joins that session
    /// and is filed under its key.
    pub(crate) fn create_webview(
        &mut self,
        request: WebviewRequest,
        client_session_id: Option<&str>,
    ) -> usize {
        let id = uuid::Uuid::new_v4().to_string();
        let session = client_session_id.and_then(|s| self.session_index(s));
        let user_identifier_key = session.and_then(|s| {
            self.sessions[s].connect_webview_ids.push(id.clone());
            self.sessions[s].user_identifier_key.clone()
        });
        if let Some(key) = &request.customer_key {
            self.customer(key);
        }
        let seq = self.next_seq();
        self.webviews.push(Webview {
            id,
            seq,
            created_at: now(),
            request,
            client_session_id: client_session_id.map(str::to_owned),
            user_identifier_key,
            connected_account_id: None,
            authorized_at: None,
        });
        self.webviews.len() - 1
    }

    pub(crate) fn list_webviews(
        &mut self,
        query: &WebviewQuery,
    ) -> Result<Page<Webview>, ApiError> {
        let page = &query.filters.page;
        (self.cursors).list(
            Listing::Webviews,
            page,
            &self.webviews,
            |r| r.seq,
            |r| query.matches(r),
        )
    }

    /// The user signed in to their provider through the webview: returns the new account's id.
    pub(crate) fn complete_webview(&mut self, id: &str) -> Result<String, ApiError> {
        let index = (self.webviews.iter())
            .position(|w| w.id == id)
            .ok_or_else(|| {
                ApiError::not_found("connect_webview_not_found", "Connect webview not found")
            })?;
        if self.webviews[index].connected_account_id.is_some() {
            return Err(ApiError::invalid_input(
                "The connect webview is already completed",
            ));
        }
        let webview = &self.webviews[index];
        let session = (webview.client_session_id.as_deref()).and_then(|s| self.session_index(s));
        let account = self.file_account(AccountSpec {
            user_identifier_key: webview.user_identifier_key.clone(),
            custom_metadata: webview.request.custom_metadata.clone(),
            customer_key: webview.request.customer_key.clone(),
        });
        self.emit_connected(&account, Some(id));
        if let Some(session) = session {
            let ids = &mut self.sessions[session].connected_account_ids;
            if !ids.contains(&account) {
                ids.push(account.clone());
            }
        }
        let webview = &mut self.webviews[index];
        webview.connected_account_id = Some(account.clone());
        webview.authorized_at = Some(now());
        Ok(account)
    }
}
