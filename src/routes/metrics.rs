//! `GET /metrics` on the management listener: Prometheus text format.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpResponse, web::Data};

use crate::metrics::Metrics;
use crate::sessions::{Sessions, USERS_CACHE};

pub(super) async fn render(metrics: Data<Metrics>, sessions: Data<Sessions>) -> HttpResponse {
    // The entry count is read at scrape time rather than tracked on every insert.
    metrics
        .cache_entries
        .with_label_values(&[USERS_CACHE])
        .set(i64::try_from(sessions.cached_users()).unwrap_or(i64::MAX));
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/plain; version=0.0.4"))
        .body(metrics.render())
}
