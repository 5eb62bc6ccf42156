//! A bounded cache that serves an entry only while it is fresh, and lets exactly one caller per
//! key refresh it while the others wait for that result. Errors are not cached.
//!
//! Freshness is judged by the caller (against `clock::Clock`), not by moka's timers, so that
//! it can be tested without waiting; moka bounds the size and drops entries that outlive
//! `max_age`, which only reclaims memory.

use std::future::Future;
use std::time::Duration;

use moka::future::Cache;
use moka::ops::compute::{CompResult, Op};

/// How a value was obtained, for the request log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Served from the cache, no waiting.
    Hit,
    /// This caller refreshed it.
    Miss,
    /// Another caller was already refreshing it; this one waited for that result.
    Shared,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
            Outcome::Shared => "shared",
        }
    }
}

pub(crate) struct FreshCache<V> {
    entries: Cache<String, V>,
}

impl<V: Clone + Send + Sync + 'static> FreshCache<V> {
    pub(crate) fn new(max_entries: u64, max_age: Duration) -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(max_entries)
                .time_to_live(max_age)
                .build(),
        }
    }

    /// The cached value for `key` if `is_fresh` accepts it, otherwise the result of `refresh`,
    /// which runs at most once at a time per key.
    pub(crate) async fn get_or_refresh<E, Fut>(
        &self,
        key: &str,
        is_fresh: impl Fn(&V) -> bool,
        refresh: impl FnOnce() -> Fut,
    ) -> Result<(V, Outcome), E>
    where
        E: Send + Sync + 'static,
        Fut: Future<Output = Result<V, E>>,
    {
        if let Some(value) = self.entries.get(key).await
            && is_fresh(&value)
        {
            return Ok((value, Outcome::Hit));
        }
        // moka runs compute operations on one key one at a time, so concurrent misses queue
        // here and find the first one's value fresh.
        let computed = self
            .entries
            .entry_by_ref(key)
            .and_try_compute_with(|current| async {
                match current {
                    Some(entry) if is_fresh(entry.value()) => Ok(Op::Nop),
                    _ => refresh().await.map(Op::Put),
                }
            })
            .await?;
        Ok(match computed {
            CompResult::Inserted(entry) | CompResult::ReplacedWith(entry) => {
                (entry.into_value(), Outcome::Miss)
            }
            CompResult::Unchanged(entry) => (entry.into_value(), Outcome::Shared),
            CompResult::StillNone(_) | CompResult::Removed(_) => {
                unreachable!("the compute closure only puts or keeps a fresh entry")
            }
        })
    }

    pub(crate) async fn invalidate(&self, key: &str) {
        self.entries.invalidate(key).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::future::join_all;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[actix_web::test]
    async fn concurrent_misses_share_one_refresh_and_errors_are_not_kept() {
        let cache = FreshCache::<u32>::new(10, Duration::from_secs(60));
        let refreshes = AtomicUsize::new(0);
        let refresh = || async {
            refreshes.fetch_add(1, Ordering::SeqCst);
            actix_web::rt::task::yield_now().await;
            Ok::<_, ()>(7)
        };
        // join_all polls them together, so they really overlap.
        let results = join_all((0..50).map(|_| cache.get_or_refresh("k", |_| true, refresh))).await;
        assert!(results.iter().all(|r| matches!(r, Ok((7, _)))));
        assert_eq!(refreshes.load(Ordering::SeqCst), 1);

        let failed = cache
            .get_or_refresh("e", |_| true, || async { Err::<u32, _>("down") })
            .await;
        assert_eq!(failed, Err("down"));
        let recovered = cache
            .get_or_refresh("e", |_| true, || async { Ok::<_, &str>(1) })
            .await;
        assert_eq!(recovered, Ok((1, Outcome::Miss)));
    }

    #[actix_web::test]
    async fn stale_entries_are_refreshed() {
        let cache = FreshCache::<u32>::new(10, Duration::from_secs(60));
        let first = cache
            .get_or_refresh("k", |_| true, || async { Ok::<_, ()>(1) })
            .await;
        assert_eq!(first, Ok((1, Outcome::Miss)));
        let hit = cache
            .get_or_refresh("k", |v| *v == 1, || async { Ok::<_, ()>(2) })
            .await;
        assert_eq!(hit, Ok((1, Outcome::Hit)));
        let stale = cache
            .get_or_refresh("k", |v| *v == 2, || async { Ok::<_, ()>(2) })
            .await;
        assert_eq!(stale, Ok((2, Outcome::Miss)));
    }
}
