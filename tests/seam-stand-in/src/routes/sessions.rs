//! `/client_sessions/*`: parameters in, `State`'s session rules applied, Seam's JSON out. Only
//! `create` takes a customer; `get_or_create` refuses `customer_key`, as Seam's spec has it.

use actix_web::{HttpResponse, http::Method, web};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{Data, endpoint, ok, post, read, uuid};
use crate::{
    error::ApiError,
    extract::{Params, lenient},
    params::{self, Given},
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

/// The parameters of `create`; `get_or_create` takes them all but the customer.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct CreateParams {
    user_identifier_key: Given<String>,
    #[serde(deserialize_with = "lenient::strings")]
    connected_account_ids: Vec<String>,
    #[serde(deserialize_with = "lenient::strings")]
    connect_webview_ids: Vec<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
    customer_key: Given<String>,
    customer_id: Option<String>,
    user_identity_id: Option<String>,
    user_identity_ids: Option<Vec<String>>,
}

/// The user identity named by `user_identity_id`, or the deprecated `user_identity_ids`
/// (exactly one id), as `create`, `get_or_create` and `grant_access` take them.
fn user_identity(
    user_identity_id: Option<String>,
    user_identity_ids: Option<Vec<String>>,
) -> Result<Option<String>, ApiError> {
    let plural = match user_identity_ids {
        None => None,
        Some(ids) if ids.len() == 1 => ids.into_iter().next(),
        Some(_) => {
            return Err(ApiError::invalid_input(
                "user_identity_ids must hold exactly one id",
            ));
        }
    };
    let id = match (user_identity_id, plural) {
        (Some(one), Some(other)) if one != other => {
            return Err(ApiError::invalid_input(
                "user_identity_id and user_identity_ids name different user identities",
            ));
        }
        (one, other) => one.or(other),
    };
    if let Some(id) = &id {
        uuid("user_identity_id", id)?;
    }
    Ok(id)
}

impl CreateParams {
    fn request(self) -> Result<SessionRequest, ApiError> {
        Ok(SessionRequest {
            user_identifier_key: self.user_identifier_key.non_empty("user_identifier_key")?,
            connected_account_ids: self.connected_account_ids,
            connect_webview_ids: self.connect_webview_ids,
            // Stored at the API's precision, so that what is read back equals what is kept.
            expires_at: self.expires_at.map(state::truncate_to_micros),
            customer_key: self.customer_key.non_empty("customer_key")?,
            customer_id: self.customer_id,
            user_identity_id: user_identity(self.user_identity_id, self.user_identity_ids)?,
        })
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
    if params.customer_key != Given::Absent || params.customer_id.is_some() {
        return Err(ApiError::invalid_input(
            "customer_key, customer_id: get_or_create takes no customer (only \
             /client_sessions/create does)",
        ));
    }
    let request = params.request()?;
    let mut state = state::lock(&data);
    let index = state.get_or_create_session(&request)?;
    Ok(session_body(&state, index))
}

async fn create(
    caller: Caller,
    data: Data,
    Params(params): Params<CreateParams>,
) -> Result<HttpResponse, ApiError> {
    caller.require_api_key()?;
    let request = params.request()?;
    let mut state = state::lock(&data);
    let index = state.create_session(&request)?;
    Ok(session_body(&state, index))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
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
#[serde(default, deny_unknown_fields)]
struct ListParams {
    client_session_id: Given<String>,
    user_identifier_key: Given<String>,
    connect_webview_id: Given<String>,
    #[serde(deserialize_with = "lenient::flag")]
    without_user_identifier_key: bool,
    user_identity_id: Given<String>,
}

/// The sessions matching every filter given: `connect_webview_id` and `user_identity_id` given
/// `null` ask for the sessions without one.
async fn list(
    caller: Caller,
    data: Data,
    Params(p): Params<ListParams>,
) -> Result<HttpResponse, ApiError> {
    caller.require_api_key()?;
    let id = p.client_session_id.non_empty("client_session_id")?;
    let key = p.user_identifier_key.non_empty("user_identifier_key")?;
    let webview = p.connect_webview_id.nullable();
    let identity = p.user_identity_id.nullable();
    let state = state::lock(&data);
    let sessions: Vec<Value> = (state.sessions.iter())
        .filter(|s| id.as_ref().is_none_or(|id| *id == s.id))
        .filter(|s| key.is_none() || s.user_identifier_key == key)
        .filter(|s| match &webview {
            None => true,
            Some(None) => s.connect_webview_ids.is_empty(),
            Some(Some(id)) => s.connect_webview_ids.contains(id),
        })
        .filter(|s| identity.as_ref().is_none_or(|i| s.user_identity_id == *i))
        .filter(|s| !p.without_user_identifier_key || s.user_identifier_key.is_none())
        .map(|s| wire::session(s, &state))
        .collect();
    Ok(ok(json!({ "client_sessions": sessions })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct GrantParams {
    client_session_id: Option<String>,
    user_identifier_key: Option<String>,
    #[serde(deserialize_with = "lenient::strings")]
    connected_account_ids: Vec<String>,
    #[serde(deserialize_with = "lenient::strings")]
    connect_webview_ids: Vec<String>,
    user_identity_id: Option<String>,
    user_identity_ids: Option<Vec<String>>,
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
    let identity = user_identity(p.user_identity_id, p.user_identity_ids)?;
    let mut state = state::lock(&data);
    let index = state.find_session(
        p.client_session_id.as_deref(),
        p.user_identifier_key.as_deref(),
    )?;
    state.grant_access(
        index,
        &p.connected_account_ids,
        &p.connect_webview_ids,
        identity,
    )?;
    Ok(session_body(&state, index))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct IdParams {
    client_session_id: Option<String>,
}

impl IdParams {
    fn id(&self) -> Result<&str, ApiError> {
        params::required_uuid("client_session_id", self.client_session_id.as_deref())
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
