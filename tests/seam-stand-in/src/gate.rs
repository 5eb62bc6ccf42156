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
    error::ApiError,
    faults,
    state::{self, State},
};

const SEAM_REQUEST_ID: HeaderName = HeaderName::from_static("seam-request-id");

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
    let caller = state::lock(shared).authenticate(bearer(&req), state::now());
    let Some(caller) = caller else {
        return Ok(req.into_response(ApiError::unauthorized().error_response()));
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

fn bearer(req: &ServiceRequest) -> Option<&str> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credential.trim())
}
