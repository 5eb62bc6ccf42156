//! `/connect_webviews/*`, and `/_fake/complete_connect_webview`, the test hook (named as in
//! Seam's own fake) that stands for the user signing in to their provider; the webview's page
//! (`url`), where a person can do the same with a button, is in `routes/webviews/page.rs`. The API key sees every webview, a
//! client session token only those it made.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};

mod page;

use super::{Data, ListParams, ok, page_body, post, read};
use crate::{
    error::ApiError,
    extract::{Params, lenient},
    params::{self, Given},
    state::{self, Caller, State, Webview, WebviewQuery, WebviewRequest},
    wire,
};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(post("/connect_webviews/create", create))
        .service(read("/connect_webviews/get", get))
        .service(read("/connect_webviews/list", list))
        .service(post("/_fake/complete_connect_webview", complete))
        .service(web::resource("/connect_webviews/view").route(web::get().to(page::view)));
}

/// Every parameter of Seam's spec: those Seam's JS SDK and Seam Components may send are all
/// kept (and echoed where the `connect_webview` schema has them), none refused.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct CreateParams {
    custom_metadata: Map<String, Value>,
    customer_key: Given<String>,
    #[serde(deserialize_with = "lenient::strings")]
    accepted_providers: Vec<String>,
    #[serde(deserialize_with = "lenient::strings")]
    accepted_capabilities: Vec<String>,
    #[serde(deserialize_with = "lenient::strings")]
    excluded_providers: Vec<String>,
    provider_category: Option<String>,
    custom_redirect_url: Option<String>,
    custom_redirect_failure_url: Option<String>,
    device_selection_mode: Option<String>,
    automatically_manage_new_devices: Option<bool>,
    wait_for_device_creation: Option<bool>,
}

/// The enums of Seam's spec for `/connect_webviews/create`.
const CAPABILITIES: &[&str] = &[
    "lock",
    "thermostat",
    "noise_sensor",
    "access_control",
    "camera",
];
const SELECTION_MODES: &[&str] = &["none", "single", "multiple"];
const PROVIDER_CATEGORIES: &[&str] = &[
    "stable",
    "consumer_smartlocks",
    "beta",
    "thermostats",
    "noise_sensors",
    "access_control_systems",
    "cameras",
    "connectors",
    "internal_beta",
];

impl CreateParams {
    fn request(self) -> Result<WebviewRequest, ApiError> {
        params::all_of(
            "accepted_capabilities",
            &self.accepted_capabilities,
            CAPABILITIES,
        )?;
        params::all_of(
            "device_selection_mode",
            &self.device_selection_mode,
            SELECTION_MODES,
        )?;
        params::all_of(
            "provider_category",
            &self.provider_category,
            PROVIDER_CATEGORIES,
        )?;
        Ok(WebviewRequest {
            custom_metadata: params::metadata_to_store("custom_metadata", self.custom_metadata)?,
            customer_key: self.customer_key.non_empty("customer_key")?,
            accepted_providers: self.accepted_providers,
            accepted_capabilities: self.accepted_capabilities,
            excluded_providers: self.excluded_providers,
            provider_category: self.provider_category,
            custom_redirect_url: self.custom_redirect_url,
            custom_redirect_failure_url: self.custom_redirect_failure_url,
            device_selection_mode: self.device_selection_mode,
            automatically_manage_new_devices: self.automatically_manage_new_devices,
            wait_for_device_creation: self.wait_for_device_creation,
        })
    }
}

/// Where the webview's page would be, on this server.
fn page_url(req: &HttpRequest, id: &str) -> String {
    let info = req.connection_info();
    format!(
        "{}://{}/connect_webviews/view?connect_webview_id={id}",
        info.scheme(),
        info.host()
    )
}

fn webview_body(req: &HttpRequest, state: &State, webview: &Webview) -> HttpResponse {
    let url = page_url(req, &webview.id);
    ok(json!({ "connect_webview": wire::webview(webview, &state.workspace_id, &url) }))
}

/// The webviews a caller may see: all for the API key, a session's own for its token.
fn visible(caller: &Caller, webview: &Webview) -> bool {
    (caller.session_id()).is_none_or(|id| webview.client_session_id.as_deref() == Some(id))
}

/// A webview, with the API key or a client session token. A customer's session makes its
/// customer's webviews, and no other customer's.
async fn create(
    caller: Caller,
    data: Data,
    req: HttpRequest,
    Params(p): Params<CreateParams>,
) -> Result<HttpResponse, ApiError> {
    let session = caller.session_id();
    let mut request = p.request()?;
    let mut state = state::lock(&data);
    if let Some(own) = session.and_then(|id| state.session_customer(id)) {
        if request.customer_key.as_ref().is_some_and(|key| *key != own) {
            return Err(ApiError::invalid_input(
                "customer_key: a customer's client session makes only its own customer's webviews",
            ));
        }
        request.customer_key = Some(own);
    }
    let index = state.create_webview(request, session);
    Ok(webview_body(&req, &state, &state.webviews[index]))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct IdParams {
    connect_webview_id: Option<String>,
}

impl IdParams {
    fn id(&self) -> Result<&str, ApiError> {
        params::required_uuid("connect_webview_id", self.connect_webview_id.as_deref())
    }
}

/// The hook's parameters: the webview, and a device to give the new account (Seam's fake
/// takes no such thing).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct CompleteParams {
    connect_webview_id: Option<String>,
    device_name: Option<String>,
}

fn not_found() -> ApiError {
    ApiError::not_found("connect_webview_not_found", "Connect webview not found")
}

async fn get(
    caller: Caller,
    data: Data,
    req: HttpRequest,
    Params(p): Params<IdParams>,
) -> Result<HttpResponse, ApiError> {
    let id = p.id()?;
    let state = state::lock(&data);
    let webview = (state.webview(id))
        .filter(|w| visible(&caller, w))
        .ok_or_else(not_found)?;
    Ok(webview_body(&req, &state, webview))
}

/// The caller's webviews matching every filter, paginated as `/connected_accounts/list` is.
async fn list(
    caller: Caller,
    data: Data,
    req: HttpRequest,
    Params(p): Params<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let query = WebviewQuery {
        filters: p.filters()?,
        made_by: caller.session_id().map(str::to_owned),
    };
    let mut state = state::lock(&data);
    let page = state.list_webviews(&query)?;
    let webview = |w: &Webview| wire::webview(w, &state.workspace_id, &page_url(&req, &w.id));
    Ok(page_body(&req, "connect_webviews", &page, webview))
}

/// The test hook: the user completed the webview. Needs no credential, like the fake's.
async fn complete(data: Data, Params(p): Params<CompleteParams>) -> Result<HttpResponse, ApiError> {
    let id = params::required_uuid("connect_webview_id", p.connect_webview_id.as_deref())?;
    let mut state = state::lock(&data);
    let account = state.complete_webview(id)?;
    if let Some(name) = &p.device_name {
        let _ = state.add_device(&account, name);
    }
    Ok(ok(json!({ "connected_account_id": account })))
}
