//! A stand-in identity provider: serves a JWKS whose keys, `Cache-Control` and failures the
//! test controls, and an OpenID discovery document likewise, counts fetches, and counts any other request (which must never happen: a
//! token's `jku` or `x5u` header points here).

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use crate::helpers::fixture;

#[derive(Default)]
struct State {
    keys: Value,
    cache_control: Option<String>,
    failing: bool,
    fetches: usize,
    other_requests: usize,
    /// The discovery document, when one is served.
    document: Option<Value>,
    document_failing: bool,
    document_fetches: usize,
}

pub struct Idp {
    url: String,
    state: Arc<Mutex<State>>,
}

/// The private half of a test key pair, for signing, with the `kid` it is published under.
pub struct SigningKey {
    pub kid: String,
    pub algorithm: Algorithm,
    pub key: EncodingKey,
    pub public: Jwk,
}

impl SigningKey {
    pub fn rsa(kid: &str) -> Self {
        Self::load(kid, Algorithm::RS256, "rsa_private.pem")
    }
    pub fn ec(kid: &str) -> Self {
        Self::load(kid, Algorithm::ES256, "ec_private.pem")
    }

    fn load(kid: &str, algorithm: Algorithm, file: &str) -> Self {
        let pem = std::fs::read(fixture(file)).expect("fixture");
        let key = match algorithm {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
            _ => EncodingKey::from_ec_pem(&pem),
        }
        .expect("private key");
        let mut public = Jwk::from_encoding_key(&key, algorithm).expect("public JWK");
        public.common.key_id = Some(kid.to_owned());
        Self {
            kid: kid.to_owned(),
            algorithm,
            key,
            public,
        }
    }

    /// Signs `claims` with this key, naming its `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).expect("signs")
    }
}

pub fn key_set(keys: &[&Jwk]) -> Value {
    serde_json::to_value(JwkSet {
        keys: keys.iter().map(|k| (*k).clone()).collect(),
    })
    .expect("JWKS serialises")
}

impl Idp {
    pub async fn start(keys: Value) -> Idp {
        let state = Arc::new(Mutex::new(State {
            keys,
            ..State::default()
        }));
        let shared = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::from(shared.clone()))
                .route("/jwks.json", web::get().to(jwks))
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(discovery_document),
                )
                .default_service(web::to(other))
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .expect("binds loopback");
        let url = format!("http://{}", server.addrs()[0]);
        actix_web::rt::spawn(server.run());
        Idp { url, state }
    }

    /// The server's own URL, `http://127.0.0.1:PORT`: the issuer of a discovery test.
    pub fn url(&self) -> &str {
        &self.url
    }
    /// Serves `document` at `/.well-known/openid-configuration`.
    pub fn set_document(&self, document: Value) {
        self.lock().document = Some(document);
    }
    pub fn set_document_failing(&self, failing: bool) {
        self.lock().document_failing = failing;
    }
    pub fn document_fetches(&self) -> usize {
        self.lock().document_fetches
    }
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks.json", self.url)
    }
    /// A URL on this server that the service must never fetch.
    pub fn trap_url(&self) -> String {
        format!("{}/trap", self.url)
    }
    pub fn fetches(&self) -> usize {
        self.lock().fetches
    }
    pub fn other_requests(&self) -> usize {
        self.lock().other_requests
    }
    pub fn set_keys(&self, keys: Value) {
        self.lock().keys = keys;
    }
    pub fn set_cache_control(&self, value: &str) {
        self.lock().cache_control = Some(value.to_owned());
    }
    pub fn set_failing(&self, failing: bool) {
        self.lock().failing = failing;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("idp state")
    }
}

async fn jwks(state: web::Data<Mutex<State>>) -> HttpResponse {
    let mut state = state.lock().expect("idp state");
    state.fetches += 1;
    if state.failing {
        return HttpResponse::ServiceUnavailable().json(json!({"error": "down"}));
    }
    let mut response = HttpResponse::Ok();
    if let Some(value) = &state.cache_control {
        response.insert_header(("cache-control", value.as_str()));
    }
    response.json(&state.keys)
}

async fn discovery_document(state: web::Data<Mutex<State>>) -> HttpResponse {
    let mut state = state.lock().expect("idp state");
    state.document_fetches += 1;
    match (&state.document, state.document_failing) {
        (Some(document), false) => HttpResponse::Ok().json(document),
        (Some(_), true) => HttpResponse::ServiceUnavailable().json(json!({"error": "down"})),
        (None, _) => HttpResponse::NotFound().finish(),
    }
}

async fn other(state: web::Data<Mutex<State>>) -> HttpResponse {
    state.lock().expect("idp state").other_requests += 1;
    HttpResponse::NotFound().finish()
}
