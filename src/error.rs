//! The one error type handlers return, the table of its answers (status, code, message) and
//! its JSON envelope `{"error": {"code": "…", "message": "…"}}`; the modules' own errors
//! convert into it here.
//!
//! `code` is stable (clients branch on it); `message` is written for the client and never
//! carries an internal cause, a key, a token or a Seam body. The internal cause is the error's
//! `Display`, logged once by the request log line.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{ALLOW, CACHE_CONTROL, RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::auth::AuthError;
use crate::handshake::{BadAccountsClaim, HandshakeError};
use crate::limits::{Limited, RATELIMIT, RATELIMIT_POLICY, Scope};
use crate::login::{LoginRefused, LogoutError, NoSuchUser, RevokeError};
use crate::seam::{SeamError, WebhookRefused};

/// Suggested wait before retrying when Seam is unavailable and did not say how long.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);
/// Suggested wait when the revocation store is full: records expire by the second, but only
/// those written a whole login lifetime ago.
const REVOCATIONS_FULL_RETRY: Duration = Duration::from_secs(60);
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
    /// A revocation could not be recorded: the store is full of records still needed. The
    /// flag: for a back-channel logout, which answers 400 whatever the cause (§2.8).
    #[error("the revocation store is full")]
    RevocationsFull { backchannel: bool },
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
    /// The one table of answers: each error's status, stable code and client-facing message.
    fn answer(&self) -> (StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        match self {
            ApiError::Auth(AuthError::Missing) => (
                S::UNAUTHORIZED,
                "missing_token",
                "send the app's login token as `Authorization: Bearer <token>`",
            ),
            ApiError::Auth(AuthError::Malformed) => (
                S::UNAUTHORIZED,
                "invalid_token",
                "the Authorization header must be `Bearer <token>`",
            ),
            ApiError::Auth(AuthError::TooLarge) => (
                S::UNAUTHORIZED,
                "invalid_token",
                "the login token is too large",
            ),
            ApiError::Auth(AuthError::Expired) => (
                S::UNAUTHORIZED,
                "invalid_token",
                "the login token has expired",
            ),
            ApiError::Auth(AuthError::NotYetValid) => (
                S::UNAUTHORIZED,
                "invalid_token",
                "the login token is not valid yet",
            ),
            ApiError::Auth(AuthError::Rejected(_) | AuthError::BadSignature(_)) => (
                S::UNAUTHORIZED,
                "invalid_token",
                "the login token could not be verified",
            ),
            ApiError::Auth(AuthError::BadClaim(_)) => (
                S::UNAUTHORIZED,
                "invalid_token",
                "the login token lacks a claim this service needs",
            ),
            ApiError::Auth(AuthError::Ambiguous(_)) => (
                S::UNAUTHORIZED,
                "invalid_token",
                "send one login: one Authorization header or one login cookie",
            ),
            ApiError::Auth(AuthError::Csrf(_)) => (
                S::FORBIDDEN,
                "csrf_rejected",
                "a cookie login needs the `X-CSRF: 1` header and an allowed Origin",
            ),
            ApiError::LoginRevoked => (
                S::UNAUTHORIZED,
                "login_revoked",
                "this login was ended by a logout; sign in again",
            ),
            // Back-Channel Logout §2.8: a refused or failed logout is 400, whatever the cause.
            ApiError::LogoutToken(_) => (
                S::BAD_REQUEST,
                "invalid_logout_token",
                "the logout token is malformed, wrongly signed, expired, not addressed to this \
                 service, not a logout token, or was received before",
            ),
            ApiError::LogoutIncomplete(_) => (
                S::BAD_REQUEST,
                "logout_incomplete",
                "the user's logins are ended, but their Seam session could not be ended; \
                 send the logout token again",
            ),
            ApiError::RevocationsFull { backchannel } => (
                match backchannel {
                    true => S::BAD_REQUEST,
                    false => S::SERVICE_UNAVAILABLE,
                },
                "revocations_full",
                "logouts cannot be recorded right now; try again later",
            ),
            ApiError::Webhook(WebhookRefused::Missing) => (
                S::BAD_REQUEST,
                "webhook_signature_missing",
                "a Seam webhook delivery needs the svix-id, svix-timestamp and svix-signature \
                 headers",
            ),
            ApiError::Webhook(WebhookRefused::Stale) => (
                S::BAD_REQUEST,
                "webhook_timestamp_stale",
                "svix-timestamp is not within five minutes of this service's clock",
            ),
            ApiError::Webhook(WebhookRefused::BadSignature) => (
                S::BAD_REQUEST,
                "webhook_signature_invalid",
                "no svix-signature entry matches: is seam.webhook_secret the signing secret of \
                 this endpoint?",
            ),
            ApiError::Webhook(WebhookRefused::Replayed) => (
                S::BAD_REQUEST,
                "webhook_replayed",
                "this svix-id was received before",
            ),
            ApiError::Webhook(WebhookRefused::BadEvent) => (
                S::BAD_REQUEST,
                "webhook_event_invalid",
                "the event is not JSON with an event_type, or lacks the id its type needs",
            ),
            ApiError::Webhook(WebhookRefused::WrongWorkspace { .. }) => (
                S::BAD_REQUEST,
                "webhook_wrong_workspace",
                "the event is for another Seam workspace than this service's: is this endpoint \
                 registered in the right workspace?",
            ),
            ApiError::RateLimited(Limited {
                scope: Scope::Client,
                ..
            }) => (
                S::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many refused logins from this address; wait for Retry-After seconds",
            ),
            ApiError::RateLimited(Limited {
                scope: Scope::User, ..
            }) => (
                S::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many sign-ins or logouts for this user; wait for Retry-After seconds",
            ),
            ApiError::AdminUnauthorized => (
                S::UNAUTHORIZED,
                "admin_unauthorized",
                "send the admin token as `Authorization: Bearer <token>`",
            ),
            ApiError::SessionNotFound => (
                S::NOT_FOUND,
                "client_session_not_found",
                "no such client session",
            ),
            ApiError::NoSuchUser(NoSuchUser::IssuerRequired) => (
                S::BAD_REQUEST,
                "issuer_required",
                "several issuers are trusted: name the user's with `?issuer=<iss>`",
            ),
            ApiError::NoSuchUser(NoSuchUser::UnknownIssuer) => (
                S::BAD_REQUEST,
                "unknown_issuer",
                "no trusted issuer has that `iss`",
            ),
            ApiError::NoSuchUser(NoSuchUser::Shadowed) => (
                S::BAD_REQUEST,
                "invalid_user_id",
                "that user id would name another issuer's user",
            ),
            ApiError::Seam(SeamError::Timeout { .. }) => (
                S::GATEWAY_TIMEOUT,
                "seam_timeout",
                "Seam did not answer in time; try again",
            ),
            ApiError::Seam(
                SeamError::Unreachable { .. }
                | SeamError::RateLimited { .. }
                | SeamError::CircuitOpen { .. }
                | SeamError::Status { status: 503, .. },
            ) => (
                S::SERVICE_UNAVAILABLE,
                "seam_unavailable",
                "Seam is unavailable right now; try again later",
            ),
            ApiError::Seam(SeamError::Unauthorized { .. }) => (
                S::SERVICE_UNAVAILABLE,
                "seam_credentials_rejected",
                "the service's Seam credentials were refused; the operator has been told",
            ),
            ApiError::Seam(SeamError::WorkspaceMismatch { .. }) => (
                S::SERVICE_UNAVAILABLE,
                "seam_workspace_mismatch",
                "the service's Seam credentials are for another workspace than configured; the \
                 operator has been told",
            ),
            ApiError::Seam(_) => (
                S::BAD_GATEWAY,
                "seam_error",
                "Seam could not issue a session; try again",
            ),
            ApiError::RequestTimeout => (
                S::GATEWAY_TIMEOUT,
                "request_timeout",
                "the request took too long; try again",
            ),
            ApiError::TooLarge => (
                S::PAYLOAD_TOO_LARGE,
                "too_large",
                "the request is too large",
            ),
            ApiError::NotFound => (S::NOT_FOUND, "not_found", "no such endpoint"),
            ApiError::MethodNotAllowed { .. } => (
                S::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take that method",
            ),
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::RateLimited(limited) => Some(whole_seconds(limited.retry_after)),
            ApiError::RevocationsFull { backchannel: false } => Some(REVOCATIONS_FULL_RETRY),
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
            LoginRefused::RevocationsFull => ApiError::RevocationsFull { backchannel: false },
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
            LogoutError::Full(_) => ApiError::RevocationsFull { backchannel: true },
        }
    }
}

impl From<RevokeError> for ApiError {
    fn from(error: RevokeError) -> Self {
        match error {
            RevokeError::User(no_such) => ApiError::NoSuchUser(no_such),
            RevokeError::Seam(error) => ApiError::Seam(error),
            RevokeError::Full(_) => ApiError::RevocationsFull { backchannel: false },
        }
    }
}

/// Whole seconds, rounded up (at least 1): a client that waits that long gets through.
fn whole_seconds(wait: Duration) -> Duration {
    Duration::from_secs((wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1))
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.answer().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code, message) = self.answer();
        let mut response = HttpResponse::build(status);
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

/// The JSON envelope of an error, for answers made outside the handlers
/// (`middleware::json_envelope`).
pub(crate) fn envelope(code: &str, message: &str) -> String {
    serde_json::to_string(&Envelope {
        error: Body { code, message },
    })
    .unwrap_or_default()
}
