//! The Connect Webview's page (its `url`), as the user's browser opens it: one button signs in
//! to a pretend provider through the test hook.

use actix_web::HttpResponse;
use serde_json::json;

use super::{Data, IdParams, not_found};
use crate::{error::ApiError, extract::Params, state};

/// The webview's page, as the user's browser opens it: one button signs in to a pretend
/// provider (the hook, with a device), then the page closes itself when a frontend opened it as
/// a popup, or goes to `custom_redirect_url`.
pub(super) async fn view(
    data: Data,
    Params(p): Params<IdParams>,
) -> Result<HttpResponse, ApiError> {
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
