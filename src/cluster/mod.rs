//! Fleet mode: what several replicas share through Redis, when `cluster.redis_url` is set.
//! Without it each replica keeps its own state, as a single instance does.
//!
//! - **Events** (`Event`): a logout, an admin revoke or delete, or a back-channel logout on one
//!   replica is published on `{prefix}:events`, and every other replica applies it to its own
//!   caches and confirms it; the publishing request waits for those confirmations (up to
//!   `cluster.timeout_ms`), so the revocation holds on every replica when it returns.
//! - **Records**: the revocations themselves, for a replica that was not listening, and the
//!   Seam sessions, so that one fetch serves the fleet (`sessions` decides what to store).
//!
//! Redis is never in the way: every call is bounded by `cluster.timeout_ms`, and a failed or
//! late one is answered from local state (the caller gets `None`). The connection is RESP3, so
//! events arrive as pushes on the same connection; it reconnects with backoff and
//! resubscribes. A replica that was cut off may have missed events, so when it is back it asks
//! its owner (`Remote::missed_events`) to drop what it cannot vouch for.
//!
//! Everything written is sealed (`sealed`): a dump of Redis holds no token and no user id.

mod events;
mod sealed;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prometheus::{HistogramVec, IntCounterVec, IntGauge};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, ConnectionAddr, IntoConnectionInfo, ProtocolVersion, Value};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::config::{ClusterSettings, ConfigError, secret_from};
use crate::metrics::Metrics;
use events::Pending;
pub(crate) use events::{Event, Remote};
use sealed::Sealer;

/// GCRA on one bucket, as `middleware::ratelimit` keeps it locally, on Redis's clock so that
/// replicas' clocks need not agree. KEYS[1]: the bucket (its theoretical arrival time, in ms);
/// ARGV: interval and tolerance in ms, and 1 to take from it or 0 to look. Answers -1 when the
/// bucket had room, else the milliseconds until it will.
const GCRA: &str = r"
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
";

