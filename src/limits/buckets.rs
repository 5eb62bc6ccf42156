//! GCRA token buckets (a burst, refilled at a steady rate), one per key, in a bounded moka
//! cache: governor, the usual crate, can neither look at a bucket without taking from it nor
//! bound how many buckets it keeps. In fleet mode the fleet's bucket of the same name in Redis
//! (`cluster`) is used while Redis answers.

use std::hash::Hash;
use std::time::{Duration, Instant};

use moka::ops::compute::Op;
use moka::sync::Cache;

use super::{Limited, Scope};
use crate::cluster::Cluster;
use crate::config::ConfigError;

/// Buckets kept per limit. A bucket left alone refills and is dropped; past this many, the
/// least used go first. An attacker with more addresses than this is a distributed attack,
/// which no per-address limit stops.
const MAX_BUCKETS: u64 = 100_000;

/// One GCRA bucket per key. A bucket is its theoretical arrival time (TAT): full when that is
/// not after now, empty when it is more than `tolerance` after now.
pub(super) struct Buckets<K> {
    scope: Scope,
    /// The fleet's record kind for these buckets.
    kind: &'static str,
    /// Time to refill one request, and `interval * (burst - 1)`.
    interval: Duration,
    tolerance: Duration,
    burst: u32,
    tats: Cache<K, Instant>,
}

impl<K: Hash + Eq + Send + Sync + Clone + 'static> Buckets<K> {
    pub(super) fn new(
        scope: Scope,
        kind: &'static str,
        key: &str,
        per_minute: u32,
        burst: u32,
    ) -> Result<Self, ConfigError> {
        if per_minute == 0 {
            return Err(ConfigError::new(
                format!("rate_limit.{key}_per_minute"),
                "must be above 0 (or set rate_limit.enabled = false)",
            ));
        }
        if burst == 0 {
            return Err(ConfigError::new(
                format!("rate_limit.{key}_burst"),
                "must be above 0",
            ));
        }
        let interval = Duration::from_secs(60) / per_minute;
        Ok(Self {
            scope,
            kind,
            interval,
            tolerance: interval * (burst - 1),
            burst,
            tats: Cache::builder()
                .max_capacity(MAX_BUCKETS)
                // A bucket untouched this long is full again: forgetting it changes nothing.
                .time_to_live(interval * burst)
                .build(),
        })
    }

    fn limited(&self, tat: Instant, now: Instant) -> Option<Limited> {
        let ahead = tat.saturating_duration_since(now);
        (ahead > self.tolerance).then(|| self.refusal(ahead - self.tolerance))
    }

    fn refusal(&self, retry_after: Duration) -> Limited {
        Limited {
            scope: self.scope,
            retry_after,
            burst: self.burst,
            window: self.interval * self.burst,
        }
    }

    /// Looks at (`take` false) or takes from the bucket of `key`: the fleet's, named by
    /// `name`, when there is a cluster that answers; else this replica's own.
    pub(super) async fn check(
        &self,
        cluster: Option<&Cluster>,
        key: K,
        name: &str,
        take: bool,
    ) -> Result<(), Limited> {
        if let Some(cluster) = cluster
            && let Some(answer) =
                (cluster.bucket(self.kind, name, self.interval, self.burst, take)).await
        {
            return answer.map_err(|wait| self.refusal(wait));
        }
        if take {
            self.take(key)
        } else {
            self.room(&key)
        }
    }

    /// `Err` when the bucket is empty: how long until it holds one again.
    fn room(&self, key: &K) -> Result<(), Limited> {
        let now = Instant::now();
        match self.tats.get(key).and_then(|tat| self.limited(tat, now)) {
            Some(limited) => Err(limited),
            None => Ok(()),
        }
    }

    /// Takes one request from the bucket; `Err` as `room` when it is empty.
    fn take(&self, key: K) -> Result<(), Limited> {
        let now = Instant::now();
        let mut refused = None;
        self.tats.entry(key).and_compute_with(|kept| {
            let tat = kept.map_or(now, |entry| entry.into_value().max(now));
            match self.limited(tat, now) {
                Some(limited) => {
                    refused = Some(limited);
                    Op::Nop
                }
                None => Op::Put(tat + self.interval),
            }
        });
        refused.map_or(Ok(()), Err)
    }

    #[cfg(test)]
    fn len(&self) -> u64 {
        self.tats.run_pending_tasks();
        self.tats.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    /// A flood of distinct addresses is held to `MAX_BUCKETS` buckets.
    #[test]
    fn a_flood_of_addresses_keeps_memory_bounded() {
        let bucket = Buckets::new(Scope::Client, "rl-client", "client", 1, 1).expect("valid");
        for n in 0..(MAX_BUCKETS as u32 + 20_000) {
            let _ = bucket.take(IpAddr::V4(n.into()));
        }
        assert!(bucket.len() <= MAX_BUCKETS, "{}", bucket.len());
    }
}
