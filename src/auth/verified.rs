//! Tokens that verified once, remembered until they expire, so that a browser that sends the
//! same login on every page load costs one signature check, not one per request.
//!
//! Keyed by the token's SHA-256, never by a prefix or a fast non-cryptographic hash: a forged
//! token must not be able to collide with a verified one. Bounded in size; an entry is used
//! only while its `exp` (with the configured leeway) has not passed.

use std::sync::Arc;

use aws_lc_rs::digest::{SHA256, digest};
use moka::future::Cache;

use super::LoginData;

pub(super) struct Verified {
    pub(super) login: Arc<LoginData>,
    /// The token's `exp`, in Unix seconds.
    pub(super) exp: u64,
}

pub(super) struct VerifiedTokens {
    cache: Cache<[u8; 32], Arc<Verified>>,
    leeway: u64,
}

pub(super) fn key(token: &str) -> [u8; 32] {
    let mut key = [0; 32];
    key.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    key
}

impl VerifiedTokens {
    pub(super) fn new(max_entries: u64, leeway: u64) -> Self {
        Self {
            cache: Cache::builder().max_capacity(max_entries).build(),
            leeway,
        }
    }

    /// The login of a token that verified before and has not expired since.
    pub(super) async fn get(&self, key: &[u8; 32]) -> Option<Arc<LoginData>> {
        let verified = self.cache.get(key).await?;
        let now = jsonwebtoken::get_current_timestamp();
        // The same rule jsonwebtoken applies to `exp`.
        (verified.exp.saturating_add(self.leeway) >= now).then(|| verified.login.clone())
    }

    pub(super) async fn insert(&self, key: [u8; 32], login: Arc<LoginData>, exp: u64) {
        self.cache
            .insert(key, Arc::new(Verified { login, exp }))
            .await;
    }
}
