//! What `sessions` shares with the other replicas in fleet mode (`cluster`): each revocation
//! (a record for replicas that were not listening, and an event for those that are), the
//! records consulted when a login is first seen, the stored Seam sessions with the lock that
//! makes one fetch serve the fleet, and the other replicas' events applied here.
//!
//! Without a cluster every function here is a no-op or falls through to Seam.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Sessions;
use super::accounts::AccountSet;
use super::issue::{self, IssuedSession};
use super::users::User;
use crate::cluster::{Cluster, Event, Remote};
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
    /// The user's stored Seam session (opened, not yet judged), saving the handshake a trip.
    pub(super) stored_session: Option<Vec<u8>>,
}

fn sid_record(issuer: usize, sid: &str) -> String {
    format!("{issuer}\u{0}{sid}")
}

impl Sessions {
    /// One round trip for everything a first-seen login needs from the fleet.
    pub(super) async fn fleet_recall(
        &self,
        user_key: &str,
        user_identifier_key: &str,
        session: Option<(usize, &str)>,
    ) -> FleetRecall {
        let Some(cluster) = &self.cluster else {
            return FleetRecall::default();
        };
        let sid = session.map(|(issuer, sid)| sid_record(issuer, sid));
        let mut asked = vec![(REVOKED, user_key), (SESSION, user_identifier_key)];
        if let Some(sid) = &sid {
            asked.push((SID_ENDED, sid));
        }
        let mut found = cluster.get_many(&asked).await.into_iter();
        let revoked = found.next().flatten();
        let stored_session = found.next().flatten();
        let session_ended = found.next().flatten().is_some();
        FleetRecall {
            revoked_at: revoked
                .and_then(|at| String::from_utf8(at).ok())
                .and_then(|at| at.parse().ok()),
            session_ended,
            stored_session,
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
        cluster
            .put(
                REVOKED,
                user_key,
                at.to_string().as_bytes(),
                self.longest_login,
            )
            .await;
        cluster.delete(SESSION, user_identifier_key).await;
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
        cluster.delete(SESSION, user_identifier_key).await;
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
        stored: Option<&[u8]>,
        qualifies: impl Fn(&IssuedSession) -> bool,
    ) -> Result<IssuedSession, SeamError> {
        let Some(cluster) = &self.cluster else {
            return self.issue(user, accounts, seam).await;
        };
        let key = &*user.user_identifier_key;
        let usable =
            |bytes: &[u8]| IssuedSession::from_stored(bytes, &self.terms).filter(|s| qualifies(s));
        if let Some(session) = stored.and_then(usable) {
            return Ok(session);
        }
        // One round trip: the lock, and a session stored meanwhile (or, for a login that was
        // not first seen just now, the one stored at all).
        if let Some((locked, record)) = cluster.lock_and_get(SESSION, key, self.fetch_lock).await {
            if let Some(session) = record.as_deref().and_then(usable) {
                if locked {
                    cluster.unlock(key).await;
                }
                return Ok(session);
            }
            if locked {
                let issued = self.issue(user, accounts, seam).await;
                match &issued {
                    Ok(session) => self.store_session(cluster, key, session, true),
                    Err(_) => cluster.unlock(key).await,
                }
                return issued;
            }
            if let Some(session) = self.wait_for_fetch(cluster, key, &usable).await {
                return Ok(session);
            }
        }
        // Redis unavailable, or the replica that held the lock gave up: this one asks Seam.
        let issued = self.issue(user, accounts, seam).await?;
        self.store_session(cluster, key, &issued, false);
        Ok(issued)
    }

    async fn issue(
        &self,
        user: &User,
        accounts: &AccountSet,
        seam: &SeamClient,
    ) -> Result<IssuedSession, SeamError> {
        let key = &user.user_identifier_key;
        issue::issue(&self.terms, &*self.clock, key, accounts, seam).await
    }

    /// Stores the session for the fleet (releasing the lock when this replica holds it), off
    /// the request's path: the request that fetched it needs nothing from Redis, and the other
    /// replicas wait on the lock until it is there.
    fn store_session(
        &self,
        cluster: &Arc<Cluster>,
        key: &str,
        session: &IssuedSession,
        locked: bool,
    ) {
        let ttl = Duration::try_from(session.expires_at - self.clock.now()).unwrap_or_default();
        let (cluster, key, stored) = (cluster.clone(), key.to_owned(), session.to_stored());
        actix_web::rt::spawn(async move {
            match (locked, ttl.is_zero()) {
                (true, false) => cluster.put_and_unlock(SESSION, &key, &stored, ttl).await,
                (true, true) => cluster.unlock(&key).await,
                (false, false) => cluster.put(SESSION, &key, &stored, ttl).await,
                (false, true) => {}
            }
        });
    }

    /// Another replica is fetching the session: its result once stored, or `None` when it
    /// gave up (the lock gone without a session) or took longer than a Seam call may.
    async fn wait_for_fetch(
        &self,
        cluster: &Cluster,
        key: &str,
        usable: &impl Fn(&[u8]) -> Option<IssuedSession>,
    ) -> Option<IssuedSession> {
        let deadline = Instant::now() + self.fetch_lock;
        while Instant::now() < deadline {
            tokio::time::sleep(FETCH_POLL).await;
            if let Some(session) = cluster.get(SESSION, key).await.as_deref().and_then(usable) {
                return Some(session);
            }
            if cluster.locked(key).await != Some(true) {
                return cluster.get(SESSION, key).await.as_deref().and_then(usable);
            }
        }
        None
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
        }
    }

    async fn missed_events(&self) {
        // Users come back at the cost of one signature check and one Redis read each.
        self.users.clear();
    }
}
