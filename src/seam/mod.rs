//! The Seam API client: one per worker (awc is not `Send`), holding the API key as a
//! sensitive header that neither `Debug` nor a log line prints. How each call is sent,
//! retried and bounded is in `transport`; the circuit breaker is in `breaker`; the cached
//! check that the key works, for readiness, in `key_check`; the workspace pin, which holds
//! every call back until the key's workspace is confirmed, in `workspace`. The bottom of the
//! request's path: it imports nothing above it.

mod breaker;
mod error;
mod key_check;
mod transport;
mod types;
mod webhook;
mod workspace;

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use crate::clock::Clock;
use crate::config::{ConfigError, SeamSettings, secret_from};
use crate::metrics::Metrics;

use breaker::Breaker;
pub(crate) use error::SeamError;
pub(crate) use key_check::ApiKeyCheck;
use transport::Retry;
pub(crate) use types::{AccountFilter, ClientSession};
use types::{
    ClientSessionListResponse, ClientSessionResponse, Empty, GetOrCreateRequest,
    GrantAccessRequest, ListAccountsResponse, ListRequest, ListSessionsRequest,
    ListWebviewsResponse, Page, SessionIdRequest, WebviewIdRequest, WebviewResponse, Workspace,
    WorkspaceResponse,
};
pub(crate) use webhook::{Delivery, SeamEvent, WebhookRefused, WebhookVerifier};
use workspace::WorkspacePin;
/// Connected accounts (or webviews) asked for per page.
const PAGE_LIMIT: u32 = 500;
/// A listing that has not ended after this many pages is treated as a bad response rather
/// than followed forever.
const MAX_PAGES: usize = 100;

/// What every worker's client is built from, validated once at start-up. The breaker, the
/// concurrency bound and the workspace pin are shared by all workers.
#[derive(Clone)]
pub(crate) struct SeamConfig {
    base_url: String,
    auth_header: HeaderValue,
    timeout: Duration,
    deadline: Duration,
    max_attempts: u32,
    retry_base: Duration,
    max_response_bytes: usize,
    breaker: Arc<Breaker>,
    permits: Arc<Semaphore>,
    metrics: Arc<Metrics>,
    workspace: Arc<WorkspacePin>,
    /// What `check-config` should warn about (never quoting the key).
    warnings: Vec<&'static str>,
}

impl SeamConfig {
    pub(crate) fn from_settings(
        settings: &SeamSettings,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ConfigError> {
        let key = secret_from(
            "seam.api_key",
            settings.api_key.as_ref(),
            settings.api_key_file.as_deref(),
        )?
        .filter(|key| !key.expose_secret().is_empty())
        .ok_or_else(|| {
            ConfigError::new(
                "seam.api_key",
                "is missing: set SEAM_API_KEY (or SEAM_BFF__SEAM__API_KEY) or seam.api_key_file",
            )
        })?;
        let base_url = settings.endpoint.trim_end_matches('/').to_owned();
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(ConfigError::new(
                "seam.endpoint",
                "must be an http(s) URL such as https://connect.getseam.com",
            ));
        }
        if settings.timeout_ms == 0 || settings.timeout_ms > settings.deadline_ms {
            return Err(ConfigError::new(
                "seam.timeout_ms",
                "must be above 0 and at most seam.deadline_ms",
            ));
        }
        if (settings.workspace_id.as_deref()).is_some_and(|id| id.trim().is_empty()) {
            return Err(ConfigError::new(
                "seam.workspace_id",
                "is empty: set the workspace id Seam's console shows, or leave it unset",
            ));
        }
        // Seam's sandbox keys contain `test`; a production pin with one is worth a word.
        let warnings = (settings.sandbox == Some(false) && key.expose_secret().contains("test"))
            .then_some(
                "seam.api_key looks like a sandbox key (it contains \"test\") but seam.sandbox \
                 = false: the service will not be ready with it; use a production key, or set \
                 seam.sandbox = true",
            )
            .into_iter()
            .collect();
        for (key, value) in [
            ("seam.max_attempts", settings.max_attempts as u64),
            (
                "seam.max_concurrent_requests",
                settings.max_concurrent_requests as u64,
            ),
            (
                "seam.breaker_failures",
                u64::from(settings.breaker_failures),
            ),
            (
                "seam.max_response_bytes",
                settings.max_response_bytes as u64,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::new(key, "must be above 0"));
            }
        }
        Ok(Self {
            base_url,
            auth_header: bearer(&key).map_err(|_| {
                ConfigError::new("seam.api_key", "holds characters a header cannot carry")
            })?,
            timeout: Duration::from_millis(settings.timeout_ms),
            deadline: Duration::from_millis(settings.deadline_ms),
            max_attempts: settings.max_attempts,
            retry_base: Duration::from_millis(settings.retry_base_ms),
            max_response_bytes: settings.max_response_bytes,
            breaker: Arc::new(Breaker::new(
                settings.breaker_failures,
                Duration::from_secs(settings.breaker_cooldown_secs),
                clock,
                metrics.clone(),
            )),
            permits: Arc::new(Semaphore::new(settings.max_concurrent_requests)),
            workspace: Arc::new(WorkspacePin::new(
                settings.workspace_id.clone(),
                settings.sandbox,
                &metrics,
            )),
            metrics,
            warnings,
        })
    }

    /// Settings that are valid but probably not meant, for `check-config`.
    pub(crate) fn warnings(&self) -> &[&'static str] {
        &self.warnings
    }
}

