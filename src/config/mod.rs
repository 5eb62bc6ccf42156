//! Settings: built-in defaults, then an optional TOML file, then `SEAM_BFF__SECTION__KEY`
//! environment variables (plus Seam's own `SEAM_API_KEY` and `SEAM_ENDPOINT`).
//!
//! Loading only checks shapes and names; each component checks the meaning of its own keys when
//! it is built (see `startup::Components::from_settings`), so that every error names its key,
//! and every component's errors are reported together. File paths in a config file are read
//! relative to its folder.
//!
//! The sections' shapes are in `settings`, the trusted issuers as one list in `issuers`, the
//! reading of secrets in `secrets`, `ConfigError` in `error`, and in `redact` what keeps the
//! config crate's own errors from quoting a value.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};

mod error;
mod issuers;
mod redact;
mod secrets;
mod settings;

pub use error::ConfigError;
pub(crate) use issuers::IssuerEntry;
use redact::without_values;
pub(crate) use secrets::secret_from;
pub use settings::*;

/// The committed defaults, embedded so that the binary runs without any file beside it.
pub const DEFAULTS: &str = include_str!("../../config/default.toml");

/// Prefix of the environment variables that override settings, e.g. `SEAM_BFF__SERVER__BIND`.
const ENV_PREFIX: &str = "SEAM_BFF";
const ENV_SEPARATOR: &str = "__";

