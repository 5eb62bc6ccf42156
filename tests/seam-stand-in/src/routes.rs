//! The HTTP surface: Seam's paths (all `POST`), each handler turning its parameters into a call on
//! `State` and the result into Seam's JSON. Client session endpoints are in `routes/sessions.rs`.

mod sessions;

use std::sync::Mutex;

use actix_web::{
    FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder, ResponseError,
    http::StatusCode, web,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::{
    error::ApiError,
    extract::Params,
    state::{self, AccountQuery, Caller, State},
    wire,
};

type Data = web::Data<Mutex<State>>;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(post("/workspaces/get", workspaces_get))
        .service(post("/connected_accounts/list", connected_accounts_list))
        .service(post("/connected_accounts/get", connected_accounts_get))
        .service(post("/devices/list", devices_list));
    sessions::configure(cfg);
}

/// Every Seam endpoint takes `POST`; another method is answered in Seam's error shape.
fn post<F, Args>(path: &str, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path)
        .route(web::post().to(handler))
        .default_service(web::to(method_not_allowed))
}

async fn method_not_allowed() -> HttpResponse {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Use POST",
    )
    .error_response()
}

pub(crate) async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::not_found("not_found", format!("No endpoint at {}", req.path())).error_response()
}

/// Seam marks every successful body with `"ok": true`.
fn ok(mut body: Value) -> HttpResponse {
    if let Some(object) = body.as_object_mut() {
        object.insert("ok".to_owned(), Value::Bool(true));
    }
    HttpResponse::Ok().json(body)
}

async fn workspaces_get(caller: Caller, data: Data) -> Result<HttpResponse, ApiError> {
    caller.require_api_key()?;
    let state = state::lock(&data);
    Ok(ok(json!({
        "workspace": {
            "workspace_id": state.workspace_id,
            "name": "Stand-in Workspace",
            "company_name": "Stand-in Co",
            "is_sandbox": true,
            "connect_partner_name": null,
        }
    })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListAccountsParams {
    user_identifier_key: Option<String>,
    custom_metadata_has: Option<Map<String, Value>>,
    limit: Option<u64>,
    page_cursor: Option<String>,
}

async fn connected_accounts_list(
    caller: Caller,
    data: Data,
    req: HttpRequest,
    Params(params): Params<ListAccountsParams>,
) -> Result<HttpResponse, ApiError> {
    caller.require_api_key()?;
    let query = AccountQuery {
        user_identifier_key: params.user_identifier_key,
        custom_metadata_has: params.custom_metadata_has.unwrap_or_default(),
        limit: params.limit,
        page_cursor: params.page_cursor,
    };
    let page = state::lock(&data).list_accounts(&query)?;
    let next_page_url = page.next_page_cursor.as_deref().map(|cursor| {
        let info = req.connection_info();
        format!(
            "{}://{}/connected_accounts/list?page_cursor={cursor}",
            info.scheme(),
            info.host()
        )
    });
    Ok(ok(json!({
        "connected_accounts": page.accounts.iter().map(wire::account).collect::<Vec<_>>(),
        "pagination": wire::pagination(page.next_page_cursor.as_deref(), next_page_url),
    })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GetAccountParams {
    connected_account_id: Option<String>,
}

async fn connected_accounts_get(
    caller: Caller,
    data: Data,
    Params(params): Params<GetAccountParams>,
) -> Result<HttpResponse, ApiError> {
    let Some(id) = params.connected_account_id else {
        return Err(ApiError::invalid_input("connected_account_id is required"));
    };
    let state = state::lock(&data);
    // A session token sees only its own accounts; others look absent rather than forbidden,
    // so that a token cannot probe which ids exist.
    if let Caller::Session(session_id) = &caller {
        let holds = state
            .session_index(session_id)
            .is_some_and(|i| state.sessions[i].connected_account_ids.contains(&id));
        if !holds {
            return Err(ApiError::account_not_found());
        }
    }
    let account = state.account(&id).ok_or_else(ApiError::account_not_found)?;
    Ok(ok(json!({ "connected_account": wire::account(account) })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListDevicesParams {
    connected_account_id: Option<String>,
    connected_account_ids: Option<Vec<String>>,
    user_identifier_key: Option<String>,
}

async fn devices_list(
    caller: Caller,
    data: Data,
    Params(params): Params<ListDevicesParams>,
) -> Result<HttpResponse, ApiError> {
    let state = state::lock(&data);
    let accounts_of_session = |index: Option<usize>| -> Vec<String> {
        index.map_or_else(Vec::new, |i| {
            state.sessions[i].connected_account_ids.clone()
        })
    };
    // A session token is confined to its own accounts; the filters then narrow further.
    let scope = match &caller {
        Caller::ApiKey => None,
        Caller::Session(id) => Some(accounts_of_session(state.session_index(id))),
    };
    let of_key = params
        .user_identifier_key
        .as_deref()
        .map(|key| accounts_of_session(state.current_session_index(key)));
    let devices: Vec<Value> = state
        .devices
        .iter()
        .filter(|d| scope.as_ref().is_none_or(|ids| ids.contains(&d.account_id)))
        .filter(|d| {
            of_key
                .as_ref()
                .is_none_or(|ids| ids.contains(&d.account_id))
        })
        .filter(|d| {
            params
                .connected_account_id
                .as_ref()
                .is_none_or(|id| *id == d.account_id)
        })
        .filter(|d| {
            params
                .connected_account_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&d.account_id))
        })
        .map(|d| wire::device(d, &state.workspace_id))
        .collect();
    Ok(ok(json!({
        "devices": devices,
        "pagination": wire::pagination(None, None),
    })))
}
