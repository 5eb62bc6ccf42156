//! What happens to every request before its handler, in the real API's order as seen from a
//! client: count it, wait the configured latency, serve an injected fault if one is due,
//! authenticate; and stamp every answer, fault or not, with a `seam-request-id`.

use std::sync::Mutex;

use actix_web::{
    Error, HttpMessage, HttpResponse, ResponseError,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::header::{AUTHORIZATION, HeaderName, HeaderValue},
    middleware::Next,
    web,
};
use uuid::Uuid;

use crate::{
    faults,
    state::{self, State},
};

const SEAM_REQUEST_ID: HeaderName = HeaderName::from_static("seam-request-id");
const CLIENT_SESSION_TOKEN: HeaderName = HeaderName::from_static("client-session-token");

pub(crate) async fn gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let mut res = answer(req, next).await?;
    let request_id = Uuid::new_v4().to_string();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(SEAM_REQUEST_ID, value);
    }
    Ok(res)
}

async fn answer(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(shared) = req.app_data::<web::Data<Mutex<State>>>().cloned() else {
        return Ok(req.into_response(HttpResponse::InternalServerError().finish()));
    };
    let path = req.path().to_owned();
    let (latency, calls_changed) = {
        let mut state = state::lock(&shared);
        state.record_call(&path);
        state.in_flight += 1;
        state.max_in_flight = state.max_in_flight.max(state.in_flight);
        (state.latency, state.calls_changed.clone())
    };
    calls_changed.notify_waiters();
    let answered = respond(req, next, &shared, &path, latency).await;
    state::lock(&shared).in_flight -= 1;
    answered
}

async fn respond(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    shared: &Mutex<State>,
    path: &str,
    latency: std::time::Duration,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if !latency.is_zero() {
        actix_web::rt::time::sleep(latency).await;
    }
    let fault = state::lock(shared).faults.take(path);
    if let Some(fault) = fault {
        let res = faults::respond(&fault).await;
        return Ok(req.into_response(res));
    }
    // The test hooks take no credential, as in Seam's own fake, nor does a webview's page.
    if path.starts_with("/_fake/") || path == "/connect_webviews/view" {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let caller = state::lock(shared).authenticate(credential(&req), state::now());
    let caller = match caller {
        Ok(caller) => caller,
        Err(error) => return Ok(req.into_response(error.error_response())),
    };
    req.extensions_mut().insert(caller);
    // Handlers and extractors turn their errors into responses themselves, so an `Err` here
    // would come from actix itself; it is left to actix to answer.
    let res = next.call(req).await?.map_into_boxed_body();
    let hold = state::lock(shared).faults.take_hold(path);
    if let Some(hold) = hold {
        hold.keep().await;
    }
    Ok(res)
}

/// The bearer credential, or the `client-session-token` header the JS SDK also sends.
fn credential(req: &ServiceRequest) -> Option<&str> {
    let bearer = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, credential)| credential.trim());
    bearer.or_else(|| {
        req.headers()
            .get(CLIENT_SESSION_TOKEN)
            .and_then(|value| value.to_str().ok())
    })
}
