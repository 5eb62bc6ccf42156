//! Seam's wire types, as far as seam-bff reads them. Unknown fields are ignored: Seam adds
//! fields without notice.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A client session as Seam returns it. `Debug` shows the token as `[REDACTED]`.
#[derive(Debug, Deserialize)]
pub(crate) struct ClientSession {
    pub(crate) client_session_id: String,
    pub(crate) token: SecretString,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) expires_at: OffsetDateTime,
    #[serde(default)]
    pub(crate) connected_account_ids: Vec<String>,
    /// Connect Webviews made with the session's token (or granted to it).
    #[serde(default)]
    pub(crate) connect_webview_ids: Vec<String>,
    /// The user identities (Seam's mobile-access users) the session is for: the plural field
    /// is deprecated in favour of `user_identity_id`. Kept for the admin API.
    #[serde(default)]
    pub(crate) user_identity_ids: Vec<String>,
    #[serde(default)]
    pub(crate) user_identity_id: Option<String>,
    #[serde(default)]
    pub(crate) user_identifier_key: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub(crate) created_at: Option<OffsetDateTime>,
    /// Set on sessions of Seam's Customers feature: such a session is an admin credential
    /// over the customer's accounts (`client_session_with_customer`), never a user's token.
    #[serde(default)]
    pub(crate) customer_key: Option<String>,
    #[serde(default)]
    pub(crate) customer_id: Option<String>,
}

impl ClientSession {
    /// How the session reaches beyond the accounts it holds, when it does. The service asks
    /// for neither kind, so such a session is someone else's.
    pub(crate) fn foreign(&self) -> Option<Foreign> {
        if self.customer_key.is_some() || self.customer_id.is_some() {
            Some(Foreign::CustomerSession)
        } else if self.user_identity_id.is_some() || !self.user_identity_ids.is_empty() {
            Some(Foreign::UserIdentity)
        } else {
            None
        }
    }
}

/// A session that is not a plain user's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Foreign {
    /// Made for Seam's Customers feature: an admin credential over the customer's accounts
    /// (`client_session_with_customer`).
    CustomerSession,
    /// Tied to a user identity, which grants devices and credentials of its own.
    UserIdentity,
}

impl Foreign {
    /// The metrics label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::CustomerSession => "customer_session",
            Self::UserIdentity => "user_identity",
        }
    }

    /// Why it is not handed out, for the log.
    pub(crate) fn problem(self) -> &'static str {
        match self {
            Self::CustomerSession => "it is a Seam customer session (an admin credential)",
            Self::UserIdentity => "it is tied to a user identity the service did not ask for",
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct ClientSessionResponse {
    pub(crate) client_session: ClientSession,
}

#[derive(Deserialize)]
pub(crate) struct ClientSessionListResponse {
    pub(crate) client_sessions: Vec<ClientSession>,
}

#[derive(Serialize)]
pub(crate) struct ListSessionsRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) user_identifier_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) connect_webview_id: Option<&'a str>,
}

#[derive(Serialize)]
pub(crate) struct GetOrCreateRequest<'a> {
    pub(crate) user_identifier_key: &'a str,
    pub(crate) connected_account_ids: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub(crate) connect_webview_ids: &'a [String],
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) expires_at: OffsetDateTime,
}

#[derive(Serialize)]
pub(crate) struct GrantAccessRequest<'a> {
    pub(crate) client_session_id: &'a str,
    pub(crate) connected_account_ids: &'a [String],
}

#[derive(Serialize)]
pub(crate) struct SessionIdRequest<'a> {
    pub(crate) client_session_id: &'a str,
}

#[derive(Serialize)]
pub(crate) struct WebviewIdRequest<'a> {
    pub(crate) connect_webview_id: &'a str,
}

#[derive(Deserialize)]
pub(crate) struct WebviewResponse {
    pub(crate) connect_webview: Webview,
}

#[derive(Deserialize)]
pub(crate) struct Webview {
    pub(crate) connect_webview_id: String,
    /// Set once the user has connected an account through it.
    pub(crate) connected_account_id: Option<String>,
}

