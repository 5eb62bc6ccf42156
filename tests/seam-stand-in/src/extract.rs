//! Extractors for handlers: who is calling (set by the gate) and the JSON parameters, where an
//! empty body means `{}` and anything unparsable is Seam's 400 `invalid_input`.

use std::{future::Future, pin::Pin};

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web::Bytes};
use serde::de::DeserializeOwned;

use crate::{error::ApiError, state::Caller};

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The gate authenticates every request before routing, so a missing caller means a
        // handler was mounted outside it: refuse rather than serve unauthenticated.
        let caller = req.extensions().get::<Caller>().cloned();
        std::future::ready(caller.ok_or_else(ApiError::unauthorized))
    }
}

impl Caller {
    /// Endpoints that only the API key may call answer a client session token with 403.
    pub(crate) fn require_api_key(&self) -> Result<(), ApiError> {
        match self {
            Caller::ApiKey => Ok(()),
            Caller::Session(_) => Err(ApiError::forbidden(
                "This endpoint cannot be called with a client session token",
            )),
        }
    }
}

/// The request body as `T`.
pub(crate) struct Params<T>(pub(crate) T);

pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid_input(format!("Invalid request body: {e}")))
}

impl<T: DeserializeOwned + 'static> FromRequest for Params<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = body
                .await
                .map_err(|e| ApiError::invalid_input(format!("Unreadable request body: {e}")))?;
            parse(&body).map(Params)
        })
    }
}
