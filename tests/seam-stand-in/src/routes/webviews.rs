//! `/connect_webviews/*`; `/_fake/complete_connect_webview`, the test hook (named as in Seam's
//! own fake) that stands for the user signing in to their provider; and the webview's page
//! (`url`), where a person can do the same with a button. The API key sees every webview, a
//! client session token only those it made.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Data, ListParams, ok, page_body, post, read, uuid};
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
        .service(web::resource("/connect_webviews/view").route(web::get().to(view)));
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CreateParams {
    custom_metadata: Map<String, Value>,
    customer_key: Given<String>,
    #[serde(deserialize_with = "lenient::strings")]
    accepted_providers: Vec<String>,
    custom_redirect_url: Option<String>,
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
    let mut request = WebviewRequest {
        custom_metadata: params::metadata_to_store("custom_metadata", p.custom_metadata)?,
        customer_key: p.customer_key.non_empty("customer_key")?,
        accepted_providers: p.accepted_providers,
        custom_redirect_url: p.custom_redirect_url,
    };
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
#[serde(default)]
struct IdParams {
    connect_webview_id: Option<String>,
    /// The hook's own: a device to give the new account (Seam's fake ignores it).
    device_name: Option<String>,
}

impl IdParams {
    fn id(&self) -> Result<&str, ApiError> {
        let id = (self.connect_webview_id.as_deref())
            .ok_or_else(|| ApiError::invalid_input("connect_webview_id is required"))?;
        uuid("connect_webview_id", id)?;
        Ok(id)
    }
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
async fn complete(data: Data, Params(p): Params<IdParams>) -> Result<HttpResponse, ApiError> {
    let id = p.id()?;
    let mut state = state::lock(&data);
    let account = state.complete_webview(id)?;
    if let Some(name) = &p.device_name {
        let _ = state.add_device(&account, name);
    }
    Ok(ok(json!({ "connected_account_id": account })))
}

/// The webview's page, as the user's browser opens it: one button signs in to a pretend
/// provider (the hook, with a device), then the page closes itself when a frontend opened it as
/// a popup, or goes to `custom_redirect_url`.
async fn view(data: Data, Params(p): Params<IdParams>) -> Result<HttpResponse, ApiError> {
    let id = p.id()?;
    let redirect = {
        let state = state::lock(&data);
        let webview = state.webview(id).ok_or_else(not_found)?;
        webview.request.custom_redirect_url.clone()
    };
    let settings = json!({ "connect_webview_id": id, "redirect": redirect }).to_string();
    let page = VIEW_PAGE.replace("SETTINGS", &settings.replace('<', "\\u003c"));
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page))
}

const VIEW_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Connect an account (stand-in)</title></head>
<body style="font: 16px/1.5 system-ui, sans-serif; max-width: 30rem; margin: 2rem auto">
<h1>Connect your August account</h1>
<p>The stand-in Seam's Connect Webview: at Seam, you would sign in to your provider here.</p>
<button id="connect" type="button">Sign in to August (pretend)</button>
<p id="status" role="status"></p>
<script>
const settings = SETTINGS;
document.getElementById("connect").addEventListener("click", async () => {
  const response = await fetch("/_fake/complete_connect_webview", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ connect_webview_id: settings.connect_webview_id, device_name: "New lock" }),
  });
  document.getElementById("status").textContent = response.ok ? "Connected." : `Failed (${response.status})`;
  if (!response.ok) return;
  if (window.opener) window.close();
  else if (settings.redirect) location.assign(settings.redirect);
});
</script>
</body></html>
"#;
