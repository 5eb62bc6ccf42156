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
    /// Set once the user has connected an account through it.
    pub(crate) connected_account_id: Option<String>,
}

/// Which connected accounts to list.
#[derive(Clone, Copy)]
pub(crate) enum AccountFilter<'a> {
    UserIdentifierKey(&'a str),
    CustomMetadataHas(&'a str, &'a str),
}

#[derive(Serialize)]
pub(crate) struct ListAccountsRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) user_identifier_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) custom_metadata_has: Option<std::collections::BTreeMap<&'a str, &'a str>>,
    pub(crate) limit: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) page_cursor: Option<&'a str>,
}

#[derive(Deserialize)]
pub(crate) struct ListAccountsResponse {
    pub(crate) connected_accounts: Vec<ConnectedAccount>,
    pub(crate) pagination: Option<Pagination>,
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
