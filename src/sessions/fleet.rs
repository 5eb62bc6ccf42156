//! What `sessions` shares with the other replicas in fleet mode (`cluster`): each revocation
//! (a record for replicas that were not listening, and an event for those that are), the
//! records consulted when a login is first seen, the stored Seam sessions with the lock that
//! makes one fetch serve the fleet, and the other replicas' events applied here.
//!
//! A first-seen login of a user this replica holds no session for costs one Redis round trip
//! before its handshake's Seam call: the recall reads the revocation records and the stored
//! session, and takes the fetch lock when there is no stored session. The login keeps the
//! lock (`LockClaim`) until a handshake of its user fetches under it, or releases it when it
//! ends without one (a refused login, a rate-limited handshake).
//!
//! Without a cluster every function here is a no-op or falls through to Seam.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::Sessions;
use super::accounts::AccountSet;
use super::issue::{self, IssuedSession};
use super::users::User;
use crate::cluster::{Cluster, Event, Lock, LockToken, Remote};
use crate::seam::{SeamClient, SeamError};

/// Record kinds (each name is a keyed hash of what follows it, never the text itself).
const REVOKED: &str = "revoked";
const SID_ENDED: &str = "sid";
const SESSION: &str = "session";

/// How often a replica waiting on another's Seam fetch looks for its result.
const FETCH_POLL: Duration = Duration::from_millis(10);

/// What the fleet knows about a login seen here for the first time.
#[derive(Default)]
pub(super) struct FleetRecall {
    /// The second of the user's last revocation anywhere.
    pub(super) revoked_at: Option<u64>,
    /// The login's identity-provider session was ended anywhere.
    pub(super) session_ended: bool,
    pub(super) start: FleetStart,
}

/// Where the fleet stood on the user's session when the login was first seen: what saves its
/// handshake a round trip.
#[derive(Default)]
pub(super) struct FleetStart {
    /// The user's stored Seam session (opened, not yet judged).
    stored_session: Option<Vec<u8>>,
    /// Another replica was fetching it.
    fetching_elsewhere: bool,
    /// The fetch lock this login took, if it did: kept for its release when the login ends.
    _lock: Option<LockClaim>,
}

/// Fetch locks this replica took at a recall and that no handshake has fetched under yet, by
/// the user's Seam key. Whichever handshake of the user runs the fetch takes the lock from
/// here, so it need not be the one whose login took it.
#[derive(Default)]
pub(super) struct HeldLocks(Mutex<HashMap<String, LockToken>>);

impl HeldLocks {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, LockToken>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take(&self, key: &str) -> Option<LockToken> {
        self.entries().remove(key)
    }
}

/// A login's hold on a fetch lock: released when the login ends, unless a fetch took it.
pub(super) struct LockClaim {
    held: Arc<HeldLocks>,
    cluster: Arc<Cluster>,
    key: String,
    token: LockToken,
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

/// Releases a lock off the request's path.
fn release(cluster: &Arc<Cluster>, token: LockToken, key: &str) {
    let (cluster, key) = (cluster.clone(), key.to_owned());
    actix_web::rt::spawn(async move { cluster.unlock(&token, &key).await });
}

/// How waiting on another replica's fetch ended.
enum Waited {
    Found(IssuedSession),
    /// A login here took the lock meanwhile: this handshake fetches under it.
    Ours(LockToken),
    /// The lock is gone without a session, or the wait took longer than a Seam call may.
    GaveUp,
}

fn sid_record(issuer: usize, sid: &str) -> String {
    format!("{issuer}\u{0}{sid}")
}

impl Sessions {
    /// One round trip for everything a first-seen login needs from the fleet; `fetch` asks for
    /// the fetch lock too, should there be no stored session.
    pub(super) async fn fleet_recall(
        &self,
        user_key: &str,
        user_identifier_key: &str,
        session: Option<(usize, &str)>,
        fetch: bool,
    ) -> FleetRecall {
        let Some(cluster) = &self.cluster else {
            return FleetRecall::default();
        };
        let sid = session.map(|(issuer, sid)| sid_record(issuer, sid));
        let mut asked = vec![(REVOKED, user_key), (SESSION, user_identifier_key)];
        if let Some(sid) = &sid {
            asked.push((SID_ENDED, sid));
        }
        let lock = fetch.then_some((1, self.fetch_lock));
        let (found, lock) = cluster.recall(&asked, lock).await;
        let mut found = found.into_iter();
        let revoked = found.next().flatten();
        let stored_session = found.next().flatten();
        let session_ended = found.next().flatten().is_some();
        let (fetching_elsewhere, lock) = match lock {
            Lock::NotAsked => (false, None),
            Lock::HeldElsewhere => (true, None),
            Lock::Taken(token) => {
                let key = user_identifier_key.to_owned();
                (self.held_locks.entries()).insert(key.clone(), token.clone());
                let held = self.held_locks.clone();
                let cluster = cluster.clone();
                let claim = LockClaim {
                    held,
                    cluster,
                    key,
                    token,
                };
                (false, Some(claim))
            }
        };
        FleetRecall {
            revoked_at: revoked
                .and_then(|at| String::from_utf8(at).ok())
                .and_then(|at| at.parse().ok()),
            session_ended,
            start: FleetStart {
                stored_session,
                fetching_elsewhere,
                _lock: lock,
            },
        }
    }

