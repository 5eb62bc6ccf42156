//! The trusted issuers as one list, whichever form they were written in (the simple `auth.*`
//! keys, `[[auth.issuers]]` entries, or both): `auth` verifies with it and `login::identity`
//! gives each issuer's users their own namespace from it, so both count the issuers the same
//! way.

use std::collections::HashMap;
use std::path::Path;

use secrecy::SecretString;

use super::error::ConfigError;
use super::settings::AuthSettings;

/// One trusted issuer's settings. `key_path` names its keys in error messages (`auth` or
/// `auth.issuers[1]`).
pub(crate) struct IssuerEntry<'a> {
    pub(crate) key_path: String,
    pub(crate) issuer: Option<&'a str>,
    pub(crate) audience: Option<&'a str>,
    pub(crate) algorithms: &'a [String],
    pub(crate) hs256_secret: Option<&'a SecretString>,
    pub(crate) hs256_secret_file: Option<&'a Path>,
    pub(crate) public_key_file: Option<&'a Path>,
    pub(crate) jwks_url: Option<&'a str>,
    /// Keys found through the issuer's OpenID discovery document.
    pub(crate) discovery: bool,
    pub(crate) logout_audience: Option<&'a str>,
    /// This issuer's own `key_prefix`, `accounts_metadata_key` and `accounts_static`; `None`
    /// for the simple form, which has only the `identity` and `accounts` sections' ones.
    pub(crate) key_prefix: Option<&'a str>,
    pub(crate) accounts_metadata_key: Option<&'a str>,
    pub(crate) accounts_static: Option<&'a HashMap<String, Vec<String>>>,
}

impl IssuerEntry<'_> {
    /// The full name of one of this issuer's keys, e.g. `auth.issuers[1].jwks_url`.
    pub(crate) fn key(&self, name: &str) -> String {
        format!("{}.{name}", self.key_path)
    }

    fn has_keys(&self) -> bool {
        self.hs256_secret.is_some()
            || self.hs256_secret_file.is_some()
            || self.public_key_file.is_some()
            || self.jwks_url.is_some()
            || self.discovery
    }
}

fn filled(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|s| !s.is_empty())
}

impl AuthSettings {
    /// The trusted issuers, the simple form first when it counts: unless it is empty and
    /// `[[auth.issuers]]` says it all (when it counts, building it names whatever it lacks).
    /// With several, each must name its `iss`, and no two the same.
    pub(crate) fn issuer_entries(&self) -> Result<Vec<IssuerEntry<'_>>, ConfigError> {
        let simple = IssuerEntry {
            key_path: "auth".into(),
            issuer: filled(&self.issuer),
            audience: filled(&self.audience),
            algorithms: &self.algorithms,
            hs256_secret: self.hs256_secret.as_ref(),
            hs256_secret_file: self.hs256_secret_file.as_deref(),
            public_key_file: self.public_key_file.as_deref(),
            jwks_url: filled(&self.jwks_url),
            discovery: self.discovery,
            logout_audience: filled(&self.logout_audience),
            key_prefix: None,
            accounts_metadata_key: None,
            accounts_static: None,
        };
        let listed = self.issuers.iter().enumerate().map(|(i, s)| IssuerEntry {
            key_path: format!("auth.issuers[{i}]"),
            issuer: Some(s.issuer.as_str()),
            audience: filled(&s.audience),
            algorithms: &s.algorithms,
            hs256_secret: s.hs256_secret.as_ref(),
            hs256_secret_file: s.hs256_secret_file.as_deref(),
            public_key_file: s.public_key_file.as_deref(),
            jwks_url: filled(&s.jwks_url),
            discovery: s.discovery,
            logout_audience: filled(&s.logout_audience),
            key_prefix: s.key_prefix.as_deref(),
            accounts_metadata_key: filled(&s.accounts_metadata_key),
            accounts_static: s.accounts_static.as_ref(),
        });
        let keep_simple = simple.has_keys() || self.issuers.is_empty();
        let entries: Vec<IssuerEntry> = std::iter::once(simple)
            .filter(|_| keep_simple)
            .chain(listed)
            .collect();
        if entries.len() > 1 {
            for (i, entry) in entries.iter().enumerate() {
                match entry.issuer {
                    None | Some("") => {
                        return Err(ConfigError::new(
                            entry.key("issuer"),
                            "is required when several issuers are trusted: tokens are matched by `iss`",
                        ));
                    }
                    Some(name) if entries[..i].iter().any(|e| e.issuer == Some(name)) => {
                        return Err(ConfigError::new(entry.key("issuer"), "is listed twice"));
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(entries)
    }
}
