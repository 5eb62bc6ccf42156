//! OpenID Connect Discovery 1.0: an issuer configured with `discovery = true` is read at
//! `{issuer}/.well-known/openid-configuration` (§4, the issuer's trailing `/` removed), and its
//! document says where the key set is (`jwks_uri`) and, unless the operator listed
//! `algorithms`, which of the service's algorithms its ID tokens may use.
//!
//! - A document whose `issuer` is not exactly the configured one is refused (§4.3): its keys
//!   could belong to anyone. The refusal is an ERROR naming both issuers.
//! - The document is read again each time the key set is fetched (the key set's cadence); a
//!   failed or refused read keeps the last good document, so the last good keys stay too.
//! - Only `https`, or `http` on loopback, for the issuer and for `jwks_uri`: a document read in
//!   the clear could point the service at anyone's keys.

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::{Arc, PoisonError, RwLock};

use jsonwebtoken::{Algorithm, AlgorithmFamily};
use serde::Deserialize;

use super::jwks::{IdpClient, MAX_BODY_BYTES};
use crate::config::{ConfigError, IssuerEntry};
use crate::http_failure::Cause;

/// What the service verifies when the operator listed no algorithms for a discovered issuer:
/// every asymmetric algorithm (a published document cannot hand out a shared secret), before
/// the document narrows them.
pub(super) const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Where an issuer's key set is: a configured URL, or the one its discovery document names.
pub(super) enum Source {
    Url(String),
    Discovery(Discovery),
}

impl Source {
    /// The configured URL: the key set's, or the discovery document's.
    pub(super) fn url(&self) -> &str {
        match self {
            Source::Url(url) => url,
            Source::Discovery(discovery) => &discovery.url,
        }
    }

    /// Whether a token signed with `algorithm` may be checked, as far as the discovery
    /// document says (the configured algorithms are checked by the issuer).
    pub(super) fn accepts(&self, algorithm: Algorithm) -> bool {
        match self {
            Source::Url(_) => true,
            Source::Discovery(discovery) => discovery.accepts(algorithm),
        }
    }

    /// Where to fetch the key set now, and the algorithms (of `configured`) its keys verify.
    pub(super) async fn target(
        &self,
        http: &IdpClient,
        configured: &[Algorithm],
    ) -> Result<(String, Vec<Algorithm>), (Cause, String)> {
        match self {
            Source::Url(url) => Ok((url.clone(), configured.to_vec())),
            Source::Discovery(discovery) => {
                let document = discovery.read(http).await?;
                Ok((document.jwks_uri.clone(), document.algorithms.clone()))
            }
        }
    }
}

/// The parts of a discovery document the service uses (§3).
#[derive(Deserialize)]
struct Wire {
    issuer: String,
    jwks_uri: String,
    #[serde(default)]
    id_token_signing_alg_values_supported: Vec<String>,
}

/// A document that passed every check.
struct Document {
    jwks_uri: String,
    /// The algorithms the issuer's keys may verify.
    algorithms: Vec<Algorithm>,
}

pub(super) struct Discovery {
    issuer: String,
    url: String,
    /// The issuer's algorithms: listed by the operator (then the document does not narrow
    /// them) or `ASYMMETRIC`.
    algorithms: Vec<Algorithm>,
    listed: bool,
    last_good: RwLock<Option<Arc<Document>>>,
}

impl Discovery {
    /// Checks `spec`'s keys for discovery; `algorithms` are those it verifies before any
    /// document is read, `listed` whether the operator chose them.
    pub(super) fn new(
        spec: &IssuerEntry,
        algorithms: &[Algorithm],
        listed: bool,
    ) -> Result<Self, ConfigError> {
        for (set, name) in [
            (spec.jwks_url.is_some(), "jwks_url"),
            (spec.public_key_file.is_some(), "public_key_file"),
            (
                spec.hs256_secret.is_some() || spec.hs256_secret_file.is_some(),
                "hs256_secret",
            ),
        ] {
            if set {
                return Err(ConfigError::new(
                    spec.key("discovery"),
                    format!(
                        "is set together with {}: discovery finds the issuer's key set itself; \
                         keep one of them",
                        spec.key(name)
                    ),
                ));
            }
        }
        let Some(issuer) = spec.issuer else {
            return Err(ConfigError::new(
                spec.key("issuer"),
                format!(
                    "is required with {}: the document is found at the issuer's URL and \
                     must name that issuer",
                    spec.key("discovery")
                ),
            ));
        };
        if !secure_or_loopback(issuer) {
            return Err(ConfigError::new(
                spec.key("issuer"),
                "must be an https URL for discovery (http only on loopback), \
                 e.g. https://login.example.com/",
            ));
        }
        Ok(Self {
            issuer: issuer.to_owned(),
            url: document_url(issuer),
            algorithms: algorithms.to_vec(),
            listed,
            last_good: RwLock::default(),
        })
    }

