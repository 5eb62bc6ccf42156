//! One cached value with single-flight refresh: served while fresh, refreshed by exactly one
//! caller at a time while the others wait for that result. Errors are not kept; when a refresh
//! fails, an older value that the caller still accepts is served instead ("stale"), in the form
//! the caller gives it, which is kept in its place (a stale session says when to come back, and
//! is fresh until then: the callers that waited for the failed refresh take it, and do not
//! each repeat the call).
//!
//! Freshness is judged by the caller (against `clock::Clock`), so that it can be tested
//! without waiting. Slots live inside the per-user cache entries of `handshake::users` (and the
//! readiness check's), so a cached user costs one bounded moka entry, not one per kind of thing
//! kept about them.

use std::fmt::Display;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use prometheus::IntCounter;

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
    /// The refresh failed and an older value was served.
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

/// What a lookup found, and how.
pub(crate) struct Found<V> {
    pub(crate) value: V,
    pub(crate) outcome: Outcome,
}

/// The lookup counters of one kind of cached value, resolved once: a label lookup on every
/// request shows in profiles of the hot path. One named counter per outcome, so that a new
/// outcome cannot compile without its counter.
pub(crate) struct Lookups {
    name: &'static str,
    hit: IntCounter,
    miss: IntCounter,
    shared: IntCounter,
    stale: IntCounter,
}

impl Lookups {
    pub(crate) fn new(name: &'static str, metrics: &Metrics) -> Self {
        let counter = |outcome: Outcome| {
            metrics
                .cache_lookups
                .with_label_values(&[name, outcome.as_str()])
        };
        Self {
            name,
            hit: counter(Outcome::Hit),
            miss: counter(Outcome::Miss),
            shared: counter(Outcome::Shared),
            stale: counter(Outcome::Stale),
        }
    }

    fn counter(&self, outcome: Outcome) -> &IntCounter {
        match outcome {
            Outcome::Hit => &self.hit,
            Outcome::Miss => &self.miss,
            Outcome::Shared => &self.shared,
            Outcome::Stale => &self.stale,
        }
    }

    pub(crate) fn count(&self, outcome: Outcome) {
        self.counter(outcome).inc();
    }

    #[cfg(test)]
    pub(crate) fn by_outcome_count(&self, outcome: Outcome) -> u64 {
        self.counter(outcome).get()
    }
}

/// The flight lock is the caller's, shared by the slots of one cache entry (one lock per
/// entry, not per slot, to keep entries small): held while a refresh runs, so that concurrent
/// callers wait for it instead of repeating it, and a `clear` waits for it instead of being
/// undone by it.
pub(crate) type Flight = tokio::sync::Mutex<()>;

pub(crate) struct Slot<V> {
    value: Mutex<Option<V>>,
    /// Set once a background refresh of the current value has started; a new value clears it.
    background: AtomicBool,
}

