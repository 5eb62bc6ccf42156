//! `/client_sessions/*`: parameters in, `State`'s session rules applied, Seam's JSON out.

use actix_web::{HttpResponse, http::Method, web};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{Data, endpoint, ok, post, read, uuid};
use crate::{
    error::ApiError,
    extract::{Params, lenient},
    state::{self, Caller, SessionRequest, State},
    wire,
};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(post("/client_sessions/get_or_create", get_or_create))
        .service(endpoint(
            "/client_sessions/create",
            &[Method::PUT, Method::POST],
            create,
        ))
        .service(read("/client_sessions/get", get))
        .service(read("/client_sessions/list", list))
        .service(endpoint(
            "/client_sessions/grant_access",
            &[Method::PATCH, Method::POST],
            grant_access,
        ))
        .service(post("/client_sessions/revoke", revoke))
        .service(endpoint(
            "/client_sessions/delete",
            &[Method::DELETE, Method::POST],
            delete,
        ));
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CreateParams {
    user_identifier_key: Option<String>,
    #[serde(deserialize_with = "lenient::strings")]
    connected_account_ids: Vec<String>,
    #[serde(deserialize_with = "lenient::strings")]
    connect_webview_ids: Vec<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
}

impl From<CreateParams> for SessionRequest {
    fn from(p: CreateParams) -> Self {
        SessionRequest {
            user_identifier_key: p.user_identifier_key,
            connected_account_ids: p.connected_account_ids,
            connect_webview_ids: p.connect_webview_ids,
            // Stored at the API's precision, so that what is read back equals what is kept.
            expires_at: p.expires_at.map(state::truncate_to_micros),
        }
    }
}

fn session_body(state: &State, index: usize) -> HttpResponse {
    ok(json!({ "client_session": wire::session(&state.sessions[index], state) }))
}

async fn get_or_create(
    caller: Caller,
    data: Data,
    Params(params): Params<CreateParams>,
) -> Result<HttpResponse, ApiError> {
    caller.require_api_key()?;
    let mut state = state::lock(&data);
    let index = state.get_or_create_session(&params.into())?;
    Ok(session_body(&state, index))
}

async fn create(
    caller: Caller,
    data: Data,
    Params(params): Params<CreateParams>,
) -> Result<HttpResponse, ApiError> {
    caller.require_api_key()?;
    let mut state = state::lock(&data);
    let index = state.create_session(&params.into())?;
    Ok(session_body(&state, index))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SelectParams {
    client_session_id: Option<String>,
    user_identifier_key: Option<String>,
}

/// A client session token is answered with its own session, whatever it asks for (as Seam and
/// its fake do); the API key names one by id or key.
async fn get(
    caller: Caller,
    data: Data,
    Params(params): Params<SelectParams>,
) -> Result<HttpResponse, ApiError> {
    let state = state::lock(&data);
    let index = match &caller {
        Caller::Session(own) => state
            .session_index(own)
            .ok_or_else(ApiError::session_not_found)?,
        Caller::ApiKey => {
            let id = params.client_session_id.as_deref();
            if let Some(id) = id {
                uuid("client_session_id", id)?;
            }
            state.find_session(id, params.user_identifier_key.as_deref())?
        }
    };
    Ok(session_body(&state, index))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListParams {
    client_session_id: Option<String>,
    user_identifier_key: Option<String>,
    connect_webview_id: Option<String>,
    #[serde(deserialize_with = "lenient::flag")]
    without_user_identifier_key: bool,
}

async fn list(
    caller: Caller,
    data: Data,
    Params(p): Params<ListParams>,
) -> Result<HttpResponse, ApiError> {
    caller.require_api_key()?;
    let state = state::lock(&data);
    let sessions: Vec<Value> = state
        .sessions
        .iter()
        .filter(|s| p.client_session_id.as_ref().is_none_or(|id| *id == s.id))
        .filter(|s| {
            p.user_identifier_key
                .as_ref()
                .is_none_or(|key| s.user_identifier_key.as_ref() == Some(key))
        })
        .filter(|s| {
            p.connect_webview_id
                .as_ref()
                .is_none_or(|id| s.connect_webview_ids.contains(id))
        })
        .filter(|s| !p.without_user_identifier_key || s.user_identifier_key.is_none())
        .map(|s| wire::session(s, &state))
        .collect();
    Ok(ok(json!({ "client_sessions": sessions })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GrantParams {
    client_session_id: Option<String>,
    user_identifier_key: Option<String>,
    #[serde(deserialize_with = "lenient::strings")]
    connected_account_ids: Vec<String>,
    #[serde(deserialize_with = "lenient::strings")]
    connect_webview_ids: Vec<String>,
}

async fn grant_access(
    caller: Caller,
    data: Data,
    Params(p): Params<GrantParams>,
) -> Result<HttpResponse, ApiError> {
    caller.require_api_key()?;
    if let Some(id) = p.client_session_id.as_deref() {
        uuid("client_session_id", id)?;
    }
    let mut state = state::lock(&data);
    let index = state.find_session(
        p.client_session_id.as_deref(),
        p.user_identifier_key.as_deref(),
    )?;
    state.grant_access(index, &p.connected_account_ids, &p.connect_webview_ids)?;
    Ok(session_body(&state, index))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IdParams {
    client_session_id: Option<String>,
}

impl IdParams {
    fn id(&self) -> Result<&str, ApiError> {
        let id = (self.client_session_id.as_deref())
            .ok_or_else(|| ApiError::invalid_input("client_session_id is required"))?;
        uuid("client_session_id", id)?;
        Ok(id)
    }
}

async fn revoke(
    caller: Caller,
    data: Data,
    Params(p): Params<IdParams>,
) -> Result<HttpResponse, ApiError> {
    caller.require_api_key()?;
    state::lock(&data).revoke_session(p.id()?)?;
    Ok(ok(json!({})))
}

async fn delete(
    caller: Caller,
    data: Data,
    Params(p): Params<IdParams>,
) -> Result<HttpResponse, ApiError> {
    caller.require_api_key()?;
    state::lock(&data).delete_session(p.id()?)?;
    Ok(ok(json!({})))
}
