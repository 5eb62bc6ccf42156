//! The fleet's one Seam fetch per user: a session another replica stored is used if it
//! qualifies; else whoever holds the user's fetch lock asks Seam and stores the answer, and
//! the others wait for it. What is fetched and stored is the handshake's (opaque bytes here).
//!
//! The fetcher says when its fetch ended (`Event::FetchEnded`, once the session is stored or
//! the lock given back), which wakes the replicas waiting on it: they look in Redis then, and
//! otherwise only every `FALLBACK_POLL`, for an event that was missed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::{Fleet, SESSION};
use crate::cluster::{Cluster, Event, LockToken};

/// How often a replica waiting on another's Seam fetch looks for its result without being
/// told (an event lost with a connection).
const FALLBACK_POLL: Duration = Duration::from_millis(250);

/// Where the fleet stood on the user's session when the login was first seen: what saves its
/// handshake a round trip. Empty for a login recalled from this replica's memory.
#[derive(Default)]
pub(crate) struct FleetStart {
    /// The user's stored Seam session (opened, not yet judged).
    stored_session: Option<Vec<u8>>,
    /// Another replica was fetching it.
    fetching_elsewhere: bool,
    /// The fetch lock this login took, if it did: kept for its release when the login ends.
    _lock: Option<LockClaim>,
}

impl FleetStart {
    pub(super) fn new(
        stored_session: Option<Vec<u8>>,
        fetching_elsewhere: bool,
        lock: Option<LockClaim>,
    ) -> Self {
        Self {
            stored_session,
            fetching_elsewhere,
            _lock: lock,
        }
    }
}

/// Fetch locks this replica took at a recall and that no handshake has fetched under yet, by
/// the user's Seam key. Whichever handshake of the user runs the fetch takes the lock from
/// here, so it need not be the one whose login took it.
#[derive(Default)]
pub(super) struct HeldLocks {
    tokens: Mutex<HashMap<String, LockToken>>,
    /// The handshakes here waiting on a fetch elsewhere, by the user's Seam key: woken when it
    /// ends, or when a login here takes the lock.
    waiting: Mutex<HashMap<String, Arc<Notify>>>,
}

impl HeldLocks {
    fn entries(&self) -> MutexGuard<'_, HashMap<String, LockToken>> {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take(&self, key: &str) -> Option<LockToken> {
        self.entries().remove(key)
    }

    fn waiting(&self) -> MutexGuard<'_, HashMap<String, Arc<Notify>>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes the handshakes here waiting on the fetch of this user's session.
    pub(super) fn wake(&self, key: &str) {
        if let Some(waiting) = self.waiting().get(key) {
            waiting.notify_waiters();
        }
    }
}

/// A handshake's wait on a fetch elsewhere: the signal it is woken by, dropped from the map
/// with its last waiter.
struct Waiting<'a> {
    held: &'a HeldLocks,
    key: &'a str,
    woken: Arc<Notify>,
}

impl<'a> Waiting<'a> {
    fn new(held: &'a HeldLocks, key: &'a str) -> Self {
        let woken = (held.waiting().entry(key.to_owned()).or_default()).clone();
        Self { held, key, woken }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut waiting = self.held.waiting();
        // Under the lock no one else takes a copy: two are the map's and this one.
        if Arc::strong_count(&self.woken) <= 2 {
            waiting.remove(self.key);
        }
    }
}

/// A login's hold on a fetch lock: released when the login ends, unless a fetch took it.
pub(super) struct LockClaim {
    held: Arc<HeldLocks>,
    cluster: Arc<Cluster>,
    key: String,
    token: LockToken,
}

impl LockClaim {
    /// Holds `token`, the fetch lock of the user with Seam key `key`, for this login.
    pub(super) fn hold(
        held: &Arc<HeldLocks>,
        cluster: &Arc<Cluster>,
        key: &str,
        token: LockToken,
    ) -> Self {
        (held.entries()).insert(key.to_owned(), token.clone());
        held.wake(key);
        Self {
            held: held.clone(),
            cluster: cluster.clone(),
            key: key.to_owned(),
            token,
        }
    }
}

impl Drop for LockClaim {
    fn drop(&mut self) {
        let mut held = self.held.entries();
        if held.get(&self.key) != Some(&self.token) {
            return;
        }
        held.remove(&self.key);
        drop(held);
        release(&self.cluster, self.token.clone(), &self.key);
    }
}

/// Releases a lock off the request's path, and wakes the replicas waiting on it.
fn release(cluster: &Arc<Cluster>, token: LockToken, key: &str) {
    let (cluster, key) = (cluster.clone(), key.to_owned());
    actix_web::rt::spawn(async move {
        cluster.unlock(&token, &key).await;
        fetch_ended(&cluster, key).await;
    });
}

/// Tells the replicas waiting on this replica's fetch of the user's session that it ended.
async fn fetch_ended(cluster: &Cluster, user_identifier_key: String) {
    (cluster.publish(&Event::FetchEnded {
        user_identifier_key,
    }))
    .await;
}

/// How waiting on another replica's fetch ended.
enum Waited<T> {
    Found(T),
    /// A login here took the lock meanwhile: this handshake fetches under it.
    Ours(LockToken),
    /// The lock is gone without a session, or the wait took longer than a Seam call may.
    GaveUp,
}

