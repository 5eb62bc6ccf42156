//! The HTTP surface: Seam's paths with the methods Seam's OpenAPI gives each (every one takes
//! `POST`; reads also `GET`, deletes `DELETE`, and so on), each handler turning its parameters
//! into a call on `State` and the result into Seam's JSON. Client session endpoints are in
//! `routes/sessions.rs`, Connect Webviews in `routes/webviews.rs`.

mod sessions;
mod webviews;

use std::sync::Mutex;

use actix_web::{
    FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder, ResponseError,
    http::{Method, StatusCode},
    web,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::{
    error::ApiError,
    extract::{Params, lenient},
    state::{self, AccountQuery, Caller, State},
    wire,
};

type Data = web::Data<Mutex<State>>;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(read("/workspaces/get", workspaces_get))
        .service(read("/connected_accounts/list", connected_accounts_list))
        .service(read("/connected_accounts/get", connected_accounts_get))
        .service(read("/devices/list", devices_list));
    sessions::configure(cfg);
    webviews::configure(cfg);
}

/// An endpoint that takes `methods`; another method is answered in Seam's error shape.
fn endpoint<F, Args>(path: &str, methods: &'static [Method], handler: F) -> Resource
where
    F: Handler<Args> + Clone,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let mut resource = web::resource(path);
    for method in methods {
        resource = resource.route(web::method(method.clone()).to(handler.clone()));
    }
    resource.default_service(web::to(move || async move {
        let names: Vec<&str> = methods.iter().map(Method::as_str).collect();
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("only {} accepted", names.join(",")),
        )
        .error_response()
    }))
}

/// A read: `GET` with the parameters in the query, or `POST`.
fn read<F, Args>(path: &str, handler: F) -> Resource
where
    F: Handler<Args> + Clone,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    endpoint(path, &[Method::GET, Method::POST], handler)
}

/// A write that only `POST` reaches.
fn post<F, Args>(path: &str, handler: F) -> Resource
where
    F: Handler<Args> + Clone,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    endpoint(path, &[Method::POST], handler)
}

/// Seam's ids are UUIDs where its spec says so; anything else is `invalid_input`.
pub(crate) fn uuid(name: &str, id: &str) -> Result<(), ApiError> {
    uuid::Uuid::parse_str(id)
        .map(drop)
        .map_err(|_| ApiError::invalid_input(format!("{name} must be a UUID")))
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

/// The workspace, for the API key or a client session token (both may ask, as at Seam).
async fn workspaces_get(_: Caller, data: Data) -> HttpResponse {
    let state = state::lock(&data);
    ok(json!({ "workspace": wire::workspace(&state) }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListAccountsParams {
    user_identifier_key: Option<String>,
    custom_metadata_has: Option<Map<String, Value>>,
    #[serde(deserialize_with = "lenient::count")]
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
    let (page, workspace_id) = {
        let mut state = state::lock(&data);
        (state.list_accounts(&query)?, state.workspace_id.clone())
    };
    let next_page_url = page.next_page_cursor.as_deref().map(|cursor| {
        let info = req.connection_info();
        format!(
            "{}://{}/connected_accounts/list?page_cursor={cursor}",
            info.scheme(),
            info.host()
        )
    });
    Ok(ok(json!({
        "connected_accounts": page
            .accounts
            .iter()
            .map(|a| wire::account(a, &workspace_id))
            .collect::<Vec<_>>(),
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
    uuid("connected_account_id", &id)?;
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
    Ok(ok(
        json!({ "connected_account": wire::account(account, &state.workspace_id) }),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListDevicesParams {
    connected_account_id: Option<String>,
    #[serde(deserialize_with = "lenient::strings")]
    connected_account_ids: Vec<String>,
    connect_webview_id: Option<String>,
    #[serde(deserialize_with = "lenient::strings")]
    device_ids: Vec<String>,
    user_identifier_key: Option<String>,
    #[serde(deserialize_with = "lenient::count")]
    limit: Option<u64>,
}

/// The devices the caller may see, narrowed by the filters. A client session token sees those
/// of the accounts its session holds; `user_identifier_key` means the accounts filed under the
/// key (the one model of ownership `/connected_accounts/list` uses too).
async fn devices_list(
    caller: Caller,
    data: Data,
    Params(params): Params<ListDevicesParams>,
) -> Result<HttpResponse, ApiError> {
    for id in params
        .connected_account_id
        .iter()
        .chain(&params.connected_account_ids)
    {
        uuid("connected_account_id", id)?;
    }
    let state = state::lock(&data);
    let scope = match &caller {
        Caller::ApiKey => None,
        Caller::Session(id) => Some(state.session_index(id).map_or_else(Vec::new, |i| {
            state.sessions[i].connected_account_ids.clone()
        })),
    };
    let owned = (params.user_identifier_key.as_deref()).map(|key| state.accounts_of(key));
    let of_webview = match params.connect_webview_id.as_deref() {
        Some(id) => {
            uuid("connect_webview_id", id)?;
            Some(
                state
                    .webview(id)
                    .and_then(|w| w.connected_account_id.clone()),
            )
        }
        None => None,
    };
    let in_list = |list: &[String], id: &String| list.is_empty() || list.contains(id);
    let limit = params.limit.map_or(usize::MAX, |n| n as usize);
    let devices: Vec<Value> = state
        .devices
        .iter()
        .filter(|d| scope.as_ref().is_none_or(|ids| ids.contains(&d.account_id)))
        .filter(|d| owned.as_ref().is_none_or(|ids| ids.contains(&d.account_id)))
        .filter(|d| {
            of_webview
                .as_ref()
                .is_none_or(|id| id.as_ref() == Some(&d.account_id))
        })
        .filter(|d| (params.connected_account_id.as_ref()).is_none_or(|id| *id == d.account_id))
        .filter(|d| in_list(&params.connected_account_ids, &d.account_id))
        .filter(|d| in_list(&params.device_ids, &d.id))
        .take(limit)
        .map(|d| wire::device(d, &state.workspace_id))
        .collect();
    Ok(ok(json!({
        "devices": devices,
        "pagination": wire::pagination(None, None),
    })))
}
