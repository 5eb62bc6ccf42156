//! The connection to Redis: `Cluster::from_settings` (the client from `cluster.*`: its URL
//! checked, TLS roots, RESP3, a lazy connection that reconnects), the refusal of a Redis
//! Cluster, the health `/readyz` reports, and `run`, which bounds, counts and times every call.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, IntoConnectionInfo, ProtocolVersion, Value};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;

use super::sealed::Sealer;
use super::{Cluster, ClusterMetrics, Health};
use crate::config::{ClusterSettings, ConfigError, secret_from};
use crate::metrics::Metrics;

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
        }))
    }

    /// `f` bounded by `cluster.timeout_ms`, counted and timed under `op`; `None` for a failure
    /// or a late answer, which the caller answers from local state.
    pub(super) async fn run<T>(
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