fn bearer(key: &SecretString) -> Result<HeaderValue, actix_web::http::header::InvalidHeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose_secret()))?;
    value.set_sensitive(true);
    Ok(value)
}

pub(crate) struct SeamClient {
    http: awc::Client,
    config: SeamConfig,
}

impl SeamClient {
    pub(crate) fn new(config: SeamConfig) -> Self {
        let http = awc::Client::builder()
            // Never carry the API key to wherever a redirect points.
            .disable_redirects()
            .timeout(config.timeout)
            .finish();
        Self { http, config }
    }

    /// Whether the circuit breaker is keeping calls away from Seam.
    pub(crate) fn circuit_open(&self) -> bool {
        self.config.breaker.is_open()
    }

    /// The API key's workspace: a call that succeeds only with a key Seam accepts. Sent as it
    /// is, never held back by the workspace pin, which it answers.
    pub(crate) async fn workspace(&self) -> Result<Workspace, SeamError> {
        self.send::<_, WorkspaceResponse>("/workspaces/get", &Empty {}, Retry::Idempotent)
            .await
            .map(|response| response.workspace)
    }

    /// `Some(ours)` when a Seam event's `workspace_id` is known not to be this service's
    /// workspace (pinned by `seam.workspace_id`, or learnt by readiness); `None` when it is,
    /// or while the service's workspace is not known.
    pub(crate) fn other_workspace(&self, workspace_id: &str) -> Option<String> {
        self.config.workspace.other_than_ours(workspace_id)
    }

    /// Ids of every connected account matching `filter`, following pagination.
    pub(crate) async fn connected_account_ids(
        &self,
        filter: AccountFilter<'_>,
    ) -> Result<Vec<String>, SeamError> {
        let accounts = self
            .every_page::<ListAccountsResponse>("/connected_accounts/list", filter)
            .await?;
        Ok(accounts
            .into_iter()
            .map(|a| a.connected_account_id)
            .collect())
    }

    /// The Connect Webviews matching `filter` that have connected an account: `(webview id,
    /// account id)`, following pagination.
    pub(crate) async fn webviews_connected(
        &self,
        filter: AccountFilter<'_>,
    ) -> Result<Vec<(String, String)>, SeamError> {
        let webviews = self
            .every_page::<ListWebviewsResponse>("/connect_webviews/list", filter)
            .await?;
        Ok((webviews.into_iter())
            .filter_map(|w| Some((w.connect_webview_id, w.connected_account_id?)))
            .collect())
    }

    /// Every item a listing endpoint has for `filter`, page after page.
    async fn every_page<P: Page>(
        &self,
        endpoint: &'static str,
        filter: AccountFilter<'_>,
    ) -> Result<Vec<P::Item>, SeamError> {
        let mut items = Vec::new();
        let mut request = ListRequest::new(filter, PAGE_LIMIT);
        for _ in 0..MAX_PAGES {
            let page: P = self.call(endpoint, &request, Retry::Idempotent).await?;
            let (page_items, pagination) = page.into_parts();
            items.extend(page_items);
            match pagination {
                Some(p) if p.has_next_page => {
                    request.page_cursor =
                        Some(p.next_page_cursor.ok_or(SeamError::BadResponse {
                            endpoint,
                            reason: "has_next_page without next_page_cursor".into(),
                        })?);
                }
                _ => return Ok(items),
            }
        }
        Err(SeamError::BadResponse {
            endpoint,
            reason: format!("more than {MAX_PAGES} pages"),
        })
    }

