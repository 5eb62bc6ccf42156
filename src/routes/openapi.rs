//! `GET /openapi.json`: the OpenAPI 3.1 description of the public listener, compiled into the
//! binary so that what is served is always the committed file the contract tests check.

use actix_web::HttpResponse;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};

const DESCRIPTION: &str = include_str!("openapi.json");

pub(super) async fn describe() -> HttpResponse {
    HttpResponse::Ok()
        // The rule for every answer the service writes; a static file loses little by it.
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((CONTENT_TYPE, "application/json"))
        .body(DESCRIPTION)
}
