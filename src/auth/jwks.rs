//! An identity provider's JSON Web Key Set, fetched with awc (`IdpClient`) and cached.
//!
//! - The set is reused for its `Cache-Control: max-age`, bounded to [`MIN_AGE`, `MAX_AGE`].
//! - A token whose `kid` is unknown may trigger a fetch (keys rotate), but fetches are at least
//!   `COOLDOWN` apart, so tokens with random `kid`s cannot cause a fetch storm; one fetch runs
//!   at a time and the others use its result.
//! - A failed fetch keeps the last good set.
//! - A key that a fetched set no longer holds loses its trust at once (`KeyTrust`), so logins it
//!   verified are no longer recalled from memory and must verify again, which they cannot.
//! - Each key verifies only the configured algorithms that also match its own type and, when
//!   present, its `alg`; keys for encryption (`use: enc`) and symmetric keys are ignored.
//! - With discovery (`discovery`), each fetch reads the issuer's document first: its `jwks_uri`
//!   is where the set is, its algorithms narrow the configured ones.

use std::sync::{Arc, PoisonError, RwLock};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use time::{Duration, OffsetDateTime};

pub(super) use super::discovery::Source;
use super::error::AuthError;
use super::keys::KeyTrust;
use super::signature::{Purpose, decode_with};
use crate::clock::Clock;
use crate::config::{ConfigError, IssuerEntry};
use crate::http_failure::{Cause, NotReady};
use crate::metrics::Metrics;

/// Least time between two fetches of one key set, whatever triggers them.
const COOLDOWN: Duration = Duration::seconds(10);
/// Bounds on how long a fetched set is used before it is fetched again.
const MIN_AGE: Duration = Duration::minutes(1);
const MAX_AGE: Duration = Duration::hours(24);
/// Reuse time when the provider sends no `max-age`.
const DEFAULT_AGE: Duration = Duration::minutes(15);
/// Largest key set or discovery document read; real ones are a few KiB.
pub(super) const MAX_BODY_BYTES: usize = 256 * 1024;

/// The HTTP client that fetches key sets, one per worker like the Seam client.
pub(crate) struct IdpClient(pub(super) awc::Client);

impl IdpClient {
    pub(crate) fn new() -> Self {
        Self(
            awc::Client::builder()
                .disable_redirects()
                .timeout(std::time::Duration::from_secs(5))
                .finish(),
        )
    }
}

struct Key {
    kid: Option<String>,
    key: DecodingKey,
    /// The issuer's rules, with `algorithms` narrowed to what this key may verify.
    validation: Validation,
    /// The key as published, to recognise it in the next set.
    jwk: Jwk,
    trust: KeyTrust,
}

struct KeySet {
    keys: Vec<Key>,
    fetched_at: OffsetDateTime,
    max_age: Duration,
}

#[derive(Default)]
struct State {
    set: Option<Arc<KeySet>>,
    last_attempt: Option<OffsetDateTime>,
    /// Why the last fetch failed, for `/readyz` while there is no set.
    last_failure: Option<Cause>,
}

pub(super) struct Jwks {
    source: Source,
    template: Validation,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    state: RwLock<State>,
    /// One fetch at a time.
    fetching: tokio::sync::Mutex<()>,
}

