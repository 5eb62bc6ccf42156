//! Logins ended by a logout or an admin revoke. Per user key, the second of the last revocation: a
//! login issued at or before it, or one without `iat` (whose age cannot be told), is refused
//! from then on, while a later sign-in works at once.
//!
//! Kept apart from the users cache, so that evicting a user forgets nothing here, and for as
//! long as a login it refuses could still be valid: no login lives longer than
//! `auth.max_token_lifetime_secs` (plus the leeway), so neither does a record. Bounded like the
//! users cache (`sessions.max_entries`).

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

pub(crate) struct Revocations(Cache<Arc<str>, u64>);

impl Revocations {
    pub(crate) fn new(max_entries: u64, longest_login: Duration) -> Self {
        Self(
            Cache::builder()
                .max_capacity(max_entries)
                .time_to_live(longest_login)
                .build(),
        )
    }

    /// Ends every login of the user with this key issued at or before `now` (Unix seconds).
    pub(crate) fn revoke(&self, user_key: &str, now: u64) {
        self.0.insert(user_key.into(), now);
    }

    /// Whether a login of the user with this key issued at `issued_at` was ended by a
    /// revocation.
    pub(crate) fn refuses(&self, user_key: &str, issued_at: Option<u64>) -> bool {
        self.0
            .get(user_key)
            .is_some_and(|revoked| issued_at.is_none_or(|iat| iat <= revoked))
    }
}
