//! A bounded cache that serves an entry only while it is fresh, and lets exactly one caller per
//! key refresh it while the others wait for that result. Errors are not cached; when a refresh
//! fails, an older entry that the caller still accepts is served instead ("stale").
//!
//! Freshness is judged by the caller (against `clock::Clock`), not by moka's timers, so that
//! it can be tested without waiting; moka only bounds the size, evicting the least useful
//! entries first (no per-entry timers: they cost memory on every entry and decide nothing).

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;

use moka::future::Cache;
use moka::notification::RemovalCause;
use moka::ops::compute::{CompResult, Op};

use crate::metrics::Metrics;

/// How a value was obtained, for the request log and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Served from the cache, no waiting.
    Hit,
    /// This caller refreshed it.
    Miss,
    /// Another caller was already refreshing it; this one waited for that result.
    Shared,
    /// The refresh failed and an older entry was served.
    Stale,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
            Outcome::Shared => "shared",
            Outcome::Stale => "stale",
        }
    }
}

/// What a lookup found: the value, how it was obtained, and the entry it replaced, if any.
pub(crate) struct Found<V> {
    pub(crate) value: V,
    pub(crate) outcome: Outcome,
    pub(crate) replaced: Option<V>,
}

pub(crate) struct FreshCache<V> {
    name: &'static str,
    entries: Cache<String, V>,
    metrics: Arc<Metrics>,
}

