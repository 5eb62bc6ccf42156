//! The admin API, on the management listener only, and only when `admin.token` is set:
//! Seam's list, get and delete of client sessions, and revoking every session of a user.
//! Tokens are shown redacted: an operator needs the id, never the credential.

use actix_web::dev::Payload;
use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::future::{Ready, ready};
use time::OffsetDateTime;

use super::state::State;
use crate::error::ApiError;
use crate::seam::ClientSession;

/// Proof that the request carried the admin token.
pub(super) struct Admin;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let expected =
            (State::of(req).admin.as_ref()).expect("admin routes exist only with a token");
        let presented = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        // Constant time, so that response timing does not reveal how much of a guess matched.
        let matches = presented.is_some_and(|token| {
            aws_lc_rs::constant_time::verify_slices_are_equal(
                token.as_bytes(),
                expected.0.expose_secret().as_bytes(),
            )
            .is_ok()
        });
        ready(if matches {
            Ok(Admin)
        } else {
            Err(ApiError::AdminUnauthorized)
        })
    }
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/client-sessions", web::get().to(list))
        .route(
            "/admin/client-sessions/{client_session_id}",
            web::get().to(get),
        )
        .route(
            "/admin/client-sessions/{client_session_id}",
            web::delete().to(delete),
        )
        .route("/admin/users/{user_id}/revoke", web::post().to(revoke_user));
}

/// A session as an operator sees it.
#[derive(Serialize)]
struct SessionView<'a> {
    client_session_id: &'a str,
    user_identifier_key: Option<&'a str>,
    #[serde(with = "time::serde::rfc3339::option")]
    created_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    connected_account_ids: &'a [String],
    connect_webview_ids: &'a [String],
    /// The user identity the session is for (Seam's `user_identity_id`, or the first of its
    /// deprecated `user_identity_ids`).
    user_identity_id: Option<&'a str>,
    /// The token's type prefix and last four characters, enough to match a report.
    token_hint: String,
}

impl<'a> From<&'a ClientSession> for SessionView<'a> {
    fn from(session: &'a ClientSession) -> Self {
        Self {
            client_session_id: &session.client_session_id,
            user_identifier_key: session.user_identifier_key.as_deref(),
            created_at: session.created_at,
            expires_at: session.expires_at,
            connected_account_ids: &session.connected_account_ids,
            connect_webview_ids: &session.connect_webview_ids,
            user_identity_id: (session.user_identity_id.as_deref())
                .or(session.user_identity_ids.first().map(String::as_str)),
            token_hint: hint(session.token.expose_secret()),
        }
    }
}

fn hint(token: &str) -> String {
    const PREFIX: &str = "seam_cst";
    // Four characters of a short token would be too large a share of it.
    match token.strip_prefix(PREFIX) {
        Some(rest) if rest.len() >= 16 => format!("{PREFIX}…{}", &rest[rest.len() - 4..]),
        _ => "…".into(),
    }
}

fn no_store(mut response: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    response.insert_header((CACHE_CONTROL, "no-store"));
    response
}

#[derive(Deserialize)]
struct ListQuery {
    user_identifier_key: Option<String>,
}

async fn list(
    _: Admin,
    query: web::Query<ListQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let sessions = (State::of(&request).seam)
        .list_sessions(query.user_identifier_key.as_deref())
        .await?;
    let views: Vec<SessionView> = sessions.iter().map(SessionView::from).collect();
    Ok(no_store(HttpResponse::Ok()).json(json!({ "client_sessions": views })))
}

async fn get(
    _: Admin,
    id: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let session = (State::of(&request).seam)
        .get_session(&id)
        .await?
        .ok_or(ApiError::SessionNotFound)?;
    Ok(no_store(HttpResponse::Ok()).json(json!({ "client_session": SessionView::from(&session) })))
}

async fn delete(
    _: Admin,
    id: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let state = State::of(&request);
    let seam = &state.seam;
    let session = seam
        .get_session(&id)
        .await?
        .ok_or(ApiError::SessionNotFound)?;
    state.handshake.end_session(&session, seam).await?;
    Ok(no_store(HttpResponse::NoContent()).finish())
}

#[derive(Deserialize)]
struct RevokeQuery {
    /// The user's issuer (`iss`): needed when several are trusted, as the same user id at two
    /// issuers is two users.
    issuer: Option<String>,
}

async fn revoke_user(
    _: Admin,
    user_id: web::Path<String>,
    query: web::Query<RevokeQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let state = State::of(&request);
    let issuer = query.issuer.as_deref();
    let (key, revoked) = (state.admission)
        .revoke_user(&user_id, issuer, &state.seam)
        .await?;
    Ok(no_store(HttpResponse::Ok()).json(json!({
        "user_identifier_key": key,
        "revoked": revoked,
    })))
}

#[cfg(test)]
mod tests {
    use super::hint;

    #[test]
    fn hints_show_only_the_prefix_and_last_four() {
        assert_eq!(
            hint("seam_cst1891oqCmE_6dBwV8PJ2Ffoe9dWYVyMfVHq"),
            "seam_cst…fVHq"
        );
        assert_eq!(hint("seam_cst12"), "…");
        assert_eq!(hint("not-a-token"), "…");
    }
}
