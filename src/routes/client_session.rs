//! `POST /v1/client-session`: the login handshake. A verified app login in; the user's Seam
//! client session token, its expiry and when to ask again out. Never the API key.
//! `DELETE /v1/client-session`: logout, revoking the user's Seam session everywhere.
//!
//! Response: `{"token", "expires_at", "refresh_after", "client_session_id",
//! "connected_account_ids"}` with `Cache-Control: no-store`.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web::Data};

use crate::accounts::AccountDirectory;
use crate::auth::Login;
use crate::cache::Outcome;
use crate::error::ApiError;
use crate::ratelimit::RateLimits;
use crate::request_log::{CacheReport, report_cache};
use crate::seam::SeamClient;
use crate::sessions::{IssuedSession, SessionBroker};
use crate::startup::registered;

/// A repeat handshake is the hot path: one cache lookup found the user (in the extractor),
/// and the account list and session are read from their entry without waiting on anything.
/// The components are borrowed (`startup::registered`), not extracted as `Data`.
pub(super) async fn create(login: Login, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let limits = registered::<RateLimits>(&request);
    let accounts = registered::<AccountDirectory>(&request);
    let sessions = registered::<SessionBroker>(&request);
    let seam = registered::<SeamClient>(&request);
    limits.check_user(login.user_id())?;
    let owned = accounts.accounts_for(&login, seam).await?;
    if let Some(refresh) = owned.refresh {
        refresh.spawn(accounts.clone(), seam.clone());
    }
    let result = sessions
        .session_for(&login.user, &owned.accounts, seam)
        .await;
    let (session, session_outcome, renewal) = match result {
        Ok(found) => found,
        Err(error) => {
            // The account list may be what Seam refused (an account deleted meanwhile):
            // look it up afresh next time rather than repeat the failure for a whole TTL.
            login.user.accounts.clear(&login.user.flight).await;
            return Err(error.into());
        }
    };
    if let Some(renewal) = renewal {
        renewal.spawn(sessions.clone(), seam.clone());
    }
    Ok(respond(&session, owned.outcome, session_outcome))
}

fn respond(
    session: &IssuedSession,
    accounts: Option<Outcome>,
    session_outcome: Outcome,
) -> HttpResponse {
    report_cache(CacheReport {
        accounts,
        session: session_outcome,
    });
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((CONTENT_TYPE, "application/json"))
        .body(session.body())
}

/// Seam keeps one session per user, so this signs the user out of Seam on every device.
pub(super) async fn delete(
    login: Login,
    sessions: Data<SessionBroker>,
    seam: Data<SeamClient>,
) -> Result<HttpResponse, ApiError> {
    let user = &login.user;
    sessions
        .revoke_user(&user.user_identifier_key, Some(user), &seam)
        .await?;
    Ok(HttpResponse::NoContent()
        .insert_header((CACHE_CONTROL, "no-store"))
        .finish())
}
