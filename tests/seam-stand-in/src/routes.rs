//! The HTTP surface: Seam's paths with the methods Seam's OpenAPI gives each (every one takes
//! `POST`; reads also `GET`, deletes `DELETE`, and so on), each handler turning its parameters
//! into a call on `State` and the result into Seam's JSON. Connected accounts are in
//! `routes/accounts.rs`, devices in `routes/devices.rs`, client sessions in
//! `routes/sessions.rs`, Connect Webviews in `routes/webviews.rs`. Every parameter struct
//! denies unknown fields: a parameter the stand-in does not model is refused by name.

mod accounts;
mod devices;
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
    params::{self, Given},
    state::{self, Caller, ListFilters, Page, PageQuery, State},
    wire,
};

type Data = web::Data<Mutex<State>>;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(read("/workspaces/get", workspaces_get));
    accounts::configure(cfg);
    devices::configure(cfg);
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

/// `/workspaces/get` takes no parameter.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct NoParams {}

/// The workspace, for the API key or a client session token (both may ask, as at Seam).
async fn workspaces_get(_: Caller, data: Data, _: Params<NoParams>) -> HttpResponse {
    let state = state::lock(&data);
    ok(json!({ "workspace": wire::workspace(&state) }))
}

/// The parameters the paginated lists share. Nothing else: `search` (and `/connected_accounts/
/// list`'s `space_id`) is not modelled, so it is refused like any parameter not here.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ListParams {
    custom_metadata_has: Option<Map<String, Value>>,
    user_identifier_key: Given<String>,
    customer_key: Given<String>,
    #[serde(deserialize_with = "lenient::count")]
    limit: Option<u64>,
    page_cursor: Option<String>,
}

impl ListParams {
    fn filters(self) -> Result<ListFilters, ApiError> {
        Ok(ListFilters {
            custom_metadata_has: params::metadata_filter(
                "custom_metadata_has",
                self.custom_metadata_has,
            )?,
            user_identifier_key: self.user_identifier_key.non_empty("user_identifier_key")?,
            customer_key: self.customer_key.non_empty("customer_key")?,
            page: PageQuery {
                limit: self.limit,
                page_cursor: self.page_cursor,
            },
        })
    }
}

/// A page of a paginated list under `key`, with Seam's `pagination`; `next_page_url` is this
/// route with the next cursor.
fn page_body<T>(
    req: &HttpRequest,
    key: &str,
    page: &Page<T>,
    item: impl Fn(&T) -> Value,
) -> HttpResponse {
    let items: Vec<Value> = page.items.iter().map(item).collect();
    let cursor = page.next_page_cursor.as_deref();
    let next_page_url = cursor.map(|cursor| {
        let info = req.connection_info();
        format!(
            "{}://{}{}?page_cursor={cursor}",
            info.scheme(),
            info.host(),
            req.path()
        )
    });
    ok(json!({ key: items, "pagination": wire::pagination(cursor, next_page_url) }))
}