/// How the handshake's sessions pass through the fleet's store.
pub(crate) struct Stored<U, S> {
    /// A stored session, if it is one to hand out.
    pub(crate) usable: U,
    /// A fetched session as stored, and how long it is worth keeping.
    pub(crate) stored: S,
}

impl Fleet {
    /// The session of the user with Seam key `key` when this replica's cache cannot give one:
    /// one another replica stored if it qualifies, else the fleet's one `fetch` (whoever holds
    /// the lock asks Seam and stores the answer; the others wait for it). `start` is where the
    /// fleet stood when the login was first seen.
    pub(crate) async fn fetch_session<T, E, U, S>(
        &self,
        key: &str,
        start: &FleetStart,
        codec: Stored<U, S>,
        fetch: impl AsyncFnOnce() -> Result<T, E>,
    ) -> Result<T, E>
    where
        U: Fn(&[u8]) -> Option<T>,
        S: Fn(&T) -> (Vec<u8>, Duration),
    {
        let cluster = &self.cluster;
        let usable = &codec.usable;
        if let Some(session) = start.stored_session.as_deref().and_then(usable) {
            return Ok(session);
        }
        // Taken when the login was first seen (no round trip now).
        if let Some(token) = self.held_locks.take(key) {
            return self.fetch_locked(key, token, &codec.stored, fetch).await;
        }
        let mut fetching_elsewhere = start.fetching_elsewhere;
        if !fetching_elsewhere {
            // One round trip: the lock, and a session stored meanwhile (or, for a login that
            // was not first seen just now, the one stored at all).
            if let Some((token, record)) = cluster.lock_and_get(SESSION, key, self.fetch_lock).await
            {
                if let Some(session) = record.as_deref().and_then(usable) {
                    if let Some(token) = token {
                        release(cluster, token, key);
                    }
                    return Ok(session);
                }
                match token {
                    Some(token) => {
                        return self.fetch_locked(key, token, &codec.stored, fetch).await;
                    }
                    None => fetching_elsewhere = true,
                }
            }
        }
        if fetching_elsewhere {
            match self.wait_for_fetch(key, usable).await {
                Waited::Found(session) => return Ok(session),
                Waited::Ours(token) => {
                    return self.fetch_locked(key, token, &codec.stored, fetch).await;
                }
                Waited::GaveUp => {}
            }
        }
        // Redis unavailable, or the replica that held the lock gave up: this one asks Seam.
        let fetched = fetch().await?;
        self.store(key, (codec.stored)(&fetched), None);
        Ok(fetched)
    }

    /// The fleet's one fetch, under the lock `token`: stored for the others, or the lock
    /// released when Seam failed.
    async fn fetch_locked<T, E>(
        &self,
        key: &str,
        token: LockToken,
        stored: &impl Fn(&T) -> (Vec<u8>, Duration),
        fetch: impl AsyncFnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let fetched = fetch().await;
        match &fetched {
            Ok(session) => self.store(key, stored(session), Some(token)),
            Err(_) => release(&self.cluster, token, key),
        }
        fetched
    }

    /// Stores the session for the fleet (releasing the lock when this replica holds it), off
    /// the request's path: the request that fetched it needs nothing from Redis, and the other
    /// replicas wait on the lock until it is there.
    fn store(&self, key: &str, (stored, ttl): (Vec<u8>, Duration), lock: Option<LockToken>) {
        let (cluster, key) = (self.cluster.clone(), key.to_owned());
        actix_web::rt::spawn(async move {
            match (lock, ttl.is_zero()) {
                (Some(token), false) => {
                    (cluster.put_and_unlock(&token, SESSION, &key, &stored, ttl)).await;
                    fetch_ended(&cluster, key).await;
                }
                (Some(token), true) => {
                    cluster.unlock(&token, &key).await;
                    fetch_ended(&cluster, key).await;
                }
                (None, false) => cluster.put(SESSION, &key, &stored, ttl).await,
                (None, true) => {}
            }
        });
    }

    /// Another replica is fetching the session: its result once stored, unless a login here
    /// takes the lock meanwhile, or it gave up (the lock gone without a session), or took
    /// longer than a Seam call may. Looked for when the fetcher says it ended, or a login here
    /// took the lock, and every `FALLBACK_POLL` otherwise.
    async fn wait_for_fetch<T>(
        &self,
        key: &str,
        usable: &impl Fn(&[u8]) -> Option<T>,
    ) -> Waited<T> {
        let cluster = &self.cluster;
        let waiting = Waiting::new(&self.held_locks, key);
        let deadline = Instant::now() + self.fetch_lock;
        let mut woken = std::pin::pin!(waiting.woken.notified());
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Waited::GaveUp;
            }
            let _ = tokio::time::timeout(FALLBACK_POLL.min(left), woken.as_mut()).await;
            // Listening again before looking: a wake meanwhile is not lost.
            woken.set(waiting.woken.notified());
            if let Some(token) = self.held_locks.take(key) {
                return Waited::Ours(token);
            }
            if let Some(session) = cluster.get(SESSION, key).await.as_deref().and_then(usable) {
                return Waited::Found(session);
            }
            if cluster.locked(key).await != Some(true) {
                return match cluster.get(SESSION, key).await.as_deref().and_then(usable) {
                    Some(session) => Waited::Found(session),
                    None => Waited::GaveUp,
                };
            }
        }
    }
}
