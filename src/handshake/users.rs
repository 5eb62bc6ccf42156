//! The user cache: everything the service keeps about a user, in one bounded entry keyed by
//! the user's key (`login::identity`: the issuer's prefix and the user id). The handshake owns
//! it; the login admission finds and creates entries here and keeps the tokens that verified
//! in them (`login::memo`); logouts and Seam's events clear what the handshake filled.
//!
//! One moka entry per user, not one per kind of thing kept: moka spends about 350 bytes on
//! each entry, and a repeat handshake then costs one cache lookup. When the cache is full the
//! least useful users go first, with everything kept about them. moka's `sync` cache: nothing
//! here waits, and its lookups add no future to every handshake's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use moka::notification::RemovalCause;
use moka::sync::Cache;
use prometheus::IntCounter;
use time::OffsetDateTime;

use super::accounts::AccountSet;
use super::issue::IssuedSession;
use crate::cache::{Flight, Slot};
use crate::login::VerifiedTokens;
use crate::metrics::Metrics;

/// The name in the cache metrics.
pub(crate) const CACHE_NAME: &str = "users";

pub(crate) struct User {
    /// The user's key (the cache key's allocation).
    pub(crate) user_key: Arc<str>,
    /// The identity namespace of the user's issuer.
    pub(crate) namespace: usize,
    /// The user's Seam key, derived once (an HMAC when `identity.key_hmac_secret` is set).
    /// Without HMAC it is the user key, and shares the cache key's allocation.
    pub(crate) user_identifier_key: Arc<str>,
    pub(crate) tokens: VerifiedTokens,
    /// Held while the user's account list or session is fetched from Seam: concurrent
    /// handshakes of one user wait for that answer instead of repeating the call.
    pub(crate) flight: Flight,
    pub(crate) accounts: Slot<Lookup>,
    pub(crate) session: Slot<Arc<IssuedSession>>,
}

/// A user's accounts as Seam listed them.
#[derive(Clone)]
pub(crate) struct Lookup {
    pub(crate) accounts: AccountSet,
    pub(crate) fetched_at: OffsetDateTime,
}

pub(crate) struct Users {
    entries: Cache<Arc<str>, Arc<User>>,
    /// The users whose Seam key is not their user key (`identity.key_hmac_secret`), by Seam
    /// key: what a fleet event that names a Seam key finds its user by, without a scan. An
    /// entry leaves with its user.
    by_seam_key: Arc<SeamKeys>,
    /// Entries looked at to find a user by Seam key.
    visited: IntCounter,
}

#[derive(Default)]
struct SeamKeys(Mutex<HashMap<Arc<str>, Weak<User>>>);

impl SeamKeys {
    fn entries(&self) -> MutexGuard<'_, HashMap<Arc<str>, Weak<User>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `user` left the cache: its Seam key leaves the index, unless a newer entry of the same
    /// user holds it now.
    fn left(&self, user: &Arc<User>) {
        let mut entries = self.entries();
        if (entries.get(&user.user_identifier_key))
            .is_some_and(|held| std::ptr::eq(held.as_ptr(), Arc::as_ptr(user)))
        {
            entries.remove(&user.user_identifier_key);
        }
    }
}

impl Users {
    pub(crate) fn new(max_entries: u64, metrics: &Metrics) -> Self {
        let evictions = metrics.cache_evictions.with_label_values(&[CACHE_NAME]);
        let by_seam_key = Arc::new(SeamKeys::default());
        let index = by_seam_key.clone();
        Self {
            entries: Cache::builder()
                .max_capacity(max_entries)
                .eviction_listener(move |_, user: Arc<User>, cause| {
                    index.left(&user);
                    if cause == RemovalCause::Size {
                        evictions.inc();
                    }
                })
                .build(),
            by_seam_key,
            visited: metrics.cache_visits.with_label_values(&[CACHE_NAME]),
        }
    }

    pub(crate) fn get(&self, user_key: &str) -> Option<Arc<User>> {
        self.entries.get(user_key)
    }

    /// The entry of the user with this key in `namespace`, created empty the first time;
    /// `seam_key` derives their Seam key (`None`: the user key itself) and is called only then.
    pub(crate) fn get_or_insert(
        &self,
        user_key: &str,
        namespace: usize,
        seam_key: impl FnOnce() -> Option<String>,
    ) -> Arc<User> {
        if let Some(user) = self.get(user_key) {
            return user;
        }
        let key: Arc<str> = user_key.into();
        let derived: Option<Arc<str>> = seam_key().map(Into::into);
        let user_identifier_key = derived.clone().unwrap_or_else(|| key.clone());
        let user = self
            .entries
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(User {
                    user_key: key,
                    namespace,
                    user_identifier_key,
                    tokens: VerifiedTokens::new(),
                    flight: Flight::new(()),
                    accounts: Slot::new(),
                    session: Slot::new(),
                })
            })
            .into_value();
        if let Some(derived) = derived {
            (self.by_seam_key.entries()).insert(derived, Arc::downgrade(&user));
        }
        user
    }

    /// Drops the cached session of the user with this Seam key, if they are cached here.
    pub(crate) async fn drop_session(&self, user_identifier_key: &str) {
        if let Some(user) = self.with_key(user_identifier_key) {
            user.session.clear(&user.flight).await;
        }
    }

    /// The cached user whose Seam key this is: the user key itself, or found in the index.
    fn with_key(&self, user_identifier_key: &str) -> Option<Arc<User>> {
        let found = (self.get(user_identifier_key))
            .or_else(|| {
                (self.by_seam_key.entries().get(user_identifier_key)).and_then(Weak::upgrade)
            })
            .filter(|user| &*user.user_identifier_key == user_identifier_key);
        if found.is_some() {
            self.visited.inc();
        }
        found
    }

    /// Drops a user as a full cache would.
    #[cfg(test)]
    pub(crate) fn evict(&self, user_key: &str) {
        self.entries.invalidate(user_key);
    }

    /// Drops every user: what is kept about them can no longer be vouched for.
    pub(crate) fn clear(&self) {
        self.entries.invalidate_all();
    }

    /// Users held, once moka has applied its pending bookkeeping.
    pub(crate) fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
}
