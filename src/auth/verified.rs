//! Tokens that verified once, remembered in their user's cache entry (`users`) until they
//! expire, so that a browser that sends the same login on every page load costs one signature
//! check, not one per request.
//!
//! A token is recognised by its SHA-256, never by a prefix or a fast non-cryptographic hash:
//! a forged token must not be able to collide with a verified one. To find the user's entry
//! without verifying, the token's claims are first read unverified; they are trusted only when
//! the token's digest matches one that verified, that is when they are, byte for byte, the
//! claims of a verified token.

use std::sync::{Mutex, PoisonError};

use aws_lc_rs::digest::{SHA256, digest as sha256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
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

/// The claims the service reads, picked out of a payload without building the others.
#[derive(Default)]
pub(super) struct Picked {
    pub(super) identity: Option<Value>,
    pub(super) accounts: Option<Value>,
}

/// The identity claim and the accounts claim of `token`, unverified. `None` for anything
/// unusual, such as a payload over 2 KiB (the full verification then decides).
pub(super) fn unverified_claims(
    token: &str,
    identity: &str,
    accounts: Option<&str>,
) -> Option<Picked> {
    let payload = token.split('.').nth(1)?;
    // Decoded on the stack: this runs on every repeat handshake, and payloads are small.
    let mut buffer = [0u8; 2048];
    let len = URL_SAFE_NO_PAD.decode_slice(payload, &mut buffer).ok()?;
    let mut claims = serde_json::Deserializer::from_slice(&buffer[..len]);
    Pick { identity, accounts }.deserialize(&mut claims).ok()
}

struct Pick<'n> {
    identity: &'n str,
    accounts: Option<&'n str>,
}

impl<'de> DeserializeSeed<'de> for Pick<'_> {
    type Value = Picked;

    fn deserialize<D: Deserializer<'de>>(self, claims: D) -> Result<Picked, D::Error> {
        claims.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Pick<'_> {
    type Value = Picked;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object of claims")
    }

    /// A repeated claim keeps its last value, as in the map the verification reads.
    fn visit_map<A: MapAccess<'de>>(self, mut claims: A) -> Result<Picked, A::Error> {
        let mut picked = Picked::default();
        // Borrowed keys: a key with escapes fails the pick, and verification decides instead.
        while let Some(name) = claims.next_key::<&'de str>()? {
            if name == self.identity {
                picked.identity = Some(claims.next_value()?);
            } else if Some(name) == self.accounts {
                picked.accounts = Some(claims.next_value()?);
            } else {
                claims.next_value::<IgnoredAny>()?;
            }
        }
        Ok(picked)
    }
}
