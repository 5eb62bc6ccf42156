//! `POST /v1/backchannel-logout` (with `auth.backchannel_logout`): OpenID Connect Back-Channel
//! Logout 1.0. The identity provider posts a `logout_token` (form-encoded) when a user signs
//! out there; once it verifies, their logins end here too, as a logout would end them.
//!
//! Success is `200` with `Cache-Control: no-store` and no body (§2.8); anything wrong with the
//! request or the token is `400` with the JSON error envelope, and changes nothing.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::state::State;
use crate::auth::AuthError;
use crate::error::ApiError;

/// The route's path.
pub(super) const ROUTE: &str = "/v1/backchannel-logout";

#[derive(Deserialize)]
pub(super) struct LogoutRequest {
    logout_token: String,
}

/// Inspected, then checked within the client's budget of failed signature checks, as a
/// login is (`limits`), then applied (`login`).
pub(super) async fn receive(
    form: web::Form<LogoutRequest>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let state = State::of(&request);
    let verifier = &state.verifier;
    let inspected = verifier
        .inspect_logout(form.into_inner().logout_token)
        .map_err(ApiError::LogoutToken)?;
    let turn = state.limits.signature_turn(&request);
    turn.room().await?;
    let verified = verifier.verify_logout(inspected, &state.idp).await;
    let logout = match verified {
        Ok(logout) => logout,
        Err(error) => {
            if matches!(error, AuthError::BadSignature(_)) {
                turn.failed().await;
            }
            return Err(ApiError::LogoutToken(error));
        }
    };
    (state.admission)
        .backchannel_logout(logout, &state.seam)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .finish())
}