    /// Whether a token signed with `algorithm` may be checked: before any document, every
    /// algorithm of the issuer (nothing verifies without keys anyway).
    fn accepts(&self, algorithm: Algorithm) -> bool {
        self.last()
            .is_none_or(|document| document.algorithms.contains(&algorithm))
    }

    /// Reads the document again; a read that fails or is refused keeps the last good one.
    async fn read(&self, http: &IdpClient) -> Result<Arc<Document>, (Cause, String)> {
        match self.fetch(http).await {
            Ok(document) => {
                let document = Arc::new(document);
                *self
                    .last_good
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = Some(document.clone());
                Ok(document)
            }
            Err((cause, reason)) => {
                let reason = format!("discovery document: {reason}");
                let last = self.last().ok_or_else(|| (cause, reason.clone()))?;
                tracing::warn!(request_id = %crate::telemetry::CurrentRequest, url = %self.url, cause = cause.as_str(), reason, "discovery document not read; keeping the last good one");
                Ok(last)
            }
        }
    }

    fn last(&self) -> Option<Arc<Document>> {
        (self
            .last_good
            .read()
            .unwrap_or_else(PoisonError::into_inner))
        .clone()
    }

    async fn fetch(&self, http: &IdpClient) -> Result<Document, (Cause, String)> {
        let mut response = (http.0.get(&self.url).send().await)
            .map_err(|e| (Cause::of_send(&e), e.to_string()))?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            return Err((Cause::Status, format!("status {status}")));
        }
        let body = (response.body().limit(MAX_BODY_BYTES).await)
            .map_err(|e| (Cause::Body, e.to_string()))?;
        let wire: Wire = serde_json::from_slice(&body).map_err(|_| {
            (
                Cause::Body,
                "not an OpenID provider configuration".to_owned(),
            )
        })?;
        if wire.issuer != self.issuer {
            // Names only URLs, which are public; logged here because it is an operator's
            // mistake or an attack, not an outage.
            tracing::error!(configured_issuer = %self.issuer, document_issuer = %wire.issuer, url = %self.url, "discovery document names another issuer; refused");
            return Err((Cause::Body, "the document names another issuer".into()));
        }
        if !secure_or_loopback(&wire.jwks_uri) {
            return Err((Cause::Body, "jwks_uri is not https".into()));
        }
        Ok(Document {
            jwks_uri: wire.jwks_uri,
            algorithms: self.narrowed(&wire.id_token_signing_alg_values_supported)?,
        })
    }

    /// The issuer's algorithms that the document also names, unless the operator listed them.
    /// Names the service does not know (`none` among them) are passed over.
    fn narrowed(&self, named: &[String]) -> Result<Vec<Algorithm>, (Cause, String)> {
        if self.listed {
            return Ok(self.algorithms.clone());
        }
        let named: Vec<Algorithm> = (named.iter())
            .filter_map(|name| Algorithm::from_str(name).ok())
            .filter(|a| a.family() != AlgorithmFamily::Hmac)
            .collect();
        let algorithms: Vec<Algorithm> = (self.algorithms.iter().copied())
            .filter(|a| named.contains(a))
            .collect();
        if algorithms.is_empty() {
            return Err((
                Cause::Body,
                "id_token_signing_alg_values_supported names no algorithm the service \
                 verifies; list the issuer's algorithms"
                    .into(),
            ));
        }
        Ok(algorithms)
    }
}

/// §4: the issuer with any trailing `/` removed, then `/.well-known/openid-configuration`.
fn document_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// `https`, or `http` to a loopback host (a provider on the same machine, a test).
fn secure_or_loopback(url: &str) -> bool {
    let Ok(uri) = url.parse::<actix_web::http::Uri>() else {
        return false;
    };
    match (uri.scheme_str(), uri.host()) {
        (Some("https"), Some(_)) => true,
        (Some("http"), Some(host)) => {
            host.eq_ignore_ascii_case("localhost")
                || (host.trim_start_matches('[').trim_end_matches(']'))
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_beside_the_issuer_without_its_trailing_slash() {
        let url = "https://login.example.com/.well-known/openid-configuration";
        assert_eq!(document_url("https://login.example.com/"), url);
        assert_eq!(document_url("https://login.example.com"), url);
        assert_eq!(
            document_url("https://kc.example.com/realms/app"),
            "https://kc.example.com/realms/app/.well-known/openid-configuration"
        );
    }

    #[test]
    fn only_https_or_loopback_http_is_read() {
        for good in [
            "https://login.example.com/",
            "http://127.0.0.1:8080",
            "http://localhost/x",
            "http://[::1]:9/",
        ] {
            assert!(secure_or_loopback(good), "{good}");
        }
        for bad in [
            "http://login.example.com/",
            "http://10.0.0.1/",
            "ftp://x/",
            "login.example.com",
            "",
        ] {
            assert!(!secure_or_loopback(bad), "{bad}");
        }
    }
}