impl<V: Clone> Slot<V> {
    pub(crate) fn new() -> Self {
        Self {
            value: Mutex::new(None),
            background: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<V>> {
        self.value.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value held now, fresh or not.
    pub(crate) fn current(&self) -> Option<V> {
        self.lock().clone()
    }

    /// The value if `is_fresh` accepts it, otherwise the result of `refresh`, which runs at
    /// most once at a time. If `refresh` fails and `stale` gives a value for the held one and
    /// the error, that value is served and kept.
    pub(crate) async fn get_or_refresh<E, Fut>(
        &self,
        flight: &Flight,
        lookups: &Lookups,
        is_fresh: impl Fn(&V) -> bool,
        stale: impl Fn(&V, &E) -> Option<V>,
        refresh: impl FnOnce() -> Fut,
    ) -> Result<Found<V>, E>
    where
        E: Display,
        Fut: Future<Output = Result<V, E>>,
    {
        let found = match self.current().filter(&is_fresh) {
            Some(value) => Ok(Found {
                value,
                outcome: Outcome::Hit,
            }),
            // Boxed: waiting for the flight and for `refresh` takes a large future (Seam calls),
            // which inline would be part of every hit's, and of every handler's that awaits one.
            None => {
                let refreshed = self.refresh(flight, lookups.name, is_fresh, stale, refresh);
                Box::pin(refreshed).await
            }
        };
        if let Ok(found) = &found {
            lookups.count(found.outcome);
        }
        found
    }

    /// The miss path: waits for the flight, then refreshes unless the holder before did.
    async fn refresh<E, Fut>(
        &self,
        flight: &Flight,
        name: &str,
        is_fresh: impl Fn(&V) -> bool,
        stale: impl Fn(&V, &E) -> Option<V>,
        refresh: impl FnOnce() -> Fut,
    ) -> Result<Found<V>, E>
    where
        E: Display,
        Fut: Future<Output = Result<V, E>>,
    {
        let found = |value, outcome| Ok(Found { value, outcome });
        let _flight = flight.lock().await;
        // Whoever held the flight before us may have refreshed it meanwhile.
        let current = self.current();
        if let Some(value) = current.clone().filter(&is_fresh) {
            return found(value, Outcome::Shared);
        }
        match refresh().await {
            Ok(value) => {
                *self.lock() = Some(value.clone());
                self.background.store(false, Ordering::Relaxed);
                found(value, Outcome::Miss)
            }
            Err(error) => match current.and_then(|value| stale(&value, &error)) {
                Some(value) => {
                    tracing::warn!(request_id = %crate::telemetry::CurrentRequest, cache = name, %error, "refresh failed; serving the previous value");
                    *self.lock() = Some(value.clone());
                    self.background.store(false, Ordering::Relaxed);
                    found(value, Outcome::Stale)
                }
                None => Err(error),
            },
        }
    }

    /// Claims the one background refresh of the current value: `false` if it was claimed.
    pub(crate) fn claim_background_refresh(&self) -> bool {
        !self.background.swap(true, Ordering::Relaxed)
    }

    /// Puts `value` in the slot, after any refresh in flight, which would otherwise overwrite
    /// it; the value it replaces, if any.
    pub(crate) async fn replace(&self, flight: &Flight, value: V) -> Option<V> {
        let _flight = flight.lock().await;
        self.background.store(false, Ordering::Relaxed);
        self.lock().replace(value)
    }

    /// Drops the value, after any refresh in flight, which would otherwise put one back.
    pub(crate) async fn clear(&self, flight: &Flight) -> Option<V> {
        let _flight = flight.lock().await;
        self.lock().take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::future::join_all;
    use std::sync::atomic::AtomicUsize;

    impl<V> Found<V> {
        fn pair(self) -> (V, Outcome) {
            (self.value, self.outcome)
        }
    }

    fn lookups() -> Lookups {
        Lookups::new("test", &Metrics::new("/"))
    }

    fn flight() -> Flight {
        Flight::new(())
    }

    #[actix_web::test]
    async fn concurrent_misses_share_one_refresh_and_errors_are_not_kept() {
        let (slot, lookups, flight) = (Slot::new(), lookups(), flight());
        let refreshes = AtomicUsize::new(0);
        let refresh = || async {
            refreshes.fetch_add(1, Ordering::SeqCst);
            actix_web::rt::task::yield_now().await;
            Ok::<_, String>(7)
        };
        // join_all polls them together, so they really overlap.
        let results = join_all(
            (0..50).map(|_| slot.get_or_refresh(&flight, &lookups, |_| true, |_, _| None, refresh)),
        )
        .await;
        let outcomes: Vec<Outcome> = results
            .into_iter()
            .map(|r| r.expect("refreshed").outcome)
            .collect();
        assert_eq!(refreshes.load(Ordering::SeqCst), 1);
        assert_eq!(outcomes.iter().filter(|o| **o == Outcome::Miss).count(), 1);
        assert!(outcomes.iter().all(|o| *o != Outcome::Stale));

        let empty = Slot::<u32>::new();
        let failed = empty
            .get_or_refresh(
                &flight,
                &lookups,
                |_| true,
                |v, _| Some(*v),
                || async { Err::<u32, _>("down") },
            )
            .await
            .map(Found::pair);
        assert_eq!(failed, Err("down"), "nothing stale to fall back on");
        let recovered = empty
            .get_or_refresh(
                &flight,
                &lookups,
                |_| true,
                |_, _| None,
                || async { Ok::<_, &str>(1) },
            )
            .await
            .map(Found::pair);
        assert_eq!(recovered, Ok((1, Outcome::Miss)));
    }

    #[actix_web::test]
    async fn stale_values_are_refreshed_or_served_when_refreshing_fails() {
        let (slot, lookups, flight) = (Slot::new(), lookups(), flight());
        let ok = |v| move || async move { Ok::<_, &str>(v) };
        let get = |is_fresh: fn(&u32) -> bool, stale_ok: bool, refresh| {
            slot.get_or_refresh(
                &flight,
                &lookups,
                is_fresh,
                move |v, _| stale_ok.then_some(*v),
                refresh,
            )
        };
        assert_eq!(
            get(|_| true, false, ok(1)).await.map(Found::pair),
            Ok((1, Outcome::Miss))
        );
        assert_eq!(
            get(|v| *v == 1, false, ok(2)).await.map(Found::pair),
            Ok((1, Outcome::Hit))
        );
        assert_eq!(
            get(|v| *v == 2, false, ok(2)).await.map(Found::pair),
            Ok((2, Outcome::Miss))
        );
        let down = || async { Err::<u32, _>("down") };
        assert_eq!(
            slot.get_or_refresh(&flight, &lookups, |_| false, |v, _| Some(*v), down)
                .await
                .map(Found::pair),
            Ok((2, Outcome::Stale))
        );
        // What `stale` gives is served and kept: here fresh, so the next caller takes it.
        assert_eq!(
            slot.get_or_refresh(&flight, &lookups, |v| *v == 3, |_, _| Some(3), down)
                .await
                .map(Found::pair),
            Ok((3, Outcome::Stale))
        );
        assert_eq!(
            slot.get_or_refresh(&flight, &lookups, |v| *v == 3, |_, _| None, down)
                .await
                .map(Found::pair),
            Ok((3, Outcome::Hit))
        );
        assert_eq!(
            slot.get_or_refresh(&flight, &lookups, |_| false, |_, _| None, down)
                .await
                .map(Found::pair),
            Err("down")
        );
        assert_eq!(slot.clear(&flight).await, Some(3));
        assert_eq!(slot.current(), None);
        assert_eq!(slot.replace(&flight, 4).await, None);
        assert_eq!(slot.replace(&flight, 5).await, Some(4));
        assert_eq!(slot.current(), Some(5));
    }

    #[actix_web::test]
    async fn one_background_refresh_per_value() {
        let (slot, lookups, flight) = (Slot::new(), lookups(), flight());
        let ok = |v| move || async move { Ok::<_, &str>(v) };
        slot.get_or_refresh(&flight, &lookups, |_| false, |_, _| None, ok(1))
            .await
            .ok();
        assert!(slot.claim_background_refresh());
        assert!(!slot.claim_background_refresh(), "already claimed");
        slot.get_or_refresh(&flight, &lookups, |_| false, |_, _| None, ok(2))
            .await
            .ok();
        assert!(
            slot.claim_background_refresh(),
            "a new value can be refreshed again"
        );
    }
}