    pub(crate) async fn get_or_create_session(
        &self,
        user_identifier_key: &str,
        connected_account_ids: &[String],
        connect_webview_ids: &[String],
        expires_at: OffsetDateTime,
    ) -> Result<ClientSession, SeamError> {
        let response: ClientSessionResponse = self
            .call(
                "/client_sessions/get_or_create",
                &GetOrCreateRequest {
                    user_identifier_key,
                    connected_account_ids,
                    connect_webview_ids,
                    expires_at,
                },
                Retry::Idempotent,
            )
            .await?;
        Ok(response.client_session)
    }

    pub(crate) async fn grant_access(
        &self,
        client_session_id: &str,
        connected_account_ids: &[String],
    ) -> Result<(), SeamError> {
        self.call::<_, serde_json::Value>(
            "/client_sessions/grant_access",
            &GrantAccessRequest {
                client_session_id,
                connected_account_ids,
            },
            Retry::Idempotent,
        )
        .await
        .map(drop)
    }

    pub(crate) async fn delete_session(&self, client_session_id: &str) -> Result<(), SeamError> {
        self.call::<_, serde_json::Value>(
            "/client_sessions/delete",
            &SessionIdRequest { client_session_id },
            Retry::Never,
        )
        .await
        .map(drop)
    }

    /// The account connected through this Connect Webview, if one has been; `None` too when
    /// Seam does not know the webview.
    pub(crate) async fn webview_account(
        &self,
        connect_webview_id: &str,
    ) -> Result<Option<String>, SeamError> {
        match self
            .call::<_, WebviewResponse>(
                "/connect_webviews/get",
                &WebviewIdRequest { connect_webview_id },
                Retry::Idempotent,
            )
            .await
        {
            Ok(response) => Ok(response.connect_webview.connected_account_id),
            Err(SeamError::Status {
                status: 400 | 404, ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The session with this id; `None` when Seam does not know it.
    pub(crate) async fn get_session(
        &self,
        client_session_id: &str,
    ) -> Result<Option<ClientSession>, SeamError> {
        match self
            .call::<_, ClientSessionResponse>(
                "/client_sessions/get",
                &SessionIdRequest { client_session_id },
                Retry::Idempotent,
            )
            .await
        {
            Ok(response) => Ok(Some(response.client_session)),
            Err(SeamError::Status { status: 404, .. }) => Ok(None),
            // Seam's spec types the id as a UUID and refuses another as `invalid_input`: no
            // session has that id.
            Err(SeamError::Status {
                status: 400,
                error_type,
                ..
            }) if error_type == "invalid_input" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every session in the workspace, or only those of one `user_identifier_key`.
    pub(crate) async fn list_sessions(
        &self,
        user_identifier_key: Option<&str>,
    ) -> Result<Vec<ClientSession>, SeamError> {
        self.call::<_, ClientSessionListResponse>(
            "/client_sessions/list",
            &ListSessionsRequest {
                user_identifier_key,
                connect_webview_id: None,
            },
            Retry::Idempotent,
        )
        .await
        .map(|response| response.client_sessions)
    }

    /// The Seam keys of the sessions a Connect Webview was made with (or granted to), `None`
    /// for a session without one: none at all when the API key made it.
    pub(crate) async fn webview_session_keys(
        &self,
        connect_webview_id: &str,
    ) -> Result<Vec<Option<String>>, SeamError> {
        self.call::<_, ClientSessionListResponse>(
            "/client_sessions/list",
            &ListSessionsRequest {
                user_identifier_key: None,
                connect_webview_id: Some(connect_webview_id),
            },
            Retry::Idempotent,
        )
        .await
        .map(|response| {
            (response.client_sessions.into_iter())
                .map(|session| session.user_identifier_key)
                .collect()
        })
    }
}
