//! The HTTP surface: one module per endpoint. The public listener serves the handshake, the
//! probes and its own OpenAPI description; the management listener serves the admin API.

pub(crate) mod admin;
mod client_session;
mod health;
mod metrics;
mod openapi;

use actix_web::middleware::from_fn;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;
use crate::ratelimit::limit_clients;
use crate::request_bounds::limit_time;

pub(crate) fn public(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/client-session")
            // Inner first: the time limit also covers a wait for the client's turn.
            .wrap(from_fn(limit_clients))
            .wrap(from_fn(limit_time))
            .route(web::post().to(client_session::create))
            .route(web::delete().to(client_session::delete))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/healthz")
            .route(web::get().to(health::healthz))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/readyz")
            .wrap(from_fn(limit_time))
            .route(web::get().to(health::readyz))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/openapi.json")
            .route(web::get().to(openapi::describe))
            .default_service(web::to(method_not_allowed)),
    )
    .default_service(web::to(not_found));
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
