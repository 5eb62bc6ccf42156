//! `/client_sessions/*`: parameters in, `State`'s session rules applied, Seam's JSON out.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{Data, ok, post};
use crate::{
    error::ApiError,
    extract::Params,
    state::{self, Caller, SessionRequest, State},
    wire,
};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(post("/client_sessions/get_or_create", get_or_create))
        .service(post("/client_sessions/create", create))
        .service(post("/client_sessions/get", get))
        .service(post("/client_sessions/list", list))
        .service(post("/client_sessions/grant_access", grant_access))
        .service(post("/client_sessions/revoke", revoke))
        .service(post("/client_sessions/delete", delete));
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CreateParams {
    user_identifier_key: Option<String>,
    connected_account_ids: Vec<String>,
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
            expires_at: p.expires_at.map(state::truncate_to_millis),
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

async fn get(
    caller: Caller,
    data: Data,
    Params(params): Params<SelectParams>,
) -> Result<HttpResponse, ApiError> {
    let state = state::lock(&data);
    let (id, key) = (
        params.client_session_id.as_deref(),
        params.user_identifier_key.as_deref(),
    );
    let index = match (&caller, id, key) {
        // A session token asking about nothing in particular asks about itself.
        (Caller::Session(own), None, None) => state
            .session_index(own)
            .ok_or_else(ApiError::session_not_found)?,
        _ => state.find_session(id, key)?,
    };
    if let Caller::Session(own) = &caller
        && state.sessions[index].id != *own
    {
        return Err(ApiError::forbidden(
            "A client session token can only read its own session",
        ));
    }
    Ok(session_body(&state, index))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListParams {
    client_session_id: Option<String>,
    user_identifier_key: Option<String>,
    connect_webview_id: Option<String>,
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
    connected_account_ids: Vec<String>,
    connect_webview_ids: Vec<String>,
}

async fn grant_access(
    caller: Caller,
    data: Data,
    Params(p): Params<GrantParams>,
) -> Result<HttpResponse, ApiError> {
    caller.require_api_key()?;
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
        self.client_session_id
            .as_deref()
            .ok_or_else(|| ApiError::invalid_input("client_session_id is required"))
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
