//! The one key that verifies login tokens, and the algorithms it may verify.

use std::str::FromStr;

use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use secrecy::ExposeSecret;

use crate::config::{AuthSettings, ConfigError, secret_from};

/// RFC 7518 §3.2: an HMAC key must be at least as long as the hash output. Shorter secrets
/// can be brute-forced from a single token.
const MIN_HMAC_SECRET_BYTES: usize = 32;

pub(super) fn decoding_key(
    auth: &AuthSettings,
) -> Result<(DecodingKey, Vec<Algorithm>), ConfigError> {
    let algorithms = algorithms(&auth.algorithms)?;
    let family = algorithms[0].family();
    let secret = secret_from(
        "auth.hs256_secret",
        auth.hs256_secret.as_ref(),
        auth.hs256_secret_file.as_deref(),
    )?;
    let key = match (family, secret, &auth.public_key_file) {
        (AlgorithmFamily::Hmac, Some(_), Some(_)) => {
            return Err(ConfigError::new(
                "auth.public_key_file",
                "HS* algorithms use auth.hs256_secret; remove auth.public_key_file",
            ));
        }
        (AlgorithmFamily::Hmac, Some(secret), None) => {
            let bytes = secret.expose_secret().as_bytes();
            if bytes.len() < MIN_HMAC_SECRET_BYTES {
                return Err(ConfigError::new(
                    "auth.hs256_secret",
                    format!(
                        "is shorter than {MIN_HMAC_SECRET_BYTES} bytes: use a longer random secret"
                    ),
                ));
            }
            DecodingKey::from_secret(bytes)
        }
        (AlgorithmFamily::Hmac, None, _) => {
            return Err(ConfigError::new(
                "auth.hs256_secret",
                "is missing: HS* algorithms need auth.hs256_secret or auth.hs256_secret_file",
            ));
        }
        (_, Some(_), _) => {
            return Err(ConfigError::new(
                "auth.hs256_secret",
                "is set but auth.algorithms has no HS* algorithm: remove the secret or fix the list",
            ));
        }
        (family, None, Some(path)) => {
            let pem = std::fs::read(path).map_err(|e| {
                ConfigError::new(
                    "auth.public_key_file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let (parsed, kind) = match family {
                AlgorithmFamily::Rsa => (DecodingKey::from_rsa_pem(&pem), "an RSA"),
                AlgorithmFamily::Ec => (DecodingKey::from_ec_pem(&pem), "an EC"),
                _ => (DecodingKey::from_ed_pem(&pem), "an Ed25519"),
            };
            parsed.map_err(|_| {
                ConfigError::new(
                    "auth.public_key_file",
                    format!(
                        "{} does not hold {kind} public key in PEM form (\"-----BEGIN PUBLIC KEY-----\"), as {:?} needs",
                        path.display(),
                        algorithms[0]
                    ),
                )
            })?
        }
        (_, None, None) => {
            return Err(ConfigError::new(
                "auth.public_key_file",
                format!(
                    "is missing: {:?} needs the identity provider's public key as a PEM file",
                    algorithms[0]
                ),
            ));
        }
    };
    Ok((key, algorithms))
}

fn algorithms(names: &[String]) -> Result<Vec<Algorithm>, ConfigError> {
    const KEY: &str = "auth.algorithms";
    let algorithms = names
        .iter()
        .map(|name| {
            Algorithm::from_str(name.trim()).map_err(|_| {
                ConfigError::new(
                    KEY,
                    format!("unknown algorithm {name:?}: use e.g. RS256, ES256, EdDSA or HS256"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let Some(first) = algorithms.first() else {
        return Err(ConfigError::new(
            KEY,
            "is empty: list the algorithms your identity provider signs with",
        ));
    };
    if algorithms.iter().any(|a| a.family() != first.family()) {
        return Err(ConfigError::new(
            KEY,
            "mixes key types (e.g. RS256 with ES256): one key verifies one family",
        ));
    }
    Ok(algorithms)
}
