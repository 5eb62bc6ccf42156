//! One trusted issuer: its validation rules and where its keys come from (a fixed key or a
//! JWKS), built from its `config::IssuerEntry`.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};

use super::discovery::{self, Discovery};
use super::error::AuthError;
use super::jwks::{IdpClient, Jwks, Source};
use super::keys::{self, KeyTrust};
use super::signature::{Purpose, decode_with};
use crate::clock::Clock;
use crate::config::{AuthSettings, ConfigError, IssuerEntry};
use crate::http_failure::NotReady;
use crate::metrics::Metrics;

/// A leeway past this would accept logins that expired decades ago: no real deployment needs
/// more than minutes.
const MAX_LEEWAY_SECS: u64 = 1_000_000_000;

enum Keys {
    Fixed(DecodingKey, KeyTrust),
    Jwks(Box<Jwks>),
}

pub(super) struct Issuer {
    name: Option<String>,
    /// The `aud` its logins must carry, when configured.
    audience: Option<String>,
    validation: Validation,
    keys: Keys,
    /// The `aud` its logout tokens must carry, with `auth.backchannel_logout`.
    logout_audience: Option<String>,
}

pub(super) fn from_settings(
    auth: &AuthSettings,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
) -> Result<Vec<Issuer>, ConfigError> {
    let entries = auth.issuer_entries()?;
    if auth.backchannel_logout {
        for entry in &entries {
            // Without both, a logout token meant for another app, or a login, could pass.
            if entry.issuer.is_none() {
                return Err(ConfigError::new(
                    entry.key("issuer"),
                    "is required with auth.backchannel_logout: logout tokens are checked for it",
                ));
            }
            if entry.logout_audience.or(entry.audience).is_none() {
                return Err(ConfigError::new(
                    entry.key("logout_audience"),
                    "is required with auth.backchannel_logout (or audience): the client id \
                     that logout tokens are addressed to",
                ));
            }
        }
    }
    entries
        .iter()
        .map(|entry| Issuer::from_entry(entry, auth.leeway_secs, clock.clone(), metrics.clone()))
        .collect()
}

impl Issuer {
    fn from_entry(
        spec: &IssuerEntry,
        leeway_secs: u64,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ConfigError> {
        if leeway_secs > MAX_LEEWAY_SECS {
            return Err(ConfigError::new(
                "auth.leeway_secs",
                format!("must be at most {MAX_LEEWAY_SECS}; a few seconds to minutes is usual"),
            ));
        }
        // Unlisted: RS256, or with discovery whichever the provider's document names.
        let listed = !spec.algorithms.is_empty();
        let algorithms = match (listed, spec.discovery) {
            (true, _) => keys::algorithms(&spec.key("algorithms"), spec.algorithms)?,
            (false, true) => discovery::ASYMMETRIC.to_vec(),
            (false, false) => vec![Algorithm::RS256],
        };
        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms.clone();
        // The times are judged by `rules` on the service's clock, before the signature and again
        // after it; jsonwebtoken would judge them once more on the system clock, which need not
        // agree with the service's (tests move theirs), so its time checks are off.
        // Read in jsonwebtoken 11.1's `validation::validate`: `required_spec_claims` is checked
        // first, whatever `validate_exp` says (`exp` counts as present only as a number), so
        // `exp` stays required below; the clock (`get_current_timestamp`, the crate's one read
        // of the time) is read only when `validate_exp` or `validate_nbf` is on, and so are its
        // `exp`/`nbf` format check (`rules` refuses anything but whole seconds first) and
        // `reject_tokens_expiring_in_less_than` (0 here). Its `leeway` is then unread.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let mut required = vec!["exp"];
        if let Some(issuer) = spec.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        match spec.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            // Without a configured audience there is nothing to match `aud` against;
            // jsonwebtoken would otherwise refuse every token that carries one.
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        let keys = match spec.jwks_url {
            _ if spec.discovery => {
                let source = Source::Discovery(Discovery::new(spec, &algorithms, listed)?);
                let template = validation.clone();
                let jwks = Jwks::new(spec, source, algorithms, template, clock, metrics)?;
                Keys::Jwks(Box::new(jwks))
            }
            Some(url) => {
                if spec.hs256_secret.is_some()
                    || spec.hs256_secret_file.is_some()
                    || spec.public_key_file.is_some()
                {
                    return Err(ConfigError::new(
                        spec.key("jwks_url"),
                        "is set together with a fixed key: keep one of them",
                    ));
                }
                Keys::Jwks(Box::new(Jwks::new(
                    spec,
                    Source::Url(url.to_owned()),
                    algorithms,
                    validation.clone(),
                    clock,
                    metrics,
                )?))
            }
            None => Keys::Fixed(keys::fixed_key(spec, &algorithms)?, KeyTrust::new()),
        };
        Ok(Self {
            name: spec.issuer.map(str::to_owned),
            audience: spec.audience.map(str::to_owned),
            validation,
            keys,
            logout_audience: spec.logout_audience.or(spec.audience).map(str::to_owned),
        })
    }

    pub(super) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub(super) fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// Whether a token signed with `algorithm` may be checked at all (a discovery document
    /// narrows this, and a JWKS key further).
    pub(super) fn accepts(&self, algorithm: Algorithm) -> bool {
        self.validation.algorithms.contains(&algorithm)
            && match &self.keys {
                Keys::Fixed(..) => true,
                Keys::Jwks(jwks) => jwks.accepts(algorithm),
            }
    }

    pub(super) fn logout_audience(&self) -> Option<&str> {
        self.logout_audience.as_deref()
    }

    /// Checks the signature and the claim rules; on success, the trust of the key that
    /// verified the token.
    pub(super) async fn check(
        &self,
        token: &str,
        header: &Header,
        http: &IdpClient,
        purpose: Purpose<'_>,
    ) -> Result<KeyTrust, AuthError> {
        match &self.keys {
            Keys::Fixed(key, trust) => {
                decode_with(token, key, &self.validation, purpose).map(|()| trust.clone())
            }
            Keys::Jwks(jwks) => jwks.check(token, header, http, purpose).await,
        }
    }

    pub(super) async fn ready(&self, http: &IdpClient) -> Result<(), NotReady> {
        match &self.keys {
            Keys::Fixed(..) => Ok(()),
            Keys::Jwks(jwks) => jwks.ready(http).await,
        }
    }
}