/// Which connected accounts (or Connect Webviews) to list. Seam reads an empty value as no
/// filter at all, so callers never build one with an empty value (`AccountSource::owned`).
#[derive(Clone, Copy)]
pub(crate) enum AccountFilter<'a> {
    UserIdentifierKey(&'a str),
    CustomMetadataHas(&'a str, &'a str),
}

impl<'a> AccountFilter<'a> {
    /// The value the filter matches.
    pub(crate) fn value(self) -> &'a str {
        match self {
            Self::UserIdentifierKey(value) | Self::CustomMetadataHas(_, value) => value,
        }
    }
}

/// The filter and paging of `/connected_accounts/list` and `/connect_webviews/list`.
#[derive(Serialize)]
pub(crate) struct ListRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) user_identifier_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) custom_metadata_has: Option<std::collections::BTreeMap<&'a str, &'a str>>,
    pub(crate) limit: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) page_cursor: Option<String>,
}

impl<'a> ListRequest<'a> {
    pub(crate) fn new(filter: AccountFilter<'a>, limit: u32) -> Self {
        let (user_identifier_key, custom_metadata_has) = match filter {
            AccountFilter::UserIdentifierKey(key) => (Some(key), None),
            AccountFilter::CustomMetadataHas(key, value) => {
                (None, Some(std::collections::BTreeMap::from([(key, value)])))
            }
        };
        Self {
            user_identifier_key,
            custom_metadata_has,
            limit,
            page_cursor: None,
        }
    }
}

/// One page of a listing: its items and where the next page starts.
pub(crate) trait Page: serde::de::DeserializeOwned {
    type Item;
    fn into_parts(self) -> (Vec<Self::Item>, Option<Pagination>);
}

#[derive(Deserialize)]
pub(crate) struct ListAccountsResponse {
    pub(crate) connected_accounts: Vec<ConnectedAccount>,
    pub(crate) pagination: Option<Pagination>,
}

impl Page for ListAccountsResponse {
    type Item = ConnectedAccount;
    fn into_parts(self) -> (Vec<ConnectedAccount>, Option<Pagination>) {
        (self.connected_accounts, self.pagination)
    }
}

#[derive(Deserialize)]
pub(crate) struct ListWebviewsResponse {
    pub(crate) connect_webviews: Vec<Webview>,
    pub(crate) pagination: Option<Pagination>,
}

impl Page for ListWebviewsResponse {
    type Item = Webview;
    fn into_parts(self) -> (Vec<Webview>, Option<Pagination>) {
        (self.connect_webviews, self.pagination)
    }
}

#[derive(Deserialize)]
pub(crate) struct ConnectedAccount {
    pub(crate) connected_account_id: String,
}

#[derive(Deserialize)]
pub(crate) struct Pagination {
    #[serde(default)]
    pub(crate) has_next_page: bool,
    pub(crate) next_page_cursor: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct Empty {}

#[derive(Deserialize)]
pub(crate) struct WorkspaceResponse {
    pub(crate) workspace: Workspace,
}

/// What readiness reads of the workspace the API key belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Workspace {
    pub(crate) workspace_id: String,
    #[serde(default)]
    pub(crate) is_sandbox: bool,
    #[serde(default)]
    pub(crate) is_suspended: bool,
    /// Publishable keys let a browser ask Seam for a session under any `user_identifier_key`.
    #[serde(default)]
    pub(crate) is_publishable_key_auth_enabled: bool,
}

/// Seam's error envelope; only the type is kept (messages may echo input).
#[derive(Deserialize)]
pub(crate) struct ErrorEnvelope {
    pub(crate) error: ErrorBody,
}

#[derive(Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(rename = "type")]
    pub(crate) error_type: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_session_debug_print_hides_the_token() {
        let session: ClientSession = serde_json::from_str(
            r#"{"client_session_id": "cs_1", "token": "seam_cst_secret_value",
                "expires_at": "2026-01-01T00:00:00.5Z", "connected_account_ids": ["a"],
                "device_count": 3, "workspace_id": "w"}"#,
        )
        .expect("parses, ignoring unknown fields");
        let printed = format!("{session:?}");
        assert!(printed.contains("cs_1"));
        assert!(!printed.contains("seam_cst_secret_value"), "{printed}");
    }
}
