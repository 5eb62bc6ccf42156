//! The HTTP surface: one module per endpoint. The public listener serves the handshake, the
//! probes and its own OpenAPI description; the management listener serves the admin API.

pub(crate) mod admin;
mod client_session;
mod health;
mod metrics;
mod openapi;

use actix_web::middleware::from_fn;
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder, web};

use crate::error::ApiError;
use crate::ratelimit::limit_clients;
use crate::request_bounds::limit_time;

/// The handshake's route pattern: its latency has its own histogram, and its usual answer
/// its own pre-resolved counter (`metrics`).
pub(crate) const HANDSHAKE_ROUTE: &str = "/v1/client-session";

pub(crate) fn public(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(HANDSHAKE_ROUTE)
            // Inner first: the time limit also covers a wait for the client's turn.
            .wrap(from_fn(limit_clients))
            .wrap(from_fn(limit_time))
            .route(web::post().to(client_session::create))
            .route(web::delete().to(client_session::delete))
            .default_service(web::to(method_not_allowed)),
    )
    .service(get_only("/healthz", health::healthz))
    .service(get_only("/readyz", health::readyz).wrap(from_fn(limit_time)))
    .service(get_only("/openapi.json", openapi::describe))
    .default_service(web::to(not_found));
}

/// A resource answering GET with `handler`, and any other method with a JSON 405.
fn get_only<F, Args>(path: &str, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler))
        .default_service(web::to(method_not_allowed))
}

pub(crate) fn management(cfg: &mut web::ServiceConfig, with_admin: bool) {
    if with_admin {
        admin::configure(cfg);
    }
    cfg.route("/metrics", web::get().to(metrics::render))
        .default_service(web::to(not_found));
}

async fn not_found(_: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

async fn method_not_allowed(_: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}