impl Settings {
    /// What is in effect, for the start-up log: Seam's endpoint, the issuers and how their keys
    /// come, the accounts source, and the optional features that are on. Never a secret.
    pub fn summary(&self) -> String {
        let issuers = self.issuers_summary();
        let accounts = match (
            self.accounts.source,
            &self.accounts.metadata_key,
            &self.accounts.claim,
        ) {
            (AccountSourceKind::SeamMetadata, Some(key), _) => format!(
                "seam_metadata ({key} = {})",
                match self.accounts.metadata_value {
                    MetadataValue::UserId => "user id",
                    MetadataValue::UserKey => "user key",
                }
            ),
            (AccountSourceKind::Claim, _, Some(claim)) => format!("claim ({claim})"),
            (source, _, _) => source.config_name().to_owned(),
        };
        let features: Vec<&str> = [
            (
                self.cluster.redis_url.is_some() || self.cluster.redis_url_file.is_some(),
                "fleet mode",
            ),
            (self.auth.backchannel_logout, "back-channel logout"),
            (self.seam.webhooks_on(), "seam webhooks"),
            (
                self.seam.workspace_id.is_some() || self.seam.sandbox.is_some(),
                "pinned workspace",
            ),
            (self.auth.cookie_name.is_some(), "cookie logins"),
            (
                self.admin.token.is_some() || self.admin.token_file.is_some(),
                "admin API",
            ),
            (self.rate_limit.enabled, "rate limits"),
            (
                self.identity.key_hmac_secret.is_some()
                    || self.identity.key_hmac_secret_file.is_some(),
                "derived user keys",
            ),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        format!(
            "seam {}; issuers: {issuers}; accounts: {accounts}; features: {}",
            self.seam.endpoint,
            if features.is_empty() {
                "none".into()
            } else {
                features.join(", ")
            }
        )
    }

    /// The trusted issuers and where each one's keys come from (`discovery` when found through
    /// its OpenID discovery document), for the start-up log and `check-config`.
    pub fn issuers_summary(&self) -> String {
        let Ok(entries) = self.auth.issuer_entries() else {
            return "(invalid)".into();
        };
        let issuers: Vec<String> = (entries.iter())
            .map(|entry| {
                let keys = match (entry.discovery, entry.jwks_url, entry.public_key_file) {
                    (true, ..) => "discovery",
                    (false, Some(_), _) => "jwks",
                    (false, None, Some(_)) => "public key file",
                    (false, None, None) => "hmac secret",
                };
                format!("{} ({keys})", entry.issuer.unwrap_or("any issuer"))
            })
            .collect();
        issuers.join(", ")
    }
}

/// `SEAM_BFF_…` variables that are no setting: `SEAM_BFF_AUTH_ISSUER` for
/// `SEAM_BFF__AUTH__ISSUER`, say. The loader ignores them, so they are worth a warning.
pub fn misspelt_variables(env: &HashMap<String, String>) -> Vec<String> {
    let mut names: Vec<String> = env
        .keys()
        .filter(|name| name.starts_with("SEAM_BFF_") && !name.starts_with("SEAM_BFF__"))
        .filter(|name| *name != "SEAM_BFF_CONFIG")
        .cloned()
        .collect();
    names.sort();
    names
}

impl Settings {
    /// Loads the layers in order; `env` is the process environment (a map, so tests can pass
    /// their own without touching the process's).
    pub fn load(file: Option<&Path>, env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::new(
                    "--config",
                    format!(
                        "{} is not a readable file: pass an existing TOML file",
                        path.display()
                    ),
                ));
            }
            builder = builder.add_source(File::from(path).format(FileFormat::Toml));
        }
        // No `try_parsing`: it turns secrets such as `0012345` into numbers. Typed fields parse
        // from strings anyway.
        builder = builder.add_source(
            Environment::with_prefix(ENV_PREFIX)
                .prefix_separator(ENV_SEPARATOR)
                .separator(ENV_SEPARATOR)
                .source(Some(env.clone().into_iter().collect())),
        );
        // Seam's SDKs read these; ours win when both are set.
        for (seam_var, key, ours) in [
            ("SEAM_API_KEY", "seam.api_key", "SEAM_BFF__SEAM__API_KEY"),
            ("SEAM_ENDPOINT", "seam.endpoint", "SEAM_BFF__SEAM__ENDPOINT"),
        ] {
            if let (Some(value), false) = (env.get(seam_var), env.contains_key(ours)) {
                builder = builder
                    .set_override(key, value.as_str())
                    .map_err(|e| ConfigError::new(key, e.to_string()))?;
            }
        }
        let config = builder
            .build()
            .map_err(|e| ConfigError::new("", without_values(&e, file)))?;
        let mut settings: Settings = config.try_deserialize().map_err(|e| {
            ConfigError::new(
                "",
                format!(
                    "{}: check the key's name and type against config/default.toml",
                    without_values(&e, file)
                ),
            )
        })?;
        if let Some(folder) = file.and_then(Path::parent) {
            settings.resolve_paths(folder);
        }
        Ok(settings)
    }

    /// Relative file paths are read from the config file's folder, not from wherever the
    /// service happens to be started.
    fn resolve_paths(&mut self, folder: &Path) {
        let resolve = |path: &mut Option<PathBuf>| {
            if let Some(relative) = path.as_ref().filter(|p| p.is_relative()) {
                *path = Some(folder.join(relative));
            }
        };
        resolve(&mut self.seam.api_key_file);
        resolve(&mut self.seam.webhook_secret_file);
        resolve(&mut self.auth.hs256_secret_file);
        resolve(&mut self.auth.public_key_file);
        for issuer in &mut self.auth.issuers {
            resolve(&mut issuer.hs256_secret_file);
            resolve(&mut issuer.public_key_file);
        }
        resolve(&mut self.identity.key_hmac_secret_file);
        resolve(&mut self.admin.token_file);
        resolve(&mut self.cluster.redis_url_file);
        resolve(&mut self.cluster.tls_ca_file);
        resolve(&mut self.cluster.encryption_key_file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load_without_any_file_or_environment() {
        let settings = Settings::load(None, &HashMap::new()).expect("defaults load");
        assert_eq!(settings.server.bind, "0.0.0.0:8080");
        assert_eq!(settings.identity.claim, "sub");
        assert_eq!(settings.accounts.source, AccountSourceKind::Seam);
    }

    #[test]
    fn environment_overrides_nested_keys_and_keeps_secrets_verbatim() {
        let settings = Settings::load(
            None,
            &env(&[
                ("SEAM_BFF__SERVER__BIND", "127.0.0.1:9999"),
                ("SEAM_BFF__SEAM__API_KEY", "0012345"),
                ("SEAM_BFF__AUTH__ALGORITHMS", "RS256,ES256"),
                ("SEAM_BFF__SESSIONS__TTL_SECS", "120"),
            ]),
        )
        .expect("loads");
        assert_eq!(settings.server.bind, "127.0.0.1:9999");
        let key = settings.seam.api_key.expect("api key set");
        assert_eq!(key.expose_secret(), "0012345");
        assert_eq!(settings.auth.algorithms, ["RS256", "ES256"]);
        assert_eq!(settings.sessions.ttl_secs, 120);
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let settings = Settings::load(
            None,
            &env(&[
                ("SEAM_API_KEY", "seam_live_do_not_print"),
                ("SEAM_BFF__AUTH__HS256_SECRET", "hmac-secret-do-not-print"),
            ]),
        )
        .expect("loads");
        let printed = format!("{settings:?}");
        assert!(printed.contains("api_key"), "{printed}");
        assert!(!printed.contains("do_not_print") && !printed.contains("do-not-print"));
    }

    #[test]
    fn seam_conventions_apply_unless_our_variable_is_set() {
        let settings = Settings::load(
            None,
            &env(&[("SEAM_API_KEY", "seam_a"), ("SEAM_ENDPOINT", "http://x")]),
        )
        .expect("loads");
        assert_eq!(settings.seam.endpoint, "http://x");
        assert_eq!(
            settings.seam.api_key.expect("set").expose_secret(),
            "seam_a"
        );
        let settings = Settings::load(
            None,
            &env(&[
                ("SEAM_API_KEY", "seam_a"),
                ("SEAM_BFF__SEAM__API_KEY", "seam_b"),
            ]),
        )
        .expect("loads");
        assert_eq!(
            settings.seam.api_key.expect("set").expose_secret(),
            "seam_b"
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let err = Settings::load(None, &env(&[("SEAM_BFF__SERVER__BIDN", "x")]))
            .expect_err("unknown key");
        assert!(err.to_string().contains("bidn"), "{err}");
    }

    #[test]
    fn static_accounts_keep_the_case_of_user_ids() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[accounts.static]\n\"auth0|AbC\" = [\"ca_1\"]\n\"u.2\" = []\n",
        )
        .expect("write");
        let settings = Settings::load(Some(&path), &HashMap::new()).expect("loads");
        assert_eq!(settings.accounts.static_accounts["auth0|AbC"], ["ca_1"]);
        assert!(settings.accounts.static_accounts["u.2"].is_empty());
    }
}
