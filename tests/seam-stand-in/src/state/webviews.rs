//! Connect Webviews as Seam keeps them: created (with the API key, or with a client session
//! token, which adds the webview to that session), then completed when the user signs in to
//! their provider. Completion is a test hook here: it makes the connected account, files it
//! under the session's `user_identifier_key`, copies the webview's `custom_metadata` onto it,
//! and adds it to the session that made the webview.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{AccountSpec, State, now};
use crate::error::ApiError;

#[derive(Clone, Debug)]
pub(crate) struct Webview {
    pub(crate) id: String,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) custom_metadata: Map<String, Value>,
    pub(crate) accepted_providers: Vec<String>,
    pub(crate) custom_redirect_url: Option<String>,
    /// The session whose token made it, if one did.
    pub(crate) client_session_id: Option<String>,
    /// Set once completed.
    pub(crate) connected_account_id: Option<String>,
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

/// The parameters of `/connect_webviews/create` the stand-in keeps.
#[derive(Debug, Default)]
pub(crate) struct WebviewRequest {
    pub(crate) custom_metadata: Map<String, Value>,
    pub(crate) accepted_providers: Vec<String>,
    pub(crate) custom_redirect_url: Option<String>,
}

impl State {
    pub(crate) fn webview(&self, id: &str) -> Option<&Webview> {
        self.webviews.iter().find(|w| w.id == id)
    }

    /// A new webview; made with a session's token (`client_session_id`), it joins that session.
    pub(crate) fn create_webview(
        &mut self,
        request: WebviewRequest,
        client_session_id: Option<&str>,
    ) -> Result<usize, ApiError> {
        if let Some((key, _)) = (request.custom_metadata.iter())
            .find(|(_, v)| !matches!(v, Value::String(_) | Value::Bool(_) | Value::Null))
        {
            return Err(ApiError::invalid_input(format!(
                "custom_metadata.{key} must be a string, a boolean or null"
            )));
        }
        let id = Uuid::new_v4().to_string();
        if let Some(session) = client_session_id.and_then(|s| self.session_index(s)) {
            self.sessions[session].connect_webview_ids.push(id.clone());
        }
        self.webviews.push(Webview {
            id,
            created_at: now(),
            custom_metadata: request.custom_metadata,
            accepted_providers: request.accepted_providers,
            custom_redirect_url: request.custom_redirect_url,
            client_session_id: client_session_id.map(str::to_owned),
            connected_account_id: None,
        });
        Ok(self.webviews.len() - 1)
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
        let session =
            (self.webviews[index].client_session_id.as_deref()).and_then(|s| self.session_index(s));
        let owner = session.and_then(|s| self.sessions[s].user_identifier_key.clone());
        let account = self.file_account(AccountSpec {
            user_identifier_key: owner,
            custom_metadata: self.webviews[index].custom_metadata.clone(),
        });
        self.emit_connected(&account, Some(id));
        if let Some(session) = session {
            let ids = &mut self.sessions[session].connected_account_ids;
            if !ids.contains(&account) {
                ids.push(account.clone());
            }
        }
        self.webviews[index].connected_account_id = Some(account.clone());
        Ok(account)
    }
}
