//! Fixed verification keys (an HMAC secret or a PEM public key), the algorithm list, and the
//! trust a key's verifications keep while it stays trusted.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use secrecy::ExposeSecret;

use crate::config::{ConfigError, IssuerEntry, secret_from};

/// RFC 7518 §3.2: an HMAC key must be at least as long as the hash output. Shorter secrets
/// can be brute-forced from a single token.
pub(crate) const MIN_SECRET_BYTES: usize = 32;

/// Whether the key that verified a login is still trusted: shared by the key and everything
/// that remembers what it verified. A fixed key is trusted as long as the process runs; a JWKS
/// key until a refresh of the set leaves it out (a rotation after a compromise, say).
#[derive(Clone)]
pub(crate) struct KeyTrust(Arc<AtomicBool>);

impl KeyTrust {
    pub(crate) fn new() -> Self {
        Self(Arc::new(AtomicBool::new(true)))
    }

    /// Read on every repeat handshake: one load, no lock.
    pub(crate) fn holds(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Called by the key set that no longer holds the key.
    pub(crate) fn withdraw(&self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// Parses the configured algorithm names.
pub(super) fn algorithms(key: &str, names: &[String]) -> Result<Vec<Algorithm>, ConfigError> {
    let algorithms = names
        .iter()
        .map(|name| {
            Algorithm::from_str(name.trim()).map_err(|_| {
                ConfigError::new(
                    key,
                    format!("unknown algorithm {name:?}: use e.g. RS256, ES256, EdDSA or HS256"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if algorithms.is_empty() {
        return Err(ConfigError::new(
            key,
            "is empty: list the algorithms your identity provider signs with",
        ));
    }
    Ok(algorithms)
}

/// The one key of an issuer without a JWKS; all its algorithms must suit that key.
pub(super) fn fixed_key(
    spec: &IssuerEntry,
    algorithms: &[Algorithm],
) -> Result<DecodingKey, ConfigError> {
    let family = algorithms[0].family();
    if algorithms.iter().any(|a| a.family() != family) {
        return Err(ConfigError::new(
            spec.key("algorithms"),
            "mixes key types (e.g. RS256 with ES256): one fixed key verifies one family; \
             use a JWKS for several",
        ));
    }
    let secret_key = spec.key("hs256_secret");
    let secret = secret_from(&secret_key, spec.hs256_secret, spec.hs256_secret_file)?;
    match (family, secret, spec.public_key_file) {
        (AlgorithmFamily::Hmac, Some(_), Some(_)) => Err(ConfigError::new(
            spec.key("public_key_file"),
            format!("HS* algorithms use {secret_key}; remove the public key file"),
        )),
        (AlgorithmFamily::Hmac, Some(secret), None) => {
            let bytes = secret.expose_secret().as_bytes();
            // As long as the longest hash listed: 32 bytes for HS256, 48 for HS384, 64 for HS512.
            let needed = (algorithms.iter())
                .map(|a| match a {
                    Algorithm::HS384 => 48,
                    Algorithm::HS512 => 64,
                    _ => MIN_SECRET_BYTES,
                })
                .max()
                .unwrap_or(MIN_SECRET_BYTES);
            if bytes.len() < needed {
                return Err(ConfigError::new(
                    secret_key,
                    format!(
                        "is shorter than {needed} bytes, which the longest listed HS* \
                         algorithm needs: use a longer random secret"
                    ),
                ));
            }
            Ok(DecodingKey::from_secret(bytes))
        }
        (AlgorithmFamily::Hmac, None, _) => Err(ConfigError::new(
            secret_key.clone(),
            format!("is missing: HS* algorithms need {secret_key} or {secret_key}_file"),
        )),
        (_, Some(_), _) => Err(ConfigError::new(
            secret_key,
            format!(
                "is set but {} has no HS* algorithm: remove the secret or fix the list",
                spec.key("algorithms")
            ),
        )),
        (family, None, Some(path)) => {
            let key = spec.key("public_key_file");
            let pem = std::fs::read(path).map_err(|e| {
                ConfigError::new(key.clone(), format!("cannot read {}: {e}", path.display()))
            })?;
            // jsonwebtoken would take a private key too, and then no login would ever verify.
            if pem
                .windows(b"PRIVATE KEY-----".len())
                .any(|w| w == b"PRIVATE KEY-----")
            {
                return Err(ConfigError::new(
                    key,
                    format!(
                        "{} holds a private key: give the identity provider's public key \
                         (e.g. `openssl pkey -in private.pem -pubout`), and keep the private \
                         key off this machine",
                        path.display()
                    ),
                ));
            }
            let (parsed, kind) = match family {
                AlgorithmFamily::Rsa => (DecodingKey::from_rsa_pem(&pem), "an RSA"),
                AlgorithmFamily::Ec => (DecodingKey::from_ec_pem(&pem), "an EC"),
                _ => (DecodingKey::from_ed_pem(&pem), "an Ed25519"),
            };
            parsed.map_err(|_| {
                ConfigError::new(
                    key,
                    format!(
                        "{} does not hold {kind} public key in PEM form (\"-----BEGIN PUBLIC KEY-----\"), as {:?} needs",
                        path.display(),
                        algorithms[0]
                    ),
                )
            })
        }
        (_, None, None) => Err(ConfigError::new(
            spec.key("public_key_file"),
            format!(
                "is missing: {:?} needs the identity provider's public key as a PEM file, or set {}",
                algorithms[0],
                spec.key("jwks_url")
            ),
        )),
    }
}
