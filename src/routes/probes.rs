//! The probes: `GET /healthz` (liveness: the process serves) and `GET /readyz` (readiness: it
//! can issue tokens, i.e. every issuer has keys and Seam accepts the API key; when not, why,
//! and the failed call's class: `dns`, `connect`, `tls`, `timeout`, `status` or `body`). In fleet mode
//! `/readyz` also reports Redis, without failing on it: a replica cut off from Redis still
//! issues tokens from its own state and Seam.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use super::state::State;
use crate::http_failure::{Cause, NotReady};

/// Liveness: answers while the process serves; never calls Seam.
pub(super) async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(json!({"status": "ok"}))
}

pub(super) async fn readyz(request: HttpRequest) -> HttpResponse {
    let state = State::of(&request);
    let cluster = match &state.fleet {
        Some(fleet) => Some(fleet.health().await),
        None => None,
    };
    let ready = match state.verifier.ready(&state.idp).await {
        // The breaker knows Seam is down without asking it.
        Ok(()) if state.seam.circuit_open() => Err(NotReady::new("seam_circuit_open", None)),
        Ok(()) => state.key_check.check(&state.seam).await,
        Err(not_ready) => Err(not_ready),
    };
    let mut body = match ready {
        Ok(None) => json!({"status": "ready"}),
        Ok(Some(warning)) => json!({"status": "ready", "warnings": [warning]}),
        Err(NotReady { reason, cause }) => json!({
            "status": "not_ready",
            "reason": reason,
            "cause": cause.map(Cause::as_str),
        }),
    };
    if let Some(cluster) = cluster {
        body["cluster"] = json!(cluster);
    }
    let mut response = match ready {
        Ok(_) => HttpResponse::Ok(),
        Err(_) => HttpResponse::ServiceUnavailable(),
    };
    response
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(body)
}
