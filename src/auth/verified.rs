//! Tokens that verified once, remembered in their user's cache entry (`users`) until they
//! expire, so that a browser that sends the same login on every page load costs one signature
//! check, not one per request.
//!
//! A token is recognised by its SHA-256, never by a prefix or a fast non-cryptographic hash:
//! a forged token must not be able to collide with a verified one. To find the user's entry
//! without verifying, the token's claims are first read unverified; they are trusted only when
//! the token's digest matches one that verified, that is when they are, byte for byte, the
//! claims of a verified token.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use aws_lc_rs::digest::{SHA256, digest as sha256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

pub(crate) type Digest = [u8; 32];

pub(super) fn digest(token: &str) -> Digest {
    let mut key = [0; 32];
    key.copy_from_slice(sha256(&SHA256, token.as_bytes()).as_ref());
    key
}

/// One user's tokens that verified, newest last. Usually one: a browser sends the same login
/// until the identity provider renews it.
pub(crate) struct VerifiedTokens(Mutex<Vec<Verified>>);

struct Verified {
    digest: Digest,
    /// The token's `exp`, in Unix seconds.
    exp: u64,
}

impl VerifiedTokens {
    pub(crate) fn new() -> Self {
        Self(Mutex::new(Vec::new()))
    }

    /// Whether a token with this digest verified and, with `leeway`, has not expired since
    /// (the same rule jsonwebtoken applies to `exp`).
    pub(super) fn knows(&self, digest: &Digest, now: u64, leeway: u64) -> bool {
        let tokens = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        tokens
            .iter()
            .any(|t| t.digest == *digest && t.exp.saturating_add(leeway) >= now)
    }

    /// Remembers a token that just verified; keeps at most `max`, dropping expired ones first,
    /// then the oldest.
    pub(super) fn remember(&self, digest: Digest, exp: u64, now: u64, leeway: u64, max: usize) {
        let mut tokens = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        tokens.retain(|t| t.digest != digest && t.exp.saturating_add(leeway) >= now);
        if tokens.len() >= max {
            let excess = tokens.len() + 1 - max;
            tokens.drain(..excess);
        }
        // Exactly as many as held: a Vec's first push would make room for four, and one is usual.
        tokens.reserve_exact(1);
        tokens.push(Verified { digest, exp });
    }
}

/// A decoded token payload's room: on the stack, as the claims are read on every repeat
/// handshake, and payloads are small.
pub(super) type PayloadBuffer = [u8; 2048];

/// The claims the service reads, picked out of a payload without building the others.
#[derive(Default)]
pub(super) struct Picked<'p> {
    /// The identity claim as a user id, borrowed from the payload when it needs no unescaping.
    pub(super) identity: Option<Cow<'p, str>>,
    pub(super) accounts: Option<Value>,
}

/// The identity claim and the accounts claim of `token`, unverified, decoded into `buffer`.
/// `None` for anything unusual, such as a payload over 2 KiB (the full verification then
/// decides).
pub(super) fn unverified_claims<'p>(
    token: &str,
    buffer: &'p mut PayloadBuffer,
    identity: &str,
    accounts: Option<&str>,
) -> Option<Picked<'p>> {
    let payload = token.split('.').nth(1)?;
    let len = URL_SAFE_NO_PAD.decode_slice(payload, buffer).ok()?;
    let buffer: &'p PayloadBuffer = buffer;
    let mut claims = serde_json::Deserializer::from_slice(&buffer[..len]);
    Pick { identity, accounts }.deserialize(&mut claims).ok()
}

struct Pick<'n> {
    identity: &'n str,
    accounts: Option<&'n str>,
}

impl<'de> DeserializeSeed<'de> for Pick<'_> {
    type Value = Picked<'de>;

    fn deserialize<D: Deserializer<'de>>(self, claims: D) -> Result<Picked<'de>, D::Error> {
        claims.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Pick<'_> {
    type Value = Picked<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }

    /// A repeated claim keeps its last value, as in the map the verification reads.
    fn visit_map<A: MapAccess<'de>>(self, mut claims: A) -> Result<Picked<'de>, A::Error> {
        let mut picked = Picked::default();
        // Borrowed keys: a key with escapes fails the pick, and verification decides instead.
        while let Some(name) = claims.next_key::<&'de str>()? {
            if name == self.identity {
                picked.identity = Some(claims.next_value_seed(UserId)?);
            } else if Some(name) == self.accounts {
                picked.accounts = Some(claims.next_value()?);
            } else {
                claims.next_value::<IgnoredAny>()?;
            }
        }
        Ok(picked)
    }
}

/// Reads the identity claim as the verification does (`super::user_id`): a string as it is,
/// an integer in decimal.
struct UserId;

impl<'de> DeserializeSeed<'de> for UserId {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, claim: D) -> Result<Cow<'de, str>, D::Error> {
        claim.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UserId {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or an integer")
    }

    fn visit_borrowed_str<E: de::Error>(self, id: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(id))
    }

    fn visit_str<E: de::Error>(self, id: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(id.to_owned()))
    }

    fn visit_u64<E: de::Error>(self, id: u64) -> Result<Self::Value, E> {
        Ok(Cow::Owned(id.to_string()))
    }

    fn visit_i64<E: de::Error>(self, id: i64) -> Result<Self::Value, E> {
        Ok(Cow::Owned(id.to_string()))
    }
}
