//! The HTTP surface: one module per endpoint, plus the login extractor and the application
//! state they share (`State`). The public listener serves the handshake, the probes and its own
//! OpenAPI description; the management listener serves the metrics and the admin API. Handlers
//! orchestrate: limits, then the component that does the work, then the answer. Nothing below
//! imports this module.

mod admin;
mod backchannel_logout;
mod client_session;
mod login;
mod metrics;
mod openapi;
mod probes;
mod seam_webhook;
mod state;

use actix_web::middleware::from_fn;
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder, web};

use crate::error::ApiError;
use crate::middleware::request_bounds::limit_time;
pub(crate) use state::{AdminToken, Services, State};

/// The handshake's route pattern: `startup` tells the metrics, which time it and count its
/// usual answer on their own.
pub(crate) const HANDSHAKE_ROUTE: &str = "/v1/client-session";

/// The public routes; with `backchannel_logout`, the identity provider's logout route too, and
/// with `seam_webhook`, Seam's.
pub(crate) fn public(cfg: &mut web::ServiceConfig, backchannel_logout: bool, seam_webhook: bool) {
    if seam_webhook {
        cfg.service(
            web::resource(seam_webhook::ROUTE)
                .app_data(web::PayloadConfig::new(seam_webhook::MAX_EVENT_BYTES))
                .wrap(from_fn(limit_time))
                .route(web::post().to(seam_webhook::receive))
                .default_service(web::to(method_not_allowed("POST"))),
        );
    }
    if backchannel_logout {
        cfg.service(
            web::resource(backchannel_logout::ROUTE)
                .wrap(from_fn(limit_time))
                .route(web::post().to(backchannel_logout::receive))
                .default_service(web::to(method_not_allowed("POST"))),
        );
    }
    cfg.service(
        web::resource(HANDSHAKE_ROUTE)
            .wrap(from_fn(limit_time))
            .route(web::post().to(client_session::create))
            .route(web::delete().to(client_session::delete))
            .default_service(web::to(method_not_allowed("POST, DELETE"))),
    )
    .service(get_only("/healthz", probes::healthz))
    .service(get_only("/readyz", probes::readyz).wrap(from_fn(limit_time)))
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
        .default_service(web::to(method_not_allowed("GET")))
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

/// A JSON 405 naming the methods the path takes.
fn method_not_allowed(
    allow: &'static str,
) -> impl Fn() -> std::future::Ready<Result<HttpResponse, ApiError>> + Clone {
    move || std::future::ready(Err(ApiError::MethodNotAllowed { allow }))
}