impl Jwks {
    pub(super) fn new(
        spec: &IssuerEntry,
        source: Source,
        algorithms: Vec<Algorithm>,
        template: Validation,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ConfigError> {
        if let Source::Url(url) = &source
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(ConfigError::new(
                spec.key("jwks_url"),
                "must be an http(s) URL, e.g. https://login.example.com/.well-known/jwks.json",
            ));
        }
        if algorithms
            .iter()
            .any(|a| matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
        {
            return Err(ConfigError::new(
                spec.key("algorithms"),
                "lists an HS* algorithm with a JWKS: a published key set cannot hold a shared secret",
            ));
        }
        Ok(Self {
            source,
            template,
            clock,
            metrics,
            state: RwLock::default(),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    pub(super) async fn check(
        &self,
        token: &str,
        header: &Header,
        http: &IdpClient,
        purpose: Purpose<'_>,
    ) -> Result<KeyTrust, AuthError> {
        if self.current().is_none_or(|set| self.is_stale(&set)) {
            self.fetch_if_due(http).await;
        }
        let mut set = self.current();
        let known = |set: &Option<Arc<KeySet>>| {
            set.as_ref()
                .is_some_and(|s| s.keys.iter().any(|k| matches(k, header)))
        };
        if !known(&set) {
            // Perhaps the provider rotated its keys; the cooldown bounds how often this helps.
            self.fetch_if_due(http).await;
            set = self.current();
        }
        let set = set.ok_or_else(|| AuthError::Rejected("login keys unavailable".into()))?;
        let mut last = AuthError::BadSignature("no key for this token");
        for key in set.keys.iter().filter(|k| matches(k, header)) {
            match decode_with(token, &key.key, &key.validation, purpose) {
                Ok(()) => return Ok(key.trust.clone()),
                // Another key without a `kid` may still fit; anything else is final.
                Err(e @ (AuthError::Rejected(_) | AuthError::BadSignature(_)))
                    if header.kid.is_none() =>
                {
                    last = e;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    pub(super) async fn ready(&self, http: &IdpClient) -> Result<(), NotReady> {
        if self.current().is_none() {
            self.fetch_if_due(http).await;
        }
        let cause = || {
            self.state
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .last_failure
        };
        (self.current().map(drop)).ok_or_else(|| NotReady::new("login_keys_unavailable", cause()))
    }

    /// Whether a token signed with `algorithm` may be checked, as far as the issuer's discovery
    /// document says (the configured algorithms are checked by the issuer).
    pub(super) fn accepts(&self, algorithm: Algorithm) -> bool {
        self.source.accepts(algorithm)
    }

    fn current(&self) -> Option<Arc<KeySet>> {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .set
            .clone()
    }

    fn is_stale(&self, set: &KeySet) -> bool {
        self.clock.now() >= set.fetched_at + set.max_age
    }

    fn is_due(&self) -> bool {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        state
            .last_attempt
            .is_none_or(|at| self.clock.now() >= at + COOLDOWN)
    }

    /// Fetches the set unless another fetch is under way or happened within `COOLDOWN`.
    async fn fetch_if_due(&self, http: &IdpClient) {
        if !self.is_due() {
            return;
        }
        let _one_at_a_time = self.fetching.lock().await;
        // A fetch that finished while this one waited counts.
        if !self.is_due() {
            return;
        }
        let started = self.clock.now();
        self.state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .last_attempt = Some(started);
        let fetched = self.fetch(http, started).await;
        self.metrics
            .key_set_refreshes
            .with_label_values(&[if fetched.is_ok() { "ok" } else { "error" }])
            .inc();
        match fetched {
            Ok(mut set) => {
                tracing::info!(request_id = %crate::telemetry::CurrentRequest, url = %self.source.url(), keys = set.keys.len(), max_age_secs = set.max_age.whole_seconds(), "login keys fetched");
                let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
                if let Some(previous) = &state.set {
                    carry_trust(previous, &mut set);
                }
                state.set = Some(Arc::new(set));
                state.last_failure = None;
            }
            Err((cause, reason)) => {
                tracing::warn!(request_id = %crate::telemetry::CurrentRequest, url = %self.source.url(), cause = cause.as_str(), reason, "login keys not fetched; keeping the last good set");
                let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
                state.last_failure = Some(cause);
            }
        }
    }

    async fn fetch(
        &self,
        http: &IdpClient,
        now: OffsetDateTime,
    ) -> Result<KeySet, (Cause, String)> {
        let (url, algorithms) = self.source.target(http, &self.template.algorithms).await?;
        let mut response =
            (http.0.get(&url).send().await).map_err(|e| (Cause::of_send(&e), e.to_string()))?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            return Err((Cause::Status, format!("status {status}")));
        }
        let max_age = response
            .headers()
            .get(actix_web::http::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age)
            .map_or(DEFAULT_AGE, |age| age.clamp(MIN_AGE, MAX_AGE));
        let body = (response.body().limit(MAX_BODY_BYTES).await)
            .map_err(|e| (Cause::Body, e.to_string()))?;
        let set: JwkSet =
            serde_json::from_slice(&body).map_err(|_| (Cause::Body, "not a JWK set".to_owned()))?;
        let keys: Vec<Key> = set
            .keys
            .iter()
            .filter_map(|jwk| self.usable(jwk, &algorithms))
            .collect();
        if keys.is_empty() {
            return Err((Cause::Body, "no usable signing key in the set".into()));
        }
        Ok(KeySet {
            keys,
            fetched_at: now,
            max_age,
        })
    }

    /// The key `jwk` publishes, verifying those of `allowed` that fit it.
    fn usable(&self, jwk: &Jwk, allowed: &[Algorithm]) -> Option<Key> {
        if matches!(
            jwk.common.public_key_use,
            Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
        ) {
            return None;
        }
        // A shared secret in a published set would let anyone sign.
        if matches!(
            jwk.algorithm,
            AlgorithmParameters::OctetKey(_) | AlgorithmParameters::Other(_)
        ) {
            return None;
        }
        let key = DecodingKey::from_jwk(jwk).ok()?;
        let own = match jwk.common.key_algorithm {
            Some(alg) => Some(Algorithm::try_from(alg).ok()?),
            None => None,
        };
        let algorithms: Vec<Algorithm> = (allowed.iter().copied())
            .filter(|a| fits(&key, *a) && own.is_none_or(|own| own == *a))
            .collect();
        if algorithms.is_empty() {
            return None;
        }
        let mut validation = self.template.clone();
        validation.algorithms = algorithms;
        Some(Key {
            kid: jwk.common.key_id.clone(),
            key,
            validation,
            jwk: jwk.clone(),
            trust: KeyTrust::new(),
        })
    }
}

/// A key published again keeps its trust, and what it verified stays remembered; a key left
/// out loses it.
fn carry_trust(previous: &KeySet, next: &mut KeySet) {
    for old in &previous.keys {
        match next.keys.iter_mut().find(|new| new.jwk == old.jwk) {
            Some(kept) => kept.trust = old.trust.clone(),
            None => old.trust.withdraw(),
        }
    }
}

/// Whether `key` may verify a token with this header: same `kid` when the token names one,
/// and an algorithm the key accepts.
fn matches(key: &Key, header: &Header) -> bool {
    key.validation.algorithms.contains(&header.alg)
        && header
            .kid
            .as_ref()
            .is_none_or(|kid| key.kid.as_ref() == Some(kid))
}

/// Whether `algorithm` can verify with a key of `key`'s family.
fn fits(key: &DecodingKey, algorithm: Algorithm) -> bool {
    key.family() == algorithm.family()
}

/// The `max-age` directive of a `Cache-Control` header.
fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control.split(',').find_map(|directive| {
        let (name, value) = directive.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| value.trim().parse::<i64>().ok())
            .flatten()
            .map(Duration::seconds)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Vector {
        name: String,
        alg: Algorithm,
        jwk: Jwk,
        token: String,
    }

    fn vectors() -> Vec<Vector> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/rfc-vectors.json"
        );
        serde_json::from_slice(&std::fs::read(path).expect("fixture")).expect("vectors parse")
    }

    fn jwks() -> Jwks {
        let spec = IssuerEntry {
            key_path: "auth".into(),
            issuer: None,
            audience: None,
            algorithms: &[],
            hs256_secret: None,
            hs256_secret_file: None,
            public_key_file: None,
            jwks_url: None,
            discovery: false,
            logout_audience: None,
            key_prefix: None,
            accounts_metadata_key: None,
            accounts_static: None,
        };
        let mut template = Validation::new(Algorithm::RS256);
        template.algorithms = vec![Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];
        let algorithms = template.algorithms.clone();
        Jwks::new(
            &spec,
            Source::Url("https://idp.invalid/jwks".into()),
            algorithms,
            template,
            Arc::new(SystemClock),
            Arc::new(Metrics::new("/")),
        )
        .expect("valid")
    }

    /// RFC 7515 A.1–A.3, RFC 7520 4.1 and 4.4 and RFC 8037 A.4: every published public key
    /// becomes a key that verifies its example signature (and not a tampered one); published
    /// symmetric keys are refused even though their signatures are sound.
    #[test]
    fn rfc_example_keys_verify_their_example_signatures() {
        let jwks = jwks();
        for vector in vectors() {
            let (message, signature) = vector.token.rsplit_once('.').expect("compact JWS");
            let tampered = format!("{}A", &signature[..signature.len() - 1]);
            let key = match jwks.usable(&vector.jwk, &jwks.template.algorithms) {
                Some(key) => {
                    assert!(vector.alg.family() != jsonwebtoken::AlgorithmFamily::Hmac);
                    assert!(
                        key.validation.algorithms.contains(&vector.alg),
                        "{}",
                        vector.name
                    );
                    key.key
                }
                None => {
                    assert_eq!(
                        vector.alg.family(),
                        jsonwebtoken::AlgorithmFamily::Hmac,
                        "{}",
                        vector.name
                    );
                    DecodingKey::from_jwk(&vector.jwk).expect("oct key")
                }
            };
            let verify = |sig: &str| {
                jsonwebtoken::crypto::verify(sig, message.as_bytes(), &key, vector.alg)
                    .unwrap_or(false)
            };
            assert!(verify(signature), "{} must verify", vector.name);
            assert!(!verify(&tampered), "{} tampered must fail", vector.name);
        }
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(max_age("public, max-age=300"), Some(Duration::seconds(300)));
        assert_eq!(max_age("no-store"), None);
        assert_eq!(max_age("max-age=abc"), None);
    }
}
