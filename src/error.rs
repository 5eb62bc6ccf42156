//! The one error type handlers return, and its JSON envelope
//! `{"error": {"code": "…", "message": "…"}}`.
//!
//! `code` is stable (clients branch on it); `message` is written for the client and never
//! carries an internal cause, a key, a token or a Seam body. The internal cause is the error's
//! `Display`, logged once by the request log line.

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{
    ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE,
};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::auth::AuthError;
use crate::middleware::ratelimit::{Limited, RATELIMIT, RATELIMIT_POLICY, Scope};
use crate::seam::{SeamError, WebhookRefused};
use crate::sessions::{
    BadAccountsClaim, HandshakeError, LoginRefused, LogoutError, NoSuchUser, RevokeError,
};

/// Suggested wait before retrying when Seam is unavailable and did not say how long.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);
/// Upper bound on a `Retry-After` passed on from Seam.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("login refused: {0}")]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Seam(#[from] SeamError),
    #[error("login refused: ended by a logout or revoke of its user")]
    LoginRevoked,
    /// A back-channel logout token that did not verify (or was sent before).
    #[error("logout token refused: {0}")]
    LogoutToken(AuthError),
    /// A Seam webhook delivery that did not verify, or an event that cannot be read.
    #[error("seam webhook refused: {0}")]
    Webhook(WebhookRefused),
    /// A back-channel logout ended the user's logins, but not their Seam session.
    #[error("logout incomplete: {0}")]
    LogoutIncomplete(SeamError),
    /// An admin call named a user no trusted issuer has.
    #[error("no such user: {0}")]
    NoSuchUser(NoSuchUser),
    #[error(transparent)]
    RateLimited(#[from] Limited),
    #[error("admin token missing or wrong")]
    AdminUnauthorized,
    #[error("no such client session")]
    SessionNotFound,
    #[error("request took longer than server.request_timeout_ms")]
    RequestTimeout,
    #[error("request body over server.max_body_bytes")]
    TooLarge,
    #[error("no such route")]
    NotFound,
    /// With the methods the path does take, for the `Allow` header (RFC 9110 §15.5.6).
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// The stable code and client-facing message.
    fn code_and_message(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::Auth(AuthError::Missing) => (
                "missing_token",
                "send the app's login token as `Authorization: Bearer <token>`",
            ),
            ApiError::Auth(AuthError::Malformed) => (
                "invalid_token",
                "the Authorization header must be `Bearer <token>`",
            ),
            ApiError::Auth(AuthError::TooLarge) => {
                ("invalid_token", "the login token is too large")
            }
            ApiError::Auth(AuthError::Expired) => ("invalid_token", "the login token has expired"),
            ApiError::Auth(AuthError::NotYetValid) => {
                ("invalid_token", "the login token is not valid yet")
            }
            ApiError::Auth(AuthError::Rejected(_) | AuthError::BadSignature(_)) => {
                ("invalid_token", "the login token could not be verified")
            }
            ApiError::Auth(AuthError::BadClaim(_)) => (
                "invalid_token",
                "the login token lacks a claim this service needs",
            ),
            ApiError::Auth(AuthError::Ambiguous(_)) => (
                "invalid_token",
                "send one login: one Authorization header or one login cookie",
            ),
            ApiError::Auth(AuthError::Csrf(_)) => (
                "csrf_rejected",
                "a cookie login needs the `X-CSRF: 1` header and an allowed Origin",
            ),
            ApiError::LoginRevoked => (
                "login_revoked",
                "this login was ended by a logout; sign in again",
            ),
            ApiError::LogoutToken(_) => (
                "invalid_logout_token",
                "the logout token is malformed, wrongly signed, expired, not addressed to this \
                 service, not a logout token, or was received before",
            ),
            ApiError::Webhook(WebhookRefused::Missing) => (
                "webhook_signature_missing",
                "a Seam webhook delivery needs the svix-id, svix-timestamp and svix-signature \
                 headers",
            ),
            ApiError::Webhook(WebhookRefused::Stale) => (
                "webhook_timestamp_stale",
                "svix-timestamp is not within five minutes of this service's clock",
            ),
            ApiError::Webhook(WebhookRefused::BadSignature) => (
                "webhook_signature_invalid",
                "no svix-signature entry matches: is seam.webhook_secret the signing secret of \
                 this endpoint?",
            ),
            ApiError::Webhook(WebhookRefused::Replayed) => {
                ("webhook_replayed", "this svix-id was received before")
            }
            ApiError::Webhook(WebhookRefused::BadEvent) => (
                "webhook_event_invalid",
                "the event is not JSON with an event_type, or lacks the id its type needs",
            ),
            ApiError::LogoutIncomplete(_) => (
                "logout_incomplete",
                "the user's logins are ended, but their Seam session could not be ended; \
                 send the logout token again",
            ),
            ApiError::RateLimited(Limited {
                scope: Scope::Client,
                ..
            }) => (
                "rate_limited",
                "too many refused logins from this address; wait for Retry-After seconds",
            ),
            ApiError::RateLimited(Limited {
                scope: Scope::User, ..
            }) => (
                "rate_limited",
                "too many sign-ins or logouts for this user; wait for Retry-After seconds",
            ),
            ApiError::AdminUnauthorized => (
                "admin_unauthorized",
                "send the admin token as `Authorization: Bearer <token>`",
            ),
            ApiError::SessionNotFound => ("client_session_not_found", "no such client session"),
            ApiError::NoSuchUser(NoSuchUser::IssuerRequired) => (
                "issuer_required",
                "several issuers are trusted: name the user's with `?issuer=<iss>`",
            ),
            ApiError::NoSuchUser(NoSuchUser::UnknownIssuer) => {
                ("unknown_issuer", "no trusted issuer has that `iss`")
            }
            ApiError::NoSuchUser(NoSuchUser::Shadowed) => (
                "invalid_user_id",
                "that user id would name another issuer's user",
            ),
            ApiError::Seam(SeamError::Timeout { .. }) => {
                ("seam_timeout", "Seam did not answer in time; try again")
            }
            ApiError::Seam(
                SeamError::Unreachable { .. }
                | SeamError::RateLimited { .. }
                | SeamError::CircuitOpen { .. },
            ) => (
                "seam_unavailable",
                "Seam is unavailable right now; try again later",
            ),
            ApiError::Seam(SeamError::Status { status, .. }) if *status == 503 => (
                "seam_unavailable",
                "Seam is unavailable right now; try again later",
            ),
            ApiError::Seam(SeamError::Unauthorized { .. }) => (
                "seam_credentials_rejected",
                "the service's Seam credentials were refused; the operator has been told",
            ),
            ApiError::Seam(_) => ("seam_error", "Seam could not issue a session; try again"),
            ApiError::RequestTimeout => ("request_timeout", "the request took too long; try again"),
            ApiError::TooLarge => ("too_large", "the request is too large"),
            ApiError::NotFound => ("not_found", "no such endpoint"),
            ApiError::MethodNotAllowed { .. } => (
                "method_not_allowed",
                "this endpoint does not take that method",
            ),
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::RateLimited(limited) => Some(whole_seconds(limited.retry_after)),
            ApiError::Seam(SeamError::CircuitOpen { retry_after }) => {
                Some(whole_seconds(*retry_after))
            }
            ApiError::Seam(SeamError::RateLimited { retry_after, .. }) => Some(
                retry_after
                    .unwrap_or(DEFAULT_RETRY_AFTER)
                    .clamp(Duration::from_secs(1), MAX_RETRY_AFTER),
            ),
            _ if self.status_code() == StatusCode::SERVICE_UNAVAILABLE => Some(DEFAULT_RETRY_AFTER),
            _ => None,
        }
    }
}