impl<V: Clone + Send + Sync + 'static> FreshCache<V> {
    pub(crate) fn new(name: &'static str, max_entries: u64, metrics: Arc<Metrics>) -> Self {
        let evictions = metrics.cache_evictions.with_label_values(&[name]);
        Self {
            name,
            entries: Cache::builder()
                .max_capacity(max_entries)
                .eviction_listener(move |_, _, cause| {
                    if cause == RemovalCause::Size {
                        evictions.inc();
                    }
                })
                .build(),
            metrics,
        }
    }

    /// The cached value for `key` if `is_fresh` accepts it, otherwise the result of `refresh`,
    /// which runs at most once at a time per key. If `refresh` fails and the cached value
    /// passes `usable_stale`, that value is served.
    pub(crate) async fn get_or_refresh<E, Fut>(
        &self,
        key: &str,
        is_fresh: impl Fn(&V) -> bool,
        usable_stale: impl Fn(&V) -> bool,
        refresh: impl FnOnce() -> Fut,
    ) -> Result<Found<V>, E>
    where
        E: Display + Send + Sync + 'static,
        Fut: Future<Output = Result<V, E>>,
    {
        let result = self.lookup(key, is_fresh, usable_stale, refresh).await;
        if let Ok(found) = &result {
            self.metrics
                .cache_lookups
                .with_label_values(&[self.name, found.outcome.as_str()])
                .inc();
        }
        result
    }

    async fn lookup<E, Fut>(
        &self,
        key: &str,
        is_fresh: impl Fn(&V) -> bool,
        usable_stale: impl Fn(&V) -> bool,
        refresh: impl FnOnce() -> Fut,
    ) -> Result<Found<V>, E>
    where
        E: Display + Send + Sync + 'static,
        Fut: Future<Output = Result<V, E>>,
    {
        if let Some(value) = self.entries.get(key).await
            && is_fresh(&value)
        {
            return Ok(Found {
                value,
                outcome: Outcome::Hit,
                replaced: None,
            });
        }
        let mut stale = false;
        let mut replaced = None;
        // moka runs compute operations on one key one at a time, so concurrent misses queue
        // here and find the first one's value fresh.
        let computed = self
            .entries
            .entry_by_ref(key)
            .and_try_compute_with(|current| async {
                match current {
                    Some(entry) if is_fresh(entry.value()) => Ok(Op::Nop),
                    current => match refresh().await {
                        Ok(value) => {
                            replaced = current.map(|entry| entry.into_value());
                            Ok(Op::Put(value))
                        }
                        Err(error) if current.as_ref().is_some_and(|e| usable_stale(e.value())) => {
                            tracing::warn!(cache = self.name, %error, "refresh failed; serving the previous entry");
                            stale = true;
                            Ok(Op::Nop)
                        }
                        Err(error) => Err(error),
                    },
                }
            })
            .await?;
        let (value, outcome) = match computed {
            CompResult::Inserted(entry) | CompResult::ReplacedWith(entry) => {
                (entry.into_value(), Outcome::Miss)
            }
            CompResult::Unchanged(entry) if stale => (entry.into_value(), Outcome::Stale),
            CompResult::Unchanged(entry) => (entry.into_value(), Outcome::Shared),
            CompResult::StillNone(_) | CompResult::Removed(_) => {
                unreachable!("the compute closure only puts or keeps an entry")
            }
        };
        Ok(Found {
            value,
            outcome,
            replaced,
        })
    }

    /// Counts a hit served from a memo of this cache's entries (see `sessions::Memo`).
    pub(crate) fn count_hit(&self) {
        self.metrics
            .cache_lookups
            .with_label_values(&[self.name, Outcome::Hit.as_str()])
            .inc();
    }

    /// Removes the entry for `key`, returning it.
    pub(crate) async fn remove(&self, key: &str) -> Option<V> {
        self.entries.remove(key).await
    }

    /// Entries held, once moka has applied its pending bookkeeping.
    pub(crate) async fn len(&self) -> u64 {
        self.entries.run_pending_tasks().await;
        self.entries.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::future::join_all;
    use std::sync::atomic::{AtomicUsize, Ordering};

    impl<V> Found<V> {
        fn pair(self) -> (V, Outcome) {
            (self.value, self.outcome)
        }
    }

    fn cache() -> FreshCache<u32> {
        FreshCache::new("test", 10, Arc::new(Metrics::new()))
    }

    #[actix_web::test]
    async fn concurrent_misses_share_one_refresh_and_errors_are_not_kept() {
        let cache = cache();
        let refreshes = AtomicUsize::new(0);
        let refresh = || async {
            refreshes.fetch_add(1, Ordering::SeqCst);
            actix_web::rt::task::yield_now().await;
            Ok::<_, String>(7)
        };
        // join_all polls them together, so they really overlap.
        let results =
            join_all((0..50).map(|_| cache.get_or_refresh("k", |_| true, |_| false, refresh)))
                .await;
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Ok(Found { value: 7, .. })))
        );
        assert_eq!(refreshes.load(Ordering::SeqCst), 1);

        let failed = cache
            .get_or_refresh("e", |_| true, |_| true, || async { Err::<u32, _>("down") })
            .await
            .map(Found::pair);
        assert_eq!(failed, Err("down"), "nothing stale to fall back on");
        let recovered = cache
            .get_or_refresh("e", |_| true, |_| false, || async { Ok::<_, &str>(1) })
            .await
            .map(Found::pair);
        assert_eq!(recovered, Ok((1, Outcome::Miss)));
    }

    #[actix_web::test]
    async fn stale_entries_are_refreshed_or_served_when_refreshing_fails() {
        let cache = cache();
        let ok = |v| move || async move { Ok::<_, &str>(v) };
        assert_eq!(
            cache
                .get_or_refresh("k", |_| true, |_| false, ok(1))
                .await
                .map(Found::pair),
            Ok((1, Outcome::Miss))
        );
        assert_eq!(
            cache
                .get_or_refresh("k", |v| *v == 1, |_| false, ok(2))
                .await
                .map(Found::pair),
            Ok((1, Outcome::Hit))
        );
        assert_eq!(
            cache
                .get_or_refresh("k", |v| *v == 2, |_| false, ok(2))
                .await
                .map(Found::pair),
            Ok((2, Outcome::Miss))
        );
        let down = || async { Err::<u32, _>("down") };
        assert_eq!(
            cache
                .get_or_refresh("k", |_| false, |_| true, down)
                .await
                .map(Found::pair),
            Ok((2, Outcome::Stale))
        );
        assert_eq!(
            cache
                .get_or_refresh("k", |_| false, |_| false, down)
                .await
                .map(Found::pair),
            Err("down")
        );
    }
}
