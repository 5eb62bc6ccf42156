//! `GET /metrics` on the management listener: Prometheus text format.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpResponse, web::Data};

use crate::accounts::AccountDirectory;
use crate::metrics::Metrics;
use crate::sessions::SessionBroker;

pub(super) async fn render(
    metrics: Data<Metrics>,
    sessions: Data<SessionBroker>,
    accounts: Data<AccountDirectory>,
) -> HttpResponse {
    // Entry counts are read at scrape time rather than tracked on every insert.
    for (cache, entries) in [
        ("session", sessions.cached().await),
        ("accounts", accounts.cached().await),
    ] {
        metrics
            .cache_entries
            .with_label_values(&[cache])
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
    }
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/plain; version=0.0.4"))
        .body(metrics.render())
}
