//! What goes into Redis is sealed: AES-256-GCM, keyed from `cluster.encryption_key`, so that a
//! read of Redis (a dump, a backup, a shared instance) yields no usable client session token
//! and no user id. Key names are keyed hashes, for the same reason.
//!
//! Two keys are derived from the configured one (HMAC-SHA256 over a label), one to seal and one
//! to name, so that neither use weakens the other. Each sealed value is bound to its key name
//! (the AEAD's associated data): an entry copied under another user's name does not open.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::hmac;
use secrecy::{ExposeSecret, SecretString};

use crate::config::ConfigError;

/// The configured key: 32 random bytes written as 64 hex digits.
const KEY_HEX_LEN: usize = 64;

pub(crate) struct Sealer {
    aead: RandomizedNonceKey,
    names: hmac::Key,
}

impl Sealer {
    pub(crate) fn from_secret(key: &str, secret: &SecretString) -> Result<Self, ConfigError> {
        let hex = secret.expose_secret();
        let bytes = decode_hex(hex).filter(|_| hex.len() == KEY_HEX_LEN).ok_or_else(|| {
            ConfigError::new(
                key,
                "must be 32 random bytes written as 64 hex digits, e.g. from `openssl rand -hex 32`",
            )
        })?;
        let root = hmac::Key::new(hmac::HMAC_SHA256, &bytes);
        let derive = |label: &str| hmac::sign(&root, label.as_bytes());
        let aead = RandomizedNonceKey::new(&AES_256_GCM, derive("seam-bff seal v1").as_ref())
            .map_err(|_| ConfigError::new(key, "could not be used as an AES-256-GCM key"))?;
        Ok(Self {
            aead,
            names: hmac::Key::new(hmac::HMAC_SHA256, derive("seam-bff names v1").as_ref()),
        })
    }

    /// A name that identifies `what` without revealing it: 32 hex digits of a keyed hash.
    pub(crate) fn name(&self, what: &str) -> String {
        let tag = hmac::sign(&self.names, what.as_bytes());
        let mut name = String::with_capacity(32);
        crate::hex::push(&mut name, &tag.as_ref()[..16]);
        name
    }

    /// `plain` sealed for the key `name`: the nonce, then the ciphertext and tag.
    pub(crate) fn seal(&self, name: &str, plain: &[u8]) -> Vec<u8> {
        let mut sealed = plain.to_vec();
        // A random 96-bit nonce per value: far below the birthday bound for any fleet's
        // write volume under one key.
        let nonce = self
            .aead
            .seal_in_place_append_tag(Aad::from(name.as_bytes()), &mut sealed)
            .expect("AES-GCM seals any length this service writes");
        let mut out = nonce.as_ref().to_vec();
        out.append(&mut sealed);
        out
    }

    /// The plain text of a value sealed for `name`; `None` when it does not open (another
    /// key, another name, or tampered with).
    pub(crate) fn open(&self, name: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .aead
            .open_in_place(nonce, Aad::from(name.as_bytes()), &mut buffer)
            .ok()?;
        Some(plain.to_vec())
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(hex: &str) -> Sealer {
        Sealer::from_secret("cluster.encryption_key", &SecretString::from(hex)).expect("valid")
    }

    #[test]
    fn values_open_only_under_their_name_and_key() {
        let one = sealer(&"ab".repeat(32));
        let sealed = one.seal("s:1", b"seam_cst_secret");
        assert!(
            !sealed.windows(8).any(|w| w == b"seam_cst"),
            "no plain text"
        );
        assert_eq!(
            one.open("s:1", &sealed).as_deref(),
            Some(&b"seam_cst_secret"[..])
        );
        assert_eq!(one.open("s:2", &sealed), None, "bound to its name");
        assert_eq!(
            sealer(&"cd".repeat(32)).open("s:1", &sealed),
            None,
            "another key"
        );
        let mut tampered = sealed.clone();
        tampered[NONCE_LEN] ^= 1;
        assert_eq!(one.open("s:1", &tampered), None);
        assert_ne!(
            one.seal("s:1", b"x"),
            one.seal("s:1", b"x"),
            "a fresh nonce each time"
        );
        assert_eq!(one.name("alice"), one.name("alice"));
        assert_ne!(one.name("alice"), sealer(&"cd".repeat(32)).name("alice"));
    }

    #[test]
    fn the_key_must_be_64_hex_digits_and_is_never_echoed() {
        for bad in [
            "short",
            &"zz".repeat(32),
            &"ab".repeat(31),
            &"ab".repeat(33),
        ] {
            let error = Sealer::from_secret("cluster.encryption_key", &SecretString::from(bad))
                .err()
                .expect("refused")
                .to_string();
            assert!(error.contains("cluster.encryption_key"), "{error}");
            assert!(!error.contains(bad), "{error}");
        }
    }
}