/// A handshake's failure answers as the same failure anywhere else: a bad accounts claim is a
/// bad login.
impl From<HandshakeError> for ApiError {
    fn from(error: HandshakeError) -> Self {
        match error {
            HandshakeError::Accounts(BadAccountsClaim(claim)) => {
                ApiError::Auth(AuthError::BadClaim(claim))
            }
            HandshakeError::Seam(error) => ApiError::Seam(error),
        }
    }
}

/// A verified login whose user this service will not serve answers as a refused login.
impl From<LoginRefused> for ApiError {
    fn from(refused: LoginRefused) -> Self {
        match refused {
            LoginRefused::Revoked => ApiError::LoginRevoked,
            LoginRefused::NoSuchUser(_) => ApiError::Auth(AuthError::Rejected(
                "user id begins with another issuer's key prefix".into(),
            )),
        }
    }
}

impl From<LogoutError> for ApiError {
    fn from(error: LogoutError) -> Self {
        match error {
            LogoutError::Replayed => {
                ApiError::LogoutToken(AuthError::Rejected("`jti` received before".into()))
            }
            LogoutError::Incomplete(error) => ApiError::LogoutIncomplete(error),
        }
    }
}

impl From<RevokeError> for ApiError {
    fn from(error: RevokeError) -> Self {
        match error {
            RevokeError::User(no_such) => ApiError::NoSuchUser(no_such),
            RevokeError::Seam(error) => ApiError::Seam(error),
        }
    }
}

