//! `GET /metrics` on the management listener: Prometheus text format.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpResponse, web::Data};

use crate::metrics::Metrics;
use crate::users::{self, Users};

pub(super) async fn render(metrics: Data<Metrics>, users: Data<Users>) -> HttpResponse {
    // The entry count is read at scrape time rather than tracked on every insert.
    metrics
        .cache_entries
        .with_label_values(&[users::CACHE_NAME])
        .set(i64::try_from(users.len()).unwrap_or(i64::MAX));
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/plain; version=0.0.4"))
        .body(metrics.render())
}
