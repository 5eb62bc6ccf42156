//! From the app's user id to Seam's `user_identifier_key`.
//!
//! By default the key is `identity.key_prefix` + the user id. With `identity.key_hmac_secret`
//! it is the prefix + hex(HMAC-SHA256(secret, user id)): a workspace that also hands out
//! publishable keys lets a browser name any `user_identifier_key`, and a guessable one would
//! let it reach another user's session.

use std::borrow::Cow;
use std::fmt::Write;

use aws_lc_rs::hmac;
use secrecy::ExposeSecret;

use crate::auth::MIN_SECRET_BYTES;
use crate::config::{ConfigError, IdentitySettings, secret_from};

pub(crate) struct Identity {
    key_prefix: String,
    hmac: Option<hmac::Key>,
}

impl Identity {
    pub(crate) fn from_settings(settings: &IdentitySettings) -> Result<Self, ConfigError> {
        let secret = secret_from(
            "identity.key_hmac_secret",
            settings.key_hmac_secret.as_ref(),
            settings.key_hmac_secret_file.as_deref(),
        )?;
        let hmac = match secret {
            Some(secret) if secret.expose_secret().len() < MIN_SECRET_BYTES => {
                return Err(ConfigError::new(
                    "identity.key_hmac_secret",
                    format!("is shorter than {MIN_SECRET_BYTES} bytes: use a longer random secret"),
                ));
            }
            Some(secret) => Some(hmac::Key::new(
                hmac::HMAC_SHA256,
                secret.expose_secret().as_bytes(),
            )),
            None => None,
        };
        Ok(Self {
            key_prefix: settings.key_prefix.clone(),
            hmac,
        })
    }

    /// Borrowed when there is neither prefix nor HMAC (the common case, and the hot path).
    pub(crate) fn user_identifier_key<'a>(&self, user_id: &'a str) -> Cow<'a, str> {
        match &self.hmac {
            Some(key) => {
                let tag = hmac::sign(key, user_id.as_bytes());
                let mut derived = self.key_prefix.clone();
                for byte in tag.as_ref() {
                    let _ = write!(derived, "{byte:02x}");
                }
                Cow::Owned(derived)
            }
            None if self.key_prefix.is_empty() => Cow::Borrowed(user_id),
            None => Cow::Owned(format!("{}{user_id}", self.key_prefix)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(prefix: &str, secret: Option<&str>) -> Identity {
        Identity::from_settings(&IdentitySettings {
            claim: "sub".into(),
            key_prefix: prefix.into(),
            key_hmac_secret: secret.map(Into::into),
            key_hmac_secret_file: None,
        })
        .expect("valid")
    }

    #[test]
    fn keys_are_prefixed_or_derived() {
        assert_eq!(identity("", None).user_identifier_key("u1"), "u1");
        assert_eq!(identity("app:", None).user_identifier_key("u1"), "app:u1");
        let derived = identity("app:", Some("k".repeat(32).as_str()));
        let key = derived.user_identifier_key("u1");
        assert!(key.starts_with("app:") && key.len() == 4 + 64, "{key}");
        assert_eq!(key, derived.user_identifier_key("u1"), "stable");
        assert_ne!(key, derived.user_identifier_key("u2"));
        // The same HMAC computed independently (Python's hmac module).
        assert_eq!(
            key,
            "app:4b3cc1583c6d0617acde108c31b20bc71caaeaa0cf3cfb4cc12caef43dd35b69"
        );
    }
}