    /// Tells the fleet that every login of this user until `at` is ended, and that their
    /// stored session must not be handed out again.
    pub(super) async fn share_user_revoked(
        &self,
        user_key: &str,
        user_identifier_key: &str,
        at: u64,
    ) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        let record = at.to_string();
        let revoked = (REVOKED, user_key, record.as_bytes(), self.longest_login);
        (cluster.put_and_drop(Some(revoked), SESSION, user_identifier_key)).await;
        cluster
            .publish(&Event::UserRevoked {
                user_key: user_key.to_owned(),
                at,
            })
            .await;
    }

    /// Tells the fleet that the logins carrying this identity-provider session are ended.
    pub(super) async fn share_session_ended(&self, issuer: usize, sid: &str) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        (cluster.put(
            SID_ENDED,
            &sid_record(issuer, sid),
            b"1",
            self.longest_login,
        ))
        .await;
        cluster
            .publish(&Event::SessionEnded {
                issuer,
                sid: sid.to_owned(),
            })
            .await;
    }

    /// Tells the fleet to drop the session of the user with this Seam key.
    pub(super) async fn share_session_dropped(&self, user_identifier_key: &str) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        (cluster.put_and_drop(None, SESSION, user_identifier_key)).await;
        cluster
            .publish(&Event::SessionDropped {
                user_identifier_key: user_identifier_key.to_owned(),
            })
            .await;
    }

    /// The user's session when this replica's cache cannot give one: without a cluster, from
    /// Seam; with one, a session another replica stored if it qualifies, else the fleet's one
    /// fetch (whoever holds the lock asks Seam and stores the answer; the others wait for it).
    pub(super) async fn fetch_session(
        &self,
        user: &User,
        accounts: &AccountSet,
        seam: &SeamClient,
        start: &FleetStart,
        qualifies: impl Fn(&IssuedSession) -> bool,
    ) -> Result<IssuedSession, SeamError> {
        let Some(cluster) = &self.cluster else {
            return self.issue(user, accounts, seam).await;
        };
        let key = &*user.user_identifier_key;
        let usable =
            |bytes: &[u8]| IssuedSession::from_stored(bytes, &self.terms).filter(|s| qualifies(s));
        if let Some(session) = start.stored_session.as_deref().and_then(usable) {
            return Ok(session);
        }
        // Taken when the login was first seen (no round trip now).
        if let Some(token) = self.held_locks.take(key) {
            return self
                .fetch_locked(cluster, user, accounts, seam, token)
                .await;
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
                        return self
                            .fetch_locked(cluster, user, accounts, seam, token)
                            .await;
                    }
                    None => fetching_elsewhere = true,
                }
            }
        }
        if fetching_elsewhere {
            match self.wait_for_fetch(cluster, key, &usable).await {
                Waited::Found(session) => return Ok(session),
                Waited::Ours(token) => {
                    return self
                        .fetch_locked(cluster, user, accounts, seam, token)
                        .await;
                }
                Waited::GaveUp => {}
            }
        }
        // Redis unavailable, or the replica that held the lock gave up: this one asks Seam.
        let issued = self.issue(user, accounts, seam).await?;
        self.store_session(cluster, key, &issued, None);
        Ok(issued)
    }

    /// The fleet's one fetch, under the lock `token`: stored for the others, or the lock
    /// released when Seam failed.
    async fn fetch_locked(
        &self,
        cluster: &Arc<Cluster>,
        user: &User,
        accounts: &AccountSet,
        seam: &SeamClient,
        token: LockToken,
    ) -> Result<IssuedSession, SeamError> {
        let key = &*user.user_identifier_key;
        let issued = self.issue(user, accounts, seam).await;
        match &issued {
            Ok(session) => self.store_session(cluster, key, session, Some(token)),
            Err(_) => release(cluster, token, key),
        }
        issued
    }

    async fn issue(
        &self,
        user: &User,
        accounts: &AccountSet,
        seam: &SeamClient,
    ) -> Result<IssuedSession, SeamError> {
        let key = &user.user_identifier_key;
        let previous = user.session.current();
        let previous = previous.as_deref();
        issue::issue(&self.terms, &*self.clock, key, accounts, previous, seam).await
    }

    /// Stores the session for the fleet (releasing the lock when this replica holds it), off
    /// the request's path: the request that fetched it needs nothing from Redis, and the other
    /// replicas wait on the lock until it is there.
    fn store_session(
        &self,
        cluster: &Arc<Cluster>,
        key: &str,
        session: &IssuedSession,
        lock: Option<LockToken>,
    ) {
        let ttl = Duration::try_from(session.expires_at - self.clock.now()).unwrap_or_default();
        let (cluster, key, stored) = (cluster.clone(), key.to_owned(), session.to_stored());
        actix_web::rt::spawn(async move {
            match (lock, ttl.is_zero()) {
                (Some(token), false) => {
                    (cluster.put_and_unlock(&token, SESSION, &key, &stored, ttl)).await;
                }
                (Some(token), true) => cluster.unlock(&token, &key).await,
                (None, false) => cluster.put(SESSION, &key, &stored, ttl).await,
                (None, true) => {}
            }
        });
    }

    /// Another replica is fetching the session: its result once stored, unless a login here
    /// takes the lock meanwhile, or it gave up (the lock gone without a session), or took
    /// longer than a Seam call may.
    async fn wait_for_fetch(
        &self,
        cluster: &Cluster,
        key: &str,
        usable: &impl Fn(&[u8]) -> Option<IssuedSession>,
    ) -> Waited {
        let deadline = Instant::now() + self.fetch_lock;
        while Instant::now() < deadline {
            tokio::time::sleep(FETCH_POLL).await;
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
        Waited::GaveUp
    }

    /// Whether Redis answers, with fleet mode on (`/readyz`).
    pub(crate) async fn cluster_health(&self) -> Option<crate::cluster::Health> {
        match &self.cluster {
            Some(cluster) => Some(cluster.health().await),
            None => None,
        }
    }
}

impl Remote for Sessions {
    async fn apply(&self, event: Event) {
        match event {
            Event::UserRevoked { user_key, at } => {
                self.revocations.revoke(&user_key, at);
                if let Some(user) = self.users.get(&user_key) {
                    user.tokens.forget_all();
                    user.session.clear(&user.flight).await;
                }
            }
            Event::SessionEnded { issuer, sid } => self.end_identity_session(issuer, &sid),
            Event::SessionDropped {
                user_identifier_key,
            } => self.forget_here(&user_identifier_key).await,
            Event::AccountGone {
                connected_account_id,
            } => {
                self.account_gone(&connected_account_id).await;
            }
            Event::AccountsAdded {
                user_identifier_keys,
            } => {
                self.accounts_added(&user_identifier_keys).await;
            }
            Event::ClientSessionDeleted { client_session_id } => {
                self.client_session_deleted(&client_session_id).await;
            }
        }
    }

    async fn missed_events(&self) {
        // Users come back at the cost of one signature check and one Redis read each.
        self.users.clear();
    }
}
