//! The public HTTP surface: one module per endpoint.

mod client_session;
mod health;

use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/client-session")
            .route(web::post().to(client_session::create))
            .default_service(web::to(method_not_allowed)),
    )
    .service(web::resource("/healthz").route(web::get().to(health::healthz)))
    .service(web::resource("/readyz").route(web::get().to(health::readyz)))
    .default_service(web::to(not_found));
}

async fn not_found(_: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

async fn method_not_allowed(_: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}
