//! The committed OpenAPI description as the tests' oracle: an HTTP client whose every response
//! from the public listener must be one the description documents, so every black-box test
//! is also a contract test.
//!
//! The description must itself be a valid OpenAPI 3.1 document. A response is documented when
//! its (method, path, status) is listed (paths match exactly: none is templated; an unknown
//! path must be `NotFound`, a method a path does not list `MethodNotAllowed`), its required
//! headers are present, the headers it has match their schemas, and its body is what the
//! `content` says: JSON that validates against the schema (with format assertions, so
//! `date-time` is checked), or nothing when no `content` is documented.

use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;
use std::sync::LazyLock;
use std::time::Duration;

use actix_web::dev::{Payload, Service, forward_ready};
use actix_web::http::Method;
use actix_web::http::header::{CONTENT_TYPE, HeaderMap};
use awc::error::SendRequestError;
use awc::{ClientResponse, ConnectRequest, ConnectResponse};
use boon::{Compiler, Draft, SchemaIndex, Schemas};
use futures_util::future::LocalBoxFuture;
use serde_json::Value;

/// The description as committed (and served: the service embeds the same file).
pub const DESCRIPTION: &str = include_str!("../../src/routes/openapi.json");

/// Where the validator files the description, so that its `$ref`s resolve within it.
const BASE: &str = "urn:seam-bff:openapi";

/// The OpenAPI Initiative's JSON Schema of OpenAPI 3.1 documents, and its `$id`.
const OAS_3_1: &str = include_str!("../fixtures/openapi-3.1-schema.json");
const OAS_3_1_ID: &str = "https://spec.openapis.org/oas/3.1/schema/2022-10-07";

/// The HTTP methods a path item may list.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

static CONTRACT: LazyLock<Contract> = LazyLock::new(Contract::load);

struct Contract {
    document: Value,
    /// Every `schema` in the document, compiled, by its JSON pointer.
    schemas: Schemas,
    compiled: HashMap<String, SchemaIndex>,
}

/// An HTTP client that panics on any response from `public` (an `http://host:port` base) that
/// the description does not document. Other hosts (the stand-in, the management listener) are
/// not checked.
pub fn checked_client(public: &str) -> awc::Client {
    let authority = public.trim_start_matches("http://").to_owned();
    awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .wrap(Checked { authority })
        .finish()
}

/// As `checked_client`, without awc's cap of 100 connections open at once: every request of
/// a larger burst is in flight together, none waits for another's connection.
pub fn checked_client_without_connection_cap(public: &str) -> awc::Client {
    let authority = public.trim_start_matches("http://").to_owned();
    awc::Client::builder()
        .connector(awc::Connector::new().limit(0))
        .timeout(Duration::from_secs(30))
        .wrap(Checked { authority })
        .finish()
}

/// Every (method, path, status) the description lists.
pub fn documented() -> BTreeSet<(String, String, u16)> {
    let paths = CONTRACT.document["paths"]
        .as_object()
        .expect("paths is an object");
    let mut listed = BTreeSet::new();
    for (path, item) in paths {
        for method in METHODS {
            let Some(responses) = item[method]["responses"].as_object() else {
                continue;
            };
            for status in responses.keys() {
                let status = status.parse().expect("statuses are numbers, not ranges");
                listed.insert((method.to_uppercase(), path.clone(), status));
            }
        }
    }
    listed
}

impl Contract {
    fn load() -> Contract {
        let document: Value = serde_json::from_str(DESCRIPTION).expect("the description is JSON");
        let mut compiler = Compiler::new();
        compiler.set_default_draft(Draft::V2020_12);
        compiler.enable_format_assertions();
        compiler
            .add_resource(BASE, document.clone())
            .expect("the description loads");
        compiler
            .add_resource(
                OAS_3_1_ID,
                serde_json::from_str(OAS_3_1).expect("the OpenAPI schema is JSON"),
            )
            .expect("the OpenAPI schema loads");
        let mut schemas = Schemas::new();
        // A misspelt keyword would otherwise just be ignored, and the contract with it.
        let openapi = compiler
            .compile(OAS_3_1_ID, &mut schemas)
            .expect("the OpenAPI schema compiles");
        if let Err(e) = schemas.validate(&document, openapi) {
            panic!("the description is not an OpenAPI 3.1 document: {e:#}");
        }
        let mut pointers = Vec::new();
        schema_pointers(&document, String::new(), &mut pointers);
        let compiled = pointers
            .into_iter()
            .map(|pointer| {
                let index = compiler
                    .compile(&format!("{BASE}#{pointer}"), &mut schemas)
                    .unwrap_or_else(|e| panic!("schema at {pointer} does not compile: {e:#}"));
                (pointer, index)
            })
            .collect();
        Contract {
            document,
            schemas,
            compiled,
        }
    }

    /// Why this response is not what the description documents, if it is not.
    fn check(
        &self,
        method: &Method,
        path: &str,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), String> {
        let response = self.resolve(&self.response_for(method, path, status)?);
        self.check_headers(&response, headers)?;
        self.check_body(&response, headers, body)
    }

    /// Where the description documents this answer.
    fn response_for(&self, method: &Method, path: &str, status: u16) -> Result<String, String> {
        let item = pointer("/paths", path);
        let operation = pointer(&item, &method.as_str().to_lowercase());
        let (shared, expected) = if self.document.pointer(&item).is_none() {
            ("NotFound", 404)
        } else if self.document.pointer(&operation).is_none() {
            ("MethodNotAllowed", 405)
        } else {
            let response = pointer(&pointer(&operation, "responses"), &status.to_string());
            return match self.document.pointer(&response) {
                Some(_) => Ok(response),
                None => Err("is not a documented status of this operation".into()),
            };
        };
        if status == expected {
            Ok(format!("/components/responses/{shared}"))
        } else {
            Err(format!(
                "is for an undocumented path or method, which must be {expected}"
            ))
        }
    }

