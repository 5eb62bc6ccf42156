//! `POST /v1/seam-webhook` (with `seam.webhook_secret`): Seam's events, delivered through Svix.
//! A delivery whose signature, timestamp or id does not pass (`seam::WebhookVerifier`) is
//! `400` with the JSON error envelope and changes nothing, as does an event for another
//! workspace than the service's, once that is known (`webhook_wrong_workspace`; its id is
//! forgotten, so that a retry after the operator's fix is taken). A verified event is applied
//! to the caches (`events`) and answered `200`, event types the service ignores too,
//! so that Svix does not retry them. When applying needs Seam and Seam fails, the answer is
//! Seam's error (`503`) and the delivery id is forgotten, so that Svix's retry is taken; so it
//! is when `server.request_timeout_ms` cuts the delivery off. In fleet mode each delivery id
//! is also claimed for the whole fleet (`fleet::Claim`): a delivery applied on one replica is
//! `webhook_replayed` on every other.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use super::state::State;
use crate::error::ApiError;
use crate::fleet::Claim;
use crate::seam::{Delivery, SeamEvent, WebhookRefused, WebhookVerifier};

/// The route's path.
pub(super) const ROUTE: &str = "/v1/seam-webhook";

/// The largest event read, also for a body sent without a declared length (Seam's events are
/// a few hundred bytes; `server.max_body_bytes` bounds a declared one first).
pub(super) const MAX_EVENT_BYTES: usize = 64 * 1024;

pub(super) async fn receive(body: Bytes, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let state = State::of(&request);
    let (verifier, events) =
        (state.events.as_ref()).expect("the route exists only with webhooks on");
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    let delivery = Delivery {
        id: header("svix-id"),
        timestamp: header("svix-timestamp"),
        signature: header("svix-signature"),
    };
    let id = verifier
        .verify(&delivery, &body, state.clock.unix_now())
        .map_err(ApiError::Webhook)?;
    // Forgotten (here and in the fleet) unless applied: a retry of a delivery refused for its
    // workspace, failed by Seam or cut off by `server.request_timeout_ms` is taken.
    let mut claim = Claim::new(|| verifier.forget(id));
    if let Some(fleet) = &state.fleet {
        let answer = fleet
            .claim_delivery(id, WebhookVerifier::REMEMBERED_FOR)
            .await;
        (claim.in_fleet(answer)).map_err(|_| ApiError::Webhook(WebhookRefused::Replayed))?;
    }
    let parsed = SeamEvent::parse(&body).map_err(ApiError::Webhook)?;
    // An event without a workspace is taken: the signature already ties it to this endpoint.
    if let Some(event) = parsed.workspace_id.as_deref()
        && let Some(ours) = state.seam.other_workspace(event)
    {
        let event = event.to_owned();
        return Err(ApiError::Webhook(WebhookRefused::WrongWorkspace {
            event,
            ours,
        }));
    }
    let event_type = parsed.event_type;
    let cleared = events.seam_event(parsed.event, &state.seam).await?;
    claim.keep();
    tracing::info!(request_id = %crate::telemetry::CurrentRequest, event_type, users_cleared = cleared, "seam event");
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(json!({ "event_type": event_type, "users_cleared": cleared })))
}