/// Whole seconds, rounded up (at least 1): a client that waits that long gets through.
fn whole_seconds(wait: Duration) -> Duration {
    Duration::from_secs((wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1))
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Auth(AuthError::Csrf(_)) => StatusCode::FORBIDDEN,
            ApiError::Auth(_) | ApiError::LoginRevoked | ApiError::AdminUnauthorized => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::SessionNotFound => StatusCode::NOT_FOUND,
            // Back-Channel Logout §2.8: a refused or failed logout is 400, whatever the cause.
            ApiError::NoSuchUser(_) | ApiError::LogoutToken(_) | ApiError::LogoutIncomplete(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Webhook(_) => StatusCode::BAD_REQUEST,
            ApiError::Seam(SeamError::Timeout { .. }) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Seam(
                SeamError::Unreachable { .. }
                | SeamError::RateLimited { .. }
                | SeamError::CircuitOpen { .. }
                | SeamError::Unauthorized { .. },
            ) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::RequestTimeout => StatusCode::GATEWAY_TIMEOUT,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Seam(SeamError::Status { status: 503, .. }) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Seam(_) => StatusCode::BAD_GATEWAY,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (code, message) = self.code_and_message();
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((CACHE_CONTROL, "no-store"));
        // RFC 6750 §3: no error attribute when no credentials were sent at all.
        let challenge = match self {
            ApiError::Auth(AuthError::Csrf(_)) => None,
            ApiError::Auth(AuthError::Missing) => Some(r#"Bearer realm="seam-bff""#),
            ApiError::Auth(_) | ApiError::LoginRevoked => {
                Some(r#"Bearer realm="seam-bff", error="invalid_token""#)
            }
            ApiError::AdminUnauthorized => Some(r#"Bearer realm="seam-bff-admin""#),
            _ => None,
        };
        if let Some(challenge) = challenge {
            response.insert_header((WWW_AUTHENTICATE, challenge));
        }
        if let ApiError::MethodNotAllowed { allow } = self {
            response.insert_header((ALLOW, *allow));
        }
        if let Some(wait) = self.retry_after() {
            response.insert_header((RETRY_AFTER, wait.as_secs().to_string()));
            // draft-ietf-httpapi-ratelimit-headers: the bucket, and that it is empty until the
            // retry (sent only with a refusal: a "remaining" on every answer would cost a
            // bucket lookup on the hot path, and for the failed-login budget it would only
            // tell an attacker how many forgeries are left).
            if let ApiError::RateLimited(limited) = self {
                let policy = limited.scope.policy();
                let (burst, window) = (limited.burst, whole_seconds(limited.window).as_secs());
                let policy_value = format!("\"{policy}\";q={burst};w={window}");
                let now_value = format!("\"{policy}\";r=0;t={}", wait.as_secs());
                response.insert_header((RATELIMIT_POLICY, policy_value));
                response.insert_header((RATELIMIT, now_value));
            }
        }
        response.json(Envelope {
            error: Body { code, message },
        })
    }
}

/// Gives the errors that actix and its middleware answer by themselves (a refused CORS
/// preflight, an unreadable body) the same JSON envelope as ours, and no caching. (A request
/// head over actix-http's limit or a malformed request is answered before the app runs.)
pub(crate) async fn json_envelope(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let response = next.call(req).await?.map_into_boxed_body();
    let foreign = response
        .response()
        .error()
        .is_some_and(|e| e.as_error::<ApiError>().is_none());
    if !foreign {
        return Ok(response);
    }
    let status = response.status();
    let (code, message) = match response.response().error() {
        Some(e) if e.as_error::<actix_cors::CorsError>().is_some() => (
            "cors_rejected",
            "this origin, method or header is not allowed",
        ),
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => ("too_large", "the request is too large"),
        _ => ("bad_request", "the request could not be read"),
    };
    Ok(response.map_body(|head, _| {
        head.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        head.headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        let body = serde_json::to_string(&Envelope {
            error: Body { code, message },
        })
        .unwrap_or_default();
        BoxBody::new(body)
    }))
}