/// Everything a login seen for the first time needs from the fleet, in one round trip: the
/// records in KEYS except the last, and, when the record at ARGV[1] (1-based; 0: none) is
/// absent, the lock in the last KEY taken with token ARGV[2] for ARGV[3] ms. Answers the
/// records ('' for an absent one: sealed records are never empty), then 0 (lock not asked
/// for), 1 (taken) or 2 (held by someone else).
const RECALL: &str = r"
local found = redis.call('MGET', unpack(KEYS, 1, #KEYS - 1))
local lock, wanted = 0, tonumber(ARGV[1])
if wanted > 0 and not found[wanted] then
  lock = redis.call('SET', KEYS[#KEYS], ARGV[2], 'NX', 'PX', ARGV[3]) and 1 or 2
end
for i = 1, #KEYS - 1 do found[i] = found[i] or '' end
found[#KEYS] = lock
return found
";

/// Releases the lock in KEYS[1] if it is still the one taken with token ARGV[1], first
/// storing ARGV[2] in KEYS[2] for ARGV[3] ms when they are given. A lock that is no longer
/// the taker's expired, or was dropped by a revocation: what was fetched under it is then not
/// stored, as it may be what the revocation ended.
const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if KEYS[2] then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
return redis.call('DEL', KEYS[1])
";

/// How long start-up waits for Redis to say which mode it runs in.
const STARTUP_PROBE: Duration = Duration::from_secs(2);

const REDIS_CLUSTER: &str = "names a Redis Cluster node, which fleet mode does not support (a \
     call reads records that would live in different slots): use a standalone Redis, or a \
     managed one with cluster mode off";

/// Errors only a Redis Cluster gives.
fn is_redis_cluster(error: &redis::RedisError) -> bool {
    use redis::ServerErrorKind::{Ask, ClusterDown, CrossSlot, Moved};
    matches!(
        error.kind(),
        redis::ErrorKind::Server(Moved | Ask | CrossSlot | ClusterDown)
    )
}

/// How a `recall` left the fleet-wide lock on what it recalled.
pub(crate) enum Lock {
    /// Not asked for (the record was there), or Redis did not answer.
    NotAsked,
    /// Taken: this replica fetches, then stores and releases it (`put_and_unlock`, `unlock`).
    Taken(LockToken),
    /// Someone else is fetching.
    HeldElsewhere,
}

/// A lock this replica took: only the same token releases it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct LockToken(String);

/// The cluster's state as `/readyz` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Health {
    Up,
    /// Redis cannot be reached: each replica serves from its own state.
    Degraded,
}

struct ClusterMetrics {
    up: IntGauge,
    errors: IntCounterVec,
    latency: HistogramVec,
}

pub(crate) struct Cluster {
    redis: ConnectionManager,
    prefix: String,
    timeout: Duration,
    sealer: Sealer,
    /// This replica's name on the event channel (random per process).
    replica: String,
    events_channel: String,
    acks_channel: String,
    pending: Mutex<HashMap<u64, Pending>>,
    next_event: AtomicU64,
    /// Subscribed to the events: set by the subscription's confirmation, cleared by a lost
    /// connection (the manager resubscribes when it reconnects).
    subscribed: AtomicBool,
    metrics: ClusterMetrics,
    pushes: Mutex<Option<mpsc::UnboundedReceiver<redis::PushInfo>>>,
    next_lock: AtomicU64,
    gcra: redis::Script,
    recall: redis::Script,
    unlock: redis::Script,
}

impl Cluster {
    /// `None` without `cluster.redis_url`. Connects lazily: nothing is called until the first
    /// use, so `check-config` and a start while Redis is down both work.
    pub(crate) fn from_settings(
        settings: &ClusterSettings,
        metrics: &Metrics,
    ) -> Result<Option<Self>, ConfigError> {
        let url = secret_from(
            "cluster.redis_url",
            settings.redis_url.as_ref(),
            settings.redis_url_file.as_deref(),
        )?;
        let Some(url) = url.filter(|u| !u.expose_secret().is_empty()) else {
            return Ok(None);
        };
        let key = secret_from(
            "cluster.encryption_key",
            settings.encryption_key.as_ref(),
            settings.encryption_key_file.as_deref(),
        )?
        .ok_or_else(|| {
            ConfigError::new(
                "cluster.encryption_key",
                "is required with cluster.redis_url: what is stored in Redis is encrypted \
                 (32 random bytes as 64 hex digits, e.g. `openssl rand -hex 32`)",
            )
        })?;
        let sealer = Sealer::from_secret("cluster.encryption_key", &key)?;
        if settings.timeout_ms == 0 {
            return Err(ConfigError::new(
                "cluster.timeout_ms",
                "must be above 0: the longest any request waits on Redis",
            ));
        }
        if settings.key_prefix.is_empty() {
            return Err(ConfigError::new(
                "cluster.key_prefix",
                "must not be empty: it keeps deployments that share a Redis apart",
            ));
        }
        let timeout = Duration::from_millis(settings.timeout_ms);
        let (sender, receiver) = mpsc::unbounded_channel();
        let client = client(settings, &url)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(timeout))
            .set_connection_timeout(Some(timeout.max(Duration::from_millis(500))))
            .set_min_delay(Duration::from_millis(100))
            .set_max_delay(Duration::from_secs(5))
            .set_number_of_retries(2)
            .set_push_sender(sender)
            .set_automatic_resubscription();
        let redis = ConnectionManager::new_lazy_with_config(client, config).map_err(|_| {
            ConfigError::new("cluster.redis_url", "could not be used as a Redis address")
        })?;
        let replica = format!("{:016x}", fastrand::u64(..));
        let prefix = settings.key_prefix.clone();
        Ok(Some(Self {
            redis,
            events_channel: format!("{prefix}:events"),
            acks_channel: format!("{prefix}:acks:{replica}"),
            prefix,
            timeout,
            sealer,
            replica,
            pending: Mutex::new(HashMap::new()),
            next_event: AtomicU64::new(1),
            subscribed: AtomicBool::new(false),
            metrics: ClusterMetrics {
                up: metrics.cluster_up.clone(),
                errors: metrics.cluster_errors.clone(),
                latency: metrics.cluster_latency.clone(),
            },
            pushes: Mutex::new(Some(receiver)),
            next_lock: AtomicU64::new(1),
            gcra: redis::Script::new(GCRA),
            recall: redis::Script::new(RECALL),
            unlock: redis::Script::new(UNLOCK),
        }))
    }

    /// The key name of a kind of record about `what` (`what` is never written in clear).
    fn key(&self, kind: &str, what: &str) -> String {
        format!("{}:{kind}:{}", self.prefix, self.sealer.name(what))
    }

    /// `f` bounded by `cluster.timeout_ms`, counted and timed under `op`; `None` for a failure
    /// or a late answer, which the caller answers from local state.
    async fn run<T>(
        &self,
        op: &'static str,
        f: impl Future<Output = redis::RedisResult<T>>,
    ) -> Option<T> {
        let started = Instant::now();
        let outcome = tokio::time::timeout(self.timeout, f).await;
        self.metrics
            .latency
            .with_label_values(&[op])
            .observe(started.elapsed().as_secs_f64());
        match outcome {
            Ok(Ok(value)) => Some(value),
            Ok(Err(error)) => {
                self.metrics.errors.with_label_values(&[op]).inc();
                // The kind only: a server's message may quote what was sent.
                if is_redis_cluster(&error) {
                    tracing::error!(op, error = ?error.kind(), "{REDIS_CLUSTER}; serving from local state");
                } else {
                    tracing::warn!(op, error = ?error.kind(), "redis call failed; serving from local state");
                }
                None
            }
            Err(_) => {
                self.metrics.errors.with_label_values(&[op]).inc();
                tracing::warn!(
                    op,
                    timeout_ms = self.timeout.as_millis() as u64,
                    "redis call timed out; serving from local state"
                );
                None
            }
        }
    }

    /// Refuses a Redis Cluster node (whose slots would split the records a call reads
    /// together), when Redis answers `INFO server` at start-up. A Redis that is down, or an ACL
    /// user without `INFO`, is not held against the start: the calls' errors say it later.
    pub(crate) async fn refuse_redis_cluster(&self) -> Result<(), ConfigError> {
        let mut redis = self.redis.clone();
        let info = tokio::time::timeout(
            STARTUP_PROBE.max(self.timeout),
            redis::cmd("INFO")
                .arg("server")
                .query_async::<String>(&mut redis),
        )
        .await;
        match info {
            Ok(Ok(info)) if info.lines().any(|l| l.trim() == "redis_mode:cluster") => {
                Err(ConfigError::new("cluster.redis_url", REDIS_CLUSTER))
            }
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => {
                tracing::debug!(error = ?error.kind(), "redis did not say which mode it runs in");
                Ok(())
            }
            Err(_) => Ok(()),
        }
    }

    /// Whether Redis answers now and this replica hears the fleet's events (for `/readyz`,
    /// which reports it but does not fail on it).
    pub(crate) async fn health(&self) -> Health {
        let mut redis = self.redis.clone();
        // Any answer will do: subscribed, a RESP3 server may answer as a push-aware array.
        let pong: Option<Value> = self
            .run("ping", async move {
                redis::cmd("PING").query_async(&mut redis).await
            })
            .await;
        if pong.is_some() && self.subscribed.load(Ordering::Relaxed) {
            Health::Up
        } else {
            Health::Degraded
        }
    }

    /// A sealed record of `kind` about `what`, kept for `ttl`.
    pub(crate) async fn put(&self, kind: &str, what: &str, value: &[u8], ttl: Duration) {
        let key = self.key(kind, what);
        let sealed = self.sealer.seal(&key, value);
        let mut redis = self.redis.clone();
        self.run("put", async move {
            redis.pset_ex::<_, _, ()>(&key, sealed, millis(ttl)).await
        })
        .await;
    }

    /// The record of `kind` about `what`, opened; `None` when there is none, it does not open,
    /// or Redis did not answer in time.
    pub(crate) async fn get(&self, kind: &str, what: &str) -> Option<Vec<u8>> {
        let key = self.key(kind, what);
        let mut redis = self.redis.clone();
        let name = key.clone();
        let sealed = self
            .run("get", async move { redis.get(&name).await })
            .await
            .flatten();
        self.open(&key, sealed)
    }

    fn open(&self, key: &str, sealed: Option<Vec<u8>>) -> Option<Vec<u8>> {
        sealed.and_then(|sealed| self.sealer.open(key, &sealed))
    }

    fn lock_token(&self) -> LockToken {
        let n = self.next_lock.fetch_add(1, Ordering::Relaxed);
        LockToken(format!("{}.{n}", self.replica))
    }

    /// In one round trip, the records of `kind` about each of `whats`, and when `lock` names
    /// one of them that is absent, the fleet-wide lock on its `what` for `ttl`: what a replica
    /// needs to know about a user before the one fetch of what is missing. Records that do not
    /// open, and every record when Redis does not answer in time, are `None`.
    pub(crate) async fn recall(
        &self,
        kinds_and_whats: &[(&str, &str)],
        lock: Option<(usize, Duration)>,
    ) -> (Vec<Option<Vec<u8>>>, Lock) {
        let keys: Vec<String> = kinds_and_whats
            .iter()
            .map(|(kind, what)| self.key(kind, what))
            .collect();
        let (wanted, ttl) = lock.map_or((0, Duration::ZERO), |(index, ttl)| (index + 1, ttl));
        let lock_what = kinds_and_whats.get(wanted.wrapping_sub(1)).map(|(_, w)| *w);
        let token = self.lock_token();
        let mut invocation = self.recall.prepare_invoke();
        for key in &keys {
            invocation.key(key);
        }
        invocation
            .key(self.key("lock", lock_what.unwrap_or_default()))
            .arg(wanted)
            .arg(&token.0)
            .arg(millis(ttl));
        let mut redis = self.redis.clone();
        let answer: Option<Vec<Value>> = self
            .run("recall", async move {
                invocation.invoke_async(&mut redis).await
            })
            .await;
        match answer {
            Some(mut values) if values.len() == keys.len() + 1 => {
                let lock = match values.pop() {
                    Some(Value::Int(1)) => Lock::Taken(token),
                    Some(Value::Int(2)) => Lock::HeldElsewhere,
                    _ => Lock::NotAsked,
                };
                let records = keys
                    .iter()
                    .zip(values)
                    .map(|(key, value)| match value {
                        Value::BulkString(sealed) if !sealed.is_empty() => {
                            self.open(key, Some(sealed))
                        }
                        _ => None,
                    })
                    .collect();
                (records, lock)
            }
            _ => (vec![None; keys.len()], Lock::NotAsked),
        }
    }

    /// In one round trip: `put` (a record of kind, what, value, kept for ttl) if given, and the
    /// record of `kind` about `what` dropped with the lock on it, so that a fetch under way
    /// does not store what it fetched.
    pub(crate) async fn put_and_drop(
        &self,
        put: Option<(&str, &str, &[u8], Duration)>,
        kind: &str,
        what: &str,
    ) {
        let mut pipe = redis::pipe();
        if let Some((put_kind, put_what, value, ttl)) = put {
            let key = self.key(put_kind, put_what);
            let sealed = self.sealer.seal(&key, value);
            pipe.pset_ex(key, sealed, millis(ttl)).ignore();
        }
        pipe.del(&[self.key(kind, what), self.key("lock", what)])
            .ignore();
        let mut redis = self.redis.clone();
        self.run(
            "delete",
            async move { pipe.query_async::<()>(&mut redis).await },
        )
        .await;
    }

    /// In one round trip, the fleet-wide lock on `what` for `ttl` (its token if this replica
    /// got it) and the record of `kind` about it, opened; `None` when Redis is unavailable.
    pub(crate) async fn lock_and_get(
        &self,
        kind: &str,
        what: &str,
        ttl: Duration,
    ) -> Option<(Option<LockToken>, Option<Vec<u8>>)> {
        let (lock, key) = (self.key("lock", what), self.key(kind, what));
        let token = self.lock_token();
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(&lock)
            .arg(&token.0)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .cmd("GET")
            .arg(&key);
        let mut redis = self.redis.clone();
        let (set, sealed): (Value, Option<Vec<u8>>) = self
            .run("lock", async move { pipe.query_async(&mut redis).await })
            .await?;
        Some((
            (set != Value::Nil).then_some(token),
            self.open(&key, sealed),
        ))
    }

    /// In one round trip, a sealed record of `kind` about `what` kept for `ttl`, and the lock
    /// on `what` released: both only if the lock is still `token`'s (see `UNLOCK`).
    pub(crate) async fn put_and_unlock(
        &self,
        token: &LockToken,
        kind: &str,
        what: &str,
        value: &[u8],
        ttl: Duration,
    ) {
        let key = self.key(kind, what);
        let sealed = self.sealer.seal(&key, value);
        let mut invocation = self.unlock.key(self.key("lock", what));
        invocation
            .key(key)
            .arg(&token.0)
            .arg(sealed)
            .arg(millis(ttl));
        let mut redis = self.redis.clone();
        self.run("put", async move {
            invocation.invoke_async::<()>(&mut redis).await
        })
        .await;
    }

    /// Releases the lock on `what` if it is still `token`'s.
    pub(crate) async fn unlock(&self, token: &LockToken, what: &str) {
        let mut invocation = self.unlock.key(self.key("lock", what));
        invocation.arg(&token.0);
        let mut redis = self.redis.clone();
        self.run("lock", async move {
            invocation.invoke_async::<()>(&mut redis).await
        })
        .await;
    }

    /// Whether another replica holds the lock on `what` (`None`: Redis unavailable).
    pub(crate) async fn locked(&self, what: &str) -> Option<bool> {
        let key = self.key("lock", what);
        let mut redis = self.redis.clone();
        self.run("lock", async move { redis.exists(&key).await })
            .await
    }

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
        let mut invocation = self.gcra.key(key);
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

/// `ttl` as Redis's milliseconds, at least 1 (0 is an error to Redis).
fn millis(ttl: Duration) -> u64 {
    ttl.as_millis().clamp(1, u128::from(u64::MAX)) as u64
}

/// The Redis client: the URL checked (`connection_info`), and TLS checked against the public
/// roots or the CA certificates in `cluster.tls_ca_file`.
fn client(settings: &ClusterSettings, url: &SecretString) -> Result<redis::Client, ConfigError> {
    let info = connection_info(url)?;
    Ok(match &settings.tls_ca_file {
        Some(path) => {
            if !matches!(info.addr(), ConnectionAddr::TcpTls { .. }) {
                return Err(ConfigError::new(
                    "cluster.tls_ca_file",
                    "applies only to a rediss:// (TLS) cluster.redis_url",
                ));
            }
            let pem = std::fs::read(path).map_err(|e| {
                ConfigError::new(
                    "cluster.tls_ca_file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let roots = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem),
            };
            redis::Client::build_with_tls(info, roots).map_err(|_| {
                ConfigError::new(
                    "cluster.tls_ca_file",
                    "holds no certificate that can be trusted (PEM, one or more CERTIFICATE blocks)",
                )
            })?
        }
        None => redis::Client::open(info).map_err(|_| {
            ConfigError::new("cluster.redis_url", "could not be used as a Redis address")
        })?,
    })
}

/// The connection's address, checked: `redis://` or `rediss://` (TLS), with a username and
/// password when the URL has them, always RESP3. Sentinel is refused here, Redis Cluster (which
/// has no URL scheme of its own) by `refuse_redis_cluster`. No error quotes the URL, which may
/// hold a password.
fn connection_info(url: &SecretString) -> Result<redis::ConnectionInfo, ConfigError> {
    let text = url.expose_secret();
    let refuse = |problem: &str| Err(ConfigError::new("cluster.redis_url", problem));
    let scheme = text.split("://").next().unwrap_or_default();
    match scheme {
        "redis" | "rediss" => {}
        s if s.contains("sentinel") => {
            return refuse(
                "names Redis Sentinel, which is not supported: point it at the primary, or at a \
                 proxy that follows failovers",
            );
        }
        _ => return refuse("must start with redis:// or rediss:// (TLS)"),
    }
    let info = text
        .into_connection_info()
        .or_else(|_| refuse("is not a valid Redis URL"))?;
    if matches!(info.addr(), ConnectionAddr::Unix(_)) {
        return refuse("must be a TCP address");
    }
    let redis = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    Ok(info.set_redis_settings(redis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_standalone_redis_urls_are_taken_and_never_echoed() {
        for (url, expected) in [
            ("redis+sentinel://:hunter2@h:26379/mymaster", "Sentinel"),
            ("http://user:hunter2@h", "redis://"),
            ("redis://:hunter2@h:notaport", "valid"),
        ] {
            let error = connection_info(&SecretString::from(url))
                .expect_err("refused")
                .to_string();
            assert!(error.contains(expected), "{url}: {error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
        let info = connection_info(&SecretString::from("rediss://app:pw@cache.example:6380/2"))
            .expect("valid");
        assert!(matches!(info.addr(), ConnectionAddr::TcpTls { .. }));
        assert_eq!(info.redis_settings().username(), Some("app"));
        assert_eq!(info.redis_settings().db(), 2);
        assert_eq!(info.redis_settings().protocol(), ProtocolVersion::RESP3);
    }
}
