//! `GET /metrics` on the management listener: Prometheus text format.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse};

use super::state::State;
use crate::handshake::USERS_CACHE;

pub(super) async fn render(request: HttpRequest) -> HttpResponse {
    let state = State::of(&request);
    let metrics = &state.metrics;
    // The entry count is read at scrape time rather than tracked on every insert.
    metrics
        .cache_entries
        .with_label_values(&[USERS_CACHE])
        .set(i64::try_from(state.handshake.cached_users()).unwrap_or(i64::MAX));
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/plain; version=0.0.4"))
        .body(metrics.render())
}
