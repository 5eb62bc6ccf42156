//! The Seam API client: one per worker (awc is not `Send`), holding the API key as a
//! sensitive header that neither `Debug` nor a log line prints.
//!
//! Every call is a POST with a JSON body, bounded by one deadline that covers connecting,
//! sending and reading the body, and logged once with endpoint, status, latency and Seam's
//! `seam-request-id`.

mod error;
mod types;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use actix_web::http::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use actix_web::rt::time::timeout;
use awc::error::SendRequestError;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use crate::config::{ConfigError, SeamSettings, secret_from};

pub(crate) use error::SeamError;
pub(crate) use types::{AccountFilter, ClientSession};
use types::{
    ClientSessionListResponse, ClientSessionResponse, Empty, ErrorEnvelope, GetOrCreateRequest,
    GrantAccessRequest, ListAccountsRequest, ListAccountsResponse, ListSessionsRequest,
    SessionIdRequest,
};

/// Largest Seam response body read; a bigger one is treated as a bad response.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// Seam's error types are short identifiers; anything longer is cut before it is logged.
const MAX_ERROR_TYPE_CHARS: usize = 64;
/// Connected accounts asked for per page.
const ACCOUNTS_PAGE_LIMIT: u32 = 500;
/// A listing that has not ended after this many pages is treated as a bad response rather
/// than followed forever.
const MAX_ACCOUNT_PAGES: usize = 100;

/// What every worker's client is built from; validated once at start-up.
#[derive(Clone)]
pub(crate) struct SeamConfig {
    base_url: String,
    auth_header: HeaderValue,
    timeout: Duration,
}