    /// The pointer itself, or where its object's `$ref` leads.
    fn resolve(&self, at: &str) -> String {
        match self.document.pointer(at).and_then(|v| v["$ref"].as_str()) {
            Some(target) => {
                let target = target.strip_prefix('#').expect("references are local");
                self.resolve(target)
            }
            None => at.to_owned(),
        }
    }

    fn check_headers(&self, response: &str, headers: &HeaderMap) -> Result<(), String> {
        let Some(documented) = self.document.pointer(&pointer(response, "headers")) else {
            return Ok(());
        };
        for name in documented.as_object().expect("headers is an object").keys() {
            let header = self.resolve(&pointer(&pointer(response, "headers"), name));
            let spec = self.document.pointer(&header).expect("resolved");
            let Some(value) = headers.get(name.as_str()) else {
                if spec["required"] == true {
                    return Err(format!("lacks the required header {name}"));
                }
                continue;
            };
            let value = value
                .to_str()
                .map_err(|_| format!("has a non-text {name}"))?;
            // A header is text; the schema says when it is meant as a number.
            let value = match spec["schema"]["type"].as_str() {
                Some("integer") => value.parse::<i64>().map_or(value.into(), Value::from),
                _ => Value::from(value),
            };
            self.validate(&pointer(&header, "schema"), &value)
                .map_err(|e| format!("has a header {name} the description does not allow: {e}"))?;
        }
        Ok(())
    }

    fn check_body(&self, response: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
        let Some(content) = self.document.pointer(&pointer(response, "content")) else {
            if body.is_empty() {
                return Ok(());
            }
            return Err("has a body where none is documented".into());
        };
        let media_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .unwrap_or_default()
            .trim();
        if content.get(media_type).is_none() {
            return Err(format!(
                "has Content-Type {media_type:?}, which is not documented"
            ));
        }
        let body: Value = serde_json::from_slice(body)
            .map_err(|e| format!("has a body that is not JSON: {e}"))?;
        let schema = pointer(
            &pointer(&pointer(response, "content"), media_type),
            "schema",
        );
        self.validate(&schema, &body)
            .map_err(|e| format!("has a body the description does not allow: {e}"))
    }

    fn validate(&self, schema: &str, instance: &Value) -> Result<(), String> {
        let index = self.compiled[schema];
        self.schemas
            .validate(instance, index)
            .map_err(|e| format!("{e:#}"))
    }
}

/// `parent` + `/` + the escaped `key` (RFC 6901).
fn pointer(parent: &str, key: &str) -> String {
    format!("{parent}/{}", key.replace('~', "~0").replace('/', "~1"))
}

/// The pointers of every `schema` object in `value`.
fn schema_pointers(value: &Value, at: String, found: &mut Vec<String>) {
    let Some(object) = value.as_object() else {
        return;
    };
    for (key, child) in object {
        let child_at = pointer(&at, key);
        if key == "schema" && child.is_object() {
            found.push(child_at.clone());
        }
        schema_pointers(child, child_at, found);
    }
}

/// The client middleware that reads each public response whole, checks it, and hands the
/// test the same response.
struct Checked {
    authority: String,
}

impl<S> awc::middleware::Transform<S, ConnectRequest> for Checked
where
    S: Service<ConnectRequest, Response = ConnectResponse, Error = SendRequestError> + 'static,
{
    type Transform = CheckedService<S>;

    fn new_transform(self, service: S) -> Self::Transform {
        CheckedService {
            authority: self.authority,
            inner: Rc::new(service),
        }
    }
}

struct CheckedService<S> {
    authority: String,
    inner: Rc<S>,
}

impl<S> Service<ConnectRequest> for CheckedService<S>
where
    S: Service<ConnectRequest, Response = ConnectResponse, Error = SendRequestError> + 'static,
{
    type Response = ConnectResponse;
    type Error = SendRequestError;
    type Future = LocalBoxFuture<'static, Result<ConnectResponse, SendRequestError>>;

    forward_ready!(inner);

    fn call(&self, request: ConnectRequest) -> Self::Future {
        let checked = match &request {
            ConnectRequest::Client(head, ..) => {
                let head = head.as_ref();
                (head.uri.authority().map(|a| a.as_str()) == Some(self.authority.as_str()))
                    .then(|| (head.method.clone(), head.uri.path().to_owned()))
            }
            ConnectRequest::Tunnel(..) => None,
        };
        let inner = self.inner.clone();
        Box::pin(async move {
            match (checked, inner.call(request).await?) {
                (Some((method, path)), ConnectResponse::Client(response)) => {
                    check_whole(&method, &path, response)
                        .await
                        .map(ConnectResponse::Client)
                }
                (_, response) => Ok(response),
            }
        })
    }
}

/// Reads the response whole, panics unless the description documents it, and returns it
/// with the same body for the test to read.
async fn check_whole(
    method: &Method,
    path: &str,
    mut response: ClientResponse,
) -> Result<ClientResponse, SendRequestError> {
    let body = response
        .body()
        .await
        .map_err(|e| SendRequestError::Body(Box::new(e)))?;
    let status = response.status().as_u16();
    if let Err(problem) = CONTRACT.check(method, path, status, response.headers(), &body) {
        panic!(
            "{method} {path} answered {status}, which {problem}\n(body: {})",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(response.map_body(|_, _| Payload::from(body)))
}
