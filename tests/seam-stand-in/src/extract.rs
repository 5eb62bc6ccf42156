//! Extractors for handlers: who is calling (set by the gate) and the parameters, read as Seam
//! reads them: from the JSON body for `POST`, `PUT` and `PATCH` (an empty body means `{}`), and
//! from the query string for `GET` and `DELETE`, in the Seam SDKs' encoding
//! (`@seamapi/url-search-params-serializer`: an array as the key repeated, `foo=` for an empty
//! one, nested objects as dot paths, everything a string). Anything unparsable is Seam's 400
//! `invalid_input`.

use std::{future::Future, pin::Pin};

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, http::Method, web::Bytes};
use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use serde_json::{Map, Value};

use crate::{error::ApiError, params, state::Caller};

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
    /// The session whose token made the request, if a token did.
    pub(crate) fn session_id(&self) -> Option<&str> {
        match self {
            Caller::ApiKey => None,
            Caller::Session(id) => Some(id),
        }
    }

    /// Endpoints that only the API key may call answer a client session token as Seam does.
    pub(crate) fn require_api_key(&self) -> Result<(), ApiError> {
        match self {
            Caller::ApiKey => Ok(()),
            Caller::Session(_) => Err(ApiError::client_session_token_used_for_api_key()),
        }
    }
}

/// The request's parameters as `T`.
pub(crate) struct Params<T>(pub(crate) T);

pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| params::refusal(&e, "Invalid request body"))
}

/// A query string as the JSON object it encodes; every leaf a string (or a list of them, for a
/// repeated key), typed later by the handler's parameters (`lenient`), except `key=`: Seam's
/// SDKs write `null` so (and leave an empty string out), so it reads as `null`.
pub(crate) fn query_object(query: &str) -> Value {
    let mut object = Map::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let mut path = key.split('.').peekable();
        let mut at = &mut object;
        while let Some(part) = path.next() {
            if path.peek().is_none() {
                let value = if value.is_empty() {
                    Value::Null
                } else {
                    Value::String(value.into_owned())
                };
                match at.get_mut(part) {
                    Some(Value::Array(items)) => items.push(value),
                    Some(existing) => *existing = Value::Array(vec![existing.take(), value]),
                    None => {
                        at.insert(part.to_owned(), value);
                    }
                }
                break;
            }
            let next = at
                .entry(part.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !next.is_object() {
                *next = Value::Object(Map::new());
            }
            let Value::Object(next) = next else { break };
            at = next;
        }
    }
    Value::Object(object)
}

impl<T: DeserializeOwned + 'static> FromRequest for Params<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if matches!(*req.method(), Method::GET | Method::DELETE) {
            let parsed = serde_json::from_value(query_object(req.query_string()))
                .map(Params)
                .map_err(|e| params::refusal(&e, "Invalid query"));
            return Box::pin(std::future::ready(parsed));
        }
        let body = Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = body
                .await
                .map_err(|e| ApiError::invalid_input(format!("Unreadable request body: {e}")))?;
            parse(&body).map(Params)
        })
    }
}

/// Deserializers that take a parameter from a JSON body or from a query string's text.
pub(crate) mod lenient {
    use super::{Deserialize, Deserializer, Value};

    /// A list: a JSON array, one string (a one-element list), or `""` (the empty list).
    pub(crate) fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        Ok(match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) if s.is_empty() => Vec::new(),
            Some(Value::String(s)) => vec![s],
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s),
                    other => Err(serde::de::Error::custom(format!(
                        "expected a string, got {other}"
                    ))),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(serde::de::Error::custom(format!(
                    "expected a list of strings, got {other}"
                )));
            }
        })
    }

    /// A flag: a JSON boolean or `"true"` / `"false"`.
    pub(crate) fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(b),
            Some(Value::String(s)) if s == "true" => Ok(true),
            Some(Value::String(s)) if s == "false" => Ok(false),
            Some(other) => Err(serde::de::Error::custom(format!(
                "expected a boolean, got {other}"
            ))),
        }
    }

    /// A count: a JSON number or its text.
    pub(crate) fn count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .filter(|n| *n >= 0.0)
                .map(|n| Some(n as u64))
                .ok_or_else(|| serde::de::Error::custom("expected a positive number")),
            Some(Value::String(s)) => s
                .parse::<f64>()
                .ok()
                .filter(|n| *n >= 0.0)
                .map(|n| Some(n as u64))
                .ok_or_else(|| serde::de::Error::custom(format!("expected a number, got {s}"))),
            Some(other) => Err(serde::de::Error::custom(format!(
                "expected a number, got {other}"
            ))),
        }
    }
}