impl SeamConfig {
    pub(crate) fn from_settings(settings: &SeamSettings) -> Result<Self, ConfigError> {
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
        if settings.timeout_ms == 0 {
            return Err(ConfigError::new("seam.timeout_ms", "must be above 0"));
        }
        Ok(Self {
            base_url,
            auth_header: bearer(&key).map_err(|_| {
                ConfigError::new("seam.api_key", "holds characters a header cannot carry")
            })?,
            timeout: Duration::from_millis(settings.timeout_ms),
        })
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

    /// Succeeds when Seam accepts the API key.
    pub(crate) async fn check_api_key(&self) -> Result<(), SeamError> {
        self.call::<_, serde_json::Value>("/workspaces/get", &Empty {})
            .await
            .map(drop)
    }

    /// Ids of every connected account matching `filter`, following pagination.
    pub(crate) async fn connected_account_ids(
        &self,
        filter: AccountFilter<'_>,
    ) -> Result<Vec<String>, SeamError> {
        const ENDPOINT: &str = "/connected_accounts/list";
        let (user_identifier_key, custom_metadata_has) = match filter {
            AccountFilter::UserIdentifierKey(key) => (Some(key), None),
            AccountFilter::CustomMetadataHas(key, value) => {
                (None, Some(BTreeMap::from([(key, value)])))
            }
        };
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_ACCOUNT_PAGES {
            let page: ListAccountsResponse = self
                .call(
                    ENDPOINT,
                    &ListAccountsRequest {
                        user_identifier_key,
                        custom_metadata_has: custom_metadata_has.clone(),
                        limit: ACCOUNTS_PAGE_LIMIT,
                        page_cursor: cursor.as_deref(),
                    },
                )
                .await?;
            ids.extend(
                page.connected_accounts
                    .into_iter()
                    .map(|a| a.connected_account_id),
            );
            match page.pagination {
                Some(p) if p.has_next_page => {
                    cursor = Some(p.next_page_cursor.ok_or(SeamError::BadResponse {
                        endpoint: ENDPOINT,
                        reason: "has_next_page without next_page_cursor".into(),
                    })?);
                }
                _ => return Ok(ids),
            }
        }
        Err(SeamError::BadResponse {
            endpoint: ENDPOINT,
            reason: format!("more than {MAX_ACCOUNT_PAGES} pages"),
        })
    }

    pub(crate) async fn get_or_create_session(
        &self,
        user_identifier_key: &str,
        connected_account_ids: &[String],
        expires_at: OffsetDateTime,
    ) -> Result<ClientSession, SeamError> {
        let response: ClientSessionResponse = self
            .call(
                "/client_sessions/get_or_create",
                &GetOrCreateRequest {
                    user_identifier_key,
                    connected_account_ids,
                    expires_at,
                },
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
        )
        .await
        .map(drop)
    }

    pub(crate) async fn delete_session(&self, client_session_id: &str) -> Result<(), SeamError> {
        self.call::<_, serde_json::Value>(
            "/client_sessions/delete",
            &SessionIdRequest { client_session_id },
        )
        .await
        .map(drop)
    }

    /// Revoking keeps the session's record at Seam but ends its token at once.
    pub(crate) async fn revoke_session(&self, client_session_id: &str) -> Result<(), SeamError> {
        self.call::<_, serde_json::Value>(
            "/client_sessions/revoke",
            &SessionIdRequest { client_session_id },
        )
        .await
        .map(drop)
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
            )
            .await
        {
            Ok(response) => Ok(Some(response.client_session)),
            Err(SeamError::Status { status: 404, .. }) => Ok(None),
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
            },
        )
        .await
        .map(|response| response.client_sessions)
    }

    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        body: &Req,
    ) -> Result<Resp, SeamError> {
        let started = Instant::now();
        let outcome = timeout(self.config.timeout, self.exchange(endpoint, body)).await;
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let (status, request_id, result) = match outcome {
            Ok(exchanged) => exchanged,
            Err(_) => (None, None, Err(SeamError::Timeout { endpoint })),
        };
        tracing::info!(
            endpoint,
            status = status.unwrap_or(0),
            latency_ms = format_args!("{latency_ms:.1}"),
            seam_request_id = request_id.as_deref().unwrap_or("-"),
            "seam call"
        );
        result.and_then(|bytes| {
            serde_json::from_slice(&bytes).map_err(|e| SeamError::BadResponse {
                endpoint,
                reason: format!("invalid JSON at line {} column {}", e.line(), e.column()),
            })
        })
    }

    /// Sends one request and reads the body; returns the status and request id for logging.
    async fn exchange<Req: Serialize>(
        &self,
        endpoint: &'static str,
        body: &Req,
    ) -> (
        Option<u16>,
        Option<String>,
        Result<actix_web::web::Bytes, SeamError>,
    ) {
        let request = self
            .http
            .post(format!("{}{endpoint}", self.config.base_url))
            .insert_header((AUTHORIZATION, self.config.auth_header.clone()));
        let mut response = match request.send_json(body).await {
            Ok(response) => response,
            Err(SendRequestError::Timeout) => {
                return (None, None, Err(SeamError::Timeout { endpoint }));
            }
            Err(e) => {
                let reason = match e {
                    SendRequestError::Connect(e) => e.to_string(),
                    other => other.to_string(),
                };
                return (None, None, Err(SeamError::Unreachable { endpoint, reason }));
            }
        };
        let status = response.status();
        let request_id = response
            .headers()
            .get("seam-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.body().limit(MAX_RESPONSE_BYTES).await;
        let result = match body {
            Err(e) => Err(SeamError::BadResponse {
                endpoint,
                reason: e.to_string(),
            }),
            Ok(bytes) if status.is_success() => Ok(bytes),
            Ok(_) if status.as_u16() == 401 => Err(SeamError::Unauthorized {
                endpoint,
                status: status.as_u16(),
            }),
            Ok(_) if status.as_u16() == 429 => Err(SeamError::RateLimited {
                endpoint,
                retry_after,
            }),
            Ok(bytes) => Err(SeamError::Status {
                endpoint,
                status: status.as_u16(),
                // Keep only Seam's error type: the message may echo what we sent.
                error_type: serde_json::from_slice::<ErrorEnvelope>(&bytes)
                    .map(|e| {
                        e.error
                            .error_type
                            .chars()
                            .take(MAX_ERROR_TYPE_CHARS)
                            .collect()
                    })
                    .unwrap_or_else(|_| "non-json".into()),
                request_id: request_id.clone().unwrap_or_else(|| "-".into()),
            }),
        };
        (Some(status.as_u16()), request_id, result)
    }
}
