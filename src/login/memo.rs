//! Tokens that verified once, remembered in their user's cache entry (`users`) until they
//! expire, so that a browser that sends the same login on every page load costs one signature
//! check, not one per request.
//!
//! A token is recognised by its SHA-256, never by a prefix or a fast non-cryptographic hash:
//! a forged token must not be able to collide with a verified one. To find the user's entry
//! without verifying, the token's claims are first read unverified (`auth::Verifier::unverified`);
//! they are trusted only when the token's digest matches one that verified, that is when they
//! are, byte for byte, the claims of a verified token.

use std::sync::{Mutex, PoisonError};

use aws_lc_rs::digest::{SHA256, digest as sha256};

use crate::auth::KeyTrust;

pub(crate) type Digest = [u8; 32];

pub(crate) fn digest(token: &str) -> Digest {
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
    /// The key that verified it: the token is known only while that key is trusted.
    key: KeyTrust,
}

impl VerifiedTokens {
    pub(crate) fn new() -> Self {
        Self(Mutex::new(Vec::new()))
    }

    /// `Ok` when `token` verified, with a key still trusted, and, with `leeway`, has not
    /// expired since (the same rule jsonwebtoken applies to `exp`); else its digest, to
    /// remember it by once it verifies.
    pub(crate) fn recall(&self, token: &str, now: u64, leeway: u64) -> Result<(), Digest> {
        let digest = digest(token);
        match self.knows(&digest, now, leeway) {
            true => Ok(()),
            false => Err(digest),
        }
    }

    /// Whether a token with this digest verified, with a key still trusted, and, with
    /// `leeway`, has not expired since.
    fn knows(&self, digest: &Digest, now: u64, leeway: u64) -> bool {
        let tokens = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        tokens
            .iter()
            .any(|t| t.digest == *digest && t.exp.saturating_add(leeway) >= now && t.key.holds())
    }

    /// Forgets every token: a logout ended them.
    pub(crate) fn forget_all(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Remembers a token that just verified with `key`; keeps at most `max`, dropping expired
    /// or untrusted ones first, then the oldest.
    pub(crate) fn remember(
        &self,
        digest: Digest,
        key: KeyTrust,
        exp: u64,
        now: u64,
        leeway: u64,
        max: usize,
    ) {
        let mut tokens = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        tokens
            .retain(|t| t.digest != digest && t.exp.saturating_add(leeway) >= now && t.key.holds());
        if tokens.len() >= max {
            let excess = tokens.len() + 1 - max;
            tokens.drain(..excess);
        }
        // Exactly as many as held: a Vec's first push would make room for four, and one is usual.
        tokens.reserve_exact(1);
        tokens.push(Verified { digest, exp, key });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_user_keeps_its_newest_tokens() {
        let tokens = VerifiedTokens::new();
        let key = KeyTrust::new();
        let now = 1_000;
        for n in 0..5u8 {
            tokens.remember([n; 32], key.clone(), now + 60, now, 0, 4);
        }
        assert!(!tokens.knows(&[0; 32], now, 0), "the oldest went first");
        assert!((1..5u8).all(|n| tokens.knows(&[n; 32], now, 0)));
        // An expired one goes before any live one.
        tokens.remember([9; 32], key.clone(), now - 1, now - 2, 0, 4);
        tokens.remember([8; 32], key.clone(), now + 60, now, 0, 4);
        assert!(!tokens.knows(&[9; 32], now, 0));
        assert!((2..5u8).chain([8]).all(|n| tokens.knows(&[n; 32], now, 0)));
    }

    #[test]
    fn a_token_is_forgotten_once_its_key_is_no_longer_trusted() {
        let tokens = VerifiedTokens::new();
        let (kept, dropped) = (KeyTrust::new(), KeyTrust::new());
        tokens.remember([1; 32], kept.clone(), 2_000, 1_000, 0, 4);
        tokens.remember([2; 32], dropped.clone(), 2_000, 1_000, 0, 4);
        assert!(tokens.knows(&[2; 32], 1_000, 0));
        dropped.withdraw();
        assert!(!tokens.knows(&[2; 32], 1_000, 0));
        assert!(tokens.knows(&[1; 32], 1_000, 0));
    }
}
