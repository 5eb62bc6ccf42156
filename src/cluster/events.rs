//! The fleet's events: a change one replica made that every other must apply to its own
//! caches (`Event`), published on `{prefix}:events` and confirmed by each receiver on the
//! publisher's own `{prefix}:acks:{replica}` channel, both over the RESP3 connection's pushes.
//! The publisher waits for the confirmations (up to `cluster.timeout_ms`), so that a revocation
//! holds on every replica when the request that made it returns.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use redis::{AsyncCommands, PushKind, Value};
use tokio::sync::oneshot;

use super::{Cluster, Event, Pending, Remote};

/// How often the connection is checked while nothing else uses it.
const HEARTBEAT: Duration = Duration::from_secs(1);

impl Cluster {
    /// Publishes `event` to the other replicas and waits (up to `cluster.timeout_ms`) until
    /// each has applied it. A replica that does not confirm in time either is gone, or will
    /// drop its caches when it hears from Redis again.
    pub(crate) async fn publish(&self, event: &Event) {
        let id = self.next_event.fetch_add(1, Ordering::Relaxed);
        let Ok(plain) = serde_json::to_vec(event) else {
            return;
        };
        let mut message = format!("{}:{id}:", self.replica).into_bytes();
        message.extend(self.sealer.seal(&self.events_channel, &plain));
        let (done, confirmed) = oneshot::channel();
        self.lock_pending().insert(
            id,
            Pending {
                confirmed: 0,
                needed: None,
                done: Some(done),
            },
        );
        let mut redis = self.redis.clone();
        let channel = self.events_channel.clone();
        let receivers: Option<usize> = self
            .run(
                "publish",
                async move { redis.publish(&channel, message).await },
            )
            .await;
        // Everyone subscribed heard it, this replica too.
        let others = receivers.map_or(0, |n| n.saturating_sub(1));
        let waiting = self.lock_pending().get_mut(&id).is_some_and(|entry| {
            entry.needed = Some(others);
            entry.confirmed < others
        });
        if waiting && tokio::time::timeout(self.timeout, confirmed).await.is_err() {
            self.metrics.errors.with_label_values(&["confirm"]).inc();
            tracing::warn!("not every replica confirmed a revocation in time");
        }
        self.lock_pending().remove(&id);
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Pending>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A confirmation of event `id` from another replica.
    fn confirmed(&self, id: u64) {
        let mut pending = self.lock_pending();
        let Some(entry) = pending.get_mut(&id) else {
            return;
        };
        entry.confirmed += 1;
        if entry.needed.is_some_and(|needed| entry.confirmed >= needed)
            && let Some(done) = entry.done.take()
        {
            let _ = done.send(());
        }
    }

    /// Listens for the fleet's events and keeps the connection checked, for as long as the
    /// process runs. Spawned once, on the runtime that owns the connection.
    pub(crate) async fn run_events(self: Arc<Self>, remote: Arc<impl Remote>) {
        let Some(mut pushes) = self
            .pushes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        // Cut off since the last subscription: events may have been missed.
        let mut cut_off = false;
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        loop {
            tokio::select! {
                push = pushes.recv() => {
                    let Some(push) = push else { return };
                    match push.kind {
                        // Each on its own: applying one may wait for a Seam call of its
                        // user in flight here, which must not hold up the others.
                        PushKind::Message => {
                            let (cluster, remote) = (self.clone(), remote.clone());
                            actix_web::rt::spawn(async move {
                                cluster.on_message(&push.data, &*remote).await;
                            });
                        }
                        PushKind::Subscribe => {
                            if cut_off {
                                tracing::info!("redis is back; dropping what this replica may have missed");
                                remote.missed_events().await;
                                cut_off = false;
                            }
                            self.set_subscribed(true);
                        }
                        PushKind::Disconnection => {
                            cut_off = true;
                            self.set_subscribed(false);
                        }
                        _ => {}
                    }
                }
                _ = heartbeat.tick() => {
                    if !self.subscribed.load(Ordering::Relaxed) {
                        // Also what drives a reconnection while nothing else calls Redis.
                        let mut redis = self.redis.clone();
                        let channels = [self.events_channel.clone(), self.acks_channel.clone()];
                        if self.run("subscribe", async move { redis.subscribe(&channels).await }).await.is_none() {
                            cut_off = true;
                        }
                    }
                }
            }
        }
    }

    fn set_subscribed(&self, subscribed: bool) {
        self.subscribed.store(subscribed, Ordering::Relaxed);
        self.metrics.up.set(i64::from(subscribed));
    }

    async fn on_message(&self, data: &[Value], remote: &impl Remote) {
        let (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) =
            (data.first(), data.get(1))
        else {
            return;
        };
        if channel.as_slice() == self.acks_channel.as_bytes() {
            if let Some(id) = std::str::from_utf8(payload)
                .ok()
                .and_then(|t| t.parse().ok())
            {
                self.confirmed(id);
            }
            return;
        }
        if channel.as_slice() != self.events_channel.as_bytes() {
            return;
        }
        let mut parts = payload.splitn(3, |b| *b == b':');
        let (Some(origin), Some(id), Some(sealed)) = (parts.next(), parts.next(), parts.next())
        else {
            return;
        };
        if origin == self.replica.as_bytes() {
            return;
        }
        let event = self
            .sealer
            .open(&self.events_channel, sealed)
            .and_then(|plain| serde_json::from_slice::<Event>(&plain).ok());
        let Some(event) = event else {
            self.metrics.errors.with_label_values(&["event"]).inc();
            tracing::warn!(
                "an event that does not open: is every replica on the same cluster.encryption_key?"
            );
            return;
        };
        remote.apply(event).await;
        let mut ack_channel = String::new();
        let _ = write!(
            ack_channel,
            "{}:acks:{}",
            self.prefix,
            String::from_utf8_lossy(origin)
        );
        let id = String::from_utf8_lossy(id).into_owned();
        let mut redis = self.redis.clone();
        self.run("publish", async move {
            redis.publish::<_, _, ()>(&ack_channel, id).await
        })
        .await;
    }
}
