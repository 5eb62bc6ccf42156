//! Fleet mode: what several replicas share through Redis, when `cluster.redis_url` is set.
//! Without it each replica keeps its own state, as a single instance does.
//!
//! - **Events** (`Event`): a logout, an admin revoke or delete, or a back-channel logout on one
//!   replica is published on `{prefix}:events`, and every other replica applies it to its own
//!   caches and confirms it; the publishing request waits for those confirmations (up to
//!   `cluster.timeout_ms`), so the revocation holds on every replica when it returns.
//! - **Records**: the revocations themselves, for a replica that was not listening, and the
//!   Seam sessions, so that one fetch serves the fleet (`fleet` decides what to store).
//!
//! Redis is never in the way: every call is bounded by `cluster.timeout_ms`, and a failed or
//! late one is answered from local state (the caller gets `None`). The connection is RESP3, so
//! events arrive as pushes on the same connection; it reconnects with backoff and
//! resubscribes. A replica that was cut off may have missed events, so when it is back it asks
//! its owner (`Remote::missed_events`) to drop what it cannot vouch for.
//!
//! Everything written is sealed (`sealed`): a dump of Redis holds no token and no user id.
//!
//! Here: the `Cluster` type, its state, and what the rest of the service names (`Event`,
//! `Remote`, `Lock`, `LockToken`, `Health`). What it does is in one file per job, each adding to
//! `Cluster` and none imported here: `connection` (the client, `run`, health), `store` (sealed
//! records and the fleet-wide lock), `buckets` (the shared rate-limit buckets) and `events`.

mod buckets;
mod connection;
mod events;
mod sealed;
mod store;

pub(crate) use store::SeenLogin;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use prometheus::{HistogramVec, IntCounterVec, IntGauge};
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use sealed::Sealer;

/// A change that every replica must apply to its own caches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Event {
    /// Every login of this user issued until `at` (Unix seconds) is ended, and their cached
    /// session dropped.
    UserRevoked { user_key: String, at: u64 },
    /// Every login of `issuer` carrying this identity-provider session is ended.
    SessionEnded { issuer: usize, sid: String },
    /// The cached session of the user with this Seam key is dropped.
    SessionDropped { user_identifier_key: String },
    /// Seam said this connected account is gone (a webhook): users holding it look up their
    /// accounts and session again.
    AccountGone { connected_account_id: String },
    /// Seam connected an account for the users with these Seam keys: they look up their
    /// accounts again.
    AccountsAdded { user_identifier_keys: Vec<String> },
    /// Seam deleted this client session: a cached copy is dropped.
    ClientSessionDeleted { client_session_id: String },
    /// The replica that fetched the session of the user with this Seam key stored it, or gave
    /// its fetch lock back: replicas waiting on that fetch look in Redis now.
    FetchEnded { user_identifier_key: String },
}

/// What a replica does with the fleet's events.
pub(crate) trait Remote: 'static {
    fn apply(&self, event: Event) -> impl Future<Output = ()>;
    /// The connection was lost and is back: events may have been missed meanwhile.
    fn missed_events(&self) -> impl Future<Output = ()>;
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

/// A published event's confirmations (`events`): counted as they come, which may be before the
/// number of replicas that heard it is known.
struct Pending {
    confirmed: usize,
    needed: Option<usize>,
    done: Option<oneshot::Sender<()>>,
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
}

impl Cluster {
    /// The key name of a kind of record about `what` (`what` is never written in clear).
    fn key(&self, kind: &str, what: &str) -> String {
        format!("{}:{kind}:{}", self.prefix, self.sealer.name(what))
    }
}
