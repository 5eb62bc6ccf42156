//! The fleet's rate-limit buckets: one GCRA per bucket, run inside Redis so that every replica
//! takes from the same bucket; a replica falls back to its own when Redis does not answer.

use std::sync::LazyLock;
use std::time::Duration;

use super::Cluster;

/// GCRA on one bucket, as `limits` keeps it locally, on Redis's clock so that
/// replicas' clocks need not agree. KEYS[1]: the bucket (its theoretical arrival time, in ms);
/// ARGV: interval and tolerance in ms, and 1 to take from it or 0 to look. Answers -1 when the
/// bucket had room, else the milliseconds until it will.
static GCRA: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - now > tolerance then return tat - now - tolerance end
if ARGV[3] == '1' then
  redis.call('SET', KEYS[1], tat + interval, 'PX', tat + interval - now)
end
return -1
",
    )
});

impl Cluster {
    /// The fleet's bucket of `kind` for `what` (a GCRA of `burst` refilled one per `interval`):
    /// `Some(Ok(()))` when it had room (taken from it when `take`), `Some(Err(wait))` when it is
    /// empty, `None` when Redis did not answer (the caller falls back to its own bucket).
    pub(crate) async fn bucket(
        &self,
        kind: &str,
        what: &str,
        interval: Duration,
        burst: u32,
        take: bool,
    ) -> Option<Result<(), Duration>> {
        let key = self.key(kind, what);
        let interval_ms = interval.as_millis().max(1) as u64;
        let tolerance_ms = interval_ms * u64::from(burst.saturating_sub(1));
        let mut redis = self.redis.clone();
        let mut invocation = GCRA.key(key);
        invocation
            .arg(interval_ms)
            .arg(tolerance_ms)
            .arg(u8::from(take));
        let wait: i64 = self
            .run("bucket", async move {
                invocation.invoke_async(&mut redis).await
            })
            .await?;
        Some(match u64::try_from(wait) {
            Ok(wait) => Err(Duration::from_millis(wait)),
            Err(_) => Ok(()),
        })
    }
}
