//! Fleet sync: what the login admission, the handshake and Seam's events share with the other
//! replicas through Redis (`cluster`). Each revocation (a record for replicas that were not
//! listening, and an event for those that are), the records consulted when a login is first
//! seen, and the stored Seam sessions with the lock that makes one fetch serve the fleet
//! (`fetch`).
//!
//! Each Svix delivery id and logout token is also claimed once for the fleet (`claims`; its
//! `Claim`, the guard that forgets an id whose request did not complete, serves a single
//! instance too, without Redis).
//!
//! A single instance has no `Fleet`: its owners hold `Option<Arc<Fleet>>`, `None` without
//! `[cluster]`, and never call in here. What the others tell this replica is applied by
//! `replicas`, which the cluster's listener calls.
//!
//! A first-seen login of a user this replica holds no session for costs one Redis round trip
//! before its handshake's Seam call: the recall reads the revocation records and the stored
//! session, and takes the fetch lock when there is no stored session. The login keeps the
//! lock (`LockClaim`) until a handshake of its user fetches under it, or releases it when it
//! ends without one (a refused login, a rate-limited handshake).

mod claims;
mod fetch;

use std::sync::Arc;
use std::time::Duration;

use crate::cluster::{Cluster, Event, Health, Lock, SeenLogin};

pub(crate) use claims::Claim;
pub(crate) use fetch::{FleetStart, Stored};
use fetch::{HeldLocks, LockClaim};

/// Record kinds (each name is a keyed hash of what follows it, never the text itself).
const REVOKED: &str = "revoked";
const SID_ENDED: &str = "sid";
const SESSION: &str = "session";
const WEBVIEW_MAKER: &str = "webview";

/// How long the fleet remembers whose session made a Connect Webview, once that session is
/// deleted (`handshake::Provenance`): as long as such an account plausibly stays connected.
const WEBVIEW_MAKER_KEPT: Duration = Duration::from_secs(400 * 24 * 3600);

pub(crate) struct Fleet {
    cluster: Arc<Cluster>,
    /// Fetch locks taken at a recall that no handshake has fetched under yet.
    held_locks: Arc<HeldLocks>,
    /// How long revocation records last: as long as a login may live.
    longest_login: Duration,
    /// How long the fetch lock lasts, and a wait on another replica's fetch: as long as a
    /// Seam call may take.
    fetch_lock: Duration,
}

/// What the fleet knows about a login seen here for the first time.
#[derive(Default)]
pub(crate) struct FleetRecall {
    /// The user's last revocation anywhere: its second, and the rest of its record (how it
    /// treats the logins of that second, `share_user_revoked`).
    pub(crate) revoked: Option<(u64, String)>,
    /// The login was seen, anywhere, before that revocation.
    pub(crate) seen_before: bool,
    /// The login's identity-provider session was ended anywhere.
    pub(crate) session_ended: bool,
    pub(crate) start: FleetStart,
}

fn issuer_record(issuer: usize, sid: &str) -> String {
    format!("{issuer}\u{0}{sid}")
}

impl Fleet {
    pub(crate) fn new(
        cluster: Arc<Cluster>,
        longest_login: Duration,
        fetch_lock: Duration,
    ) -> Self {
        Self {
            cluster,
            held_locks: Arc::default(),
            longest_login,
            fetch_lock,
        }
    }

    /// One round trip for everything a first-seen login needs from the fleet; `fetch` asks for
    /// the fetch lock too, should there be no stored session. `login` (a digest, in hex) is
    /// asked about as seen before the user's last revocation, and noted as seen for `keep`
    /// when given: a revocation in the login's second will refuse it on every replica.
    pub(crate) async fn recall(
        &self,
        user_key: &str,
        user_identifier_key: &str,
        session: Option<(usize, &str)>,
        fetch: bool,
        (login, keep): (&str, Option<Duration>),
    ) -> FleetRecall {
        let sid = session.map(|(issuer, sid)| issuer_record(issuer, sid));
        let mut asked = vec![(REVOKED, user_key), (SESSION, user_identifier_key)];
        if let Some(sid) = &sid {
            asked.push((SID_ENDED, sid));
        }
        let lock = fetch.then_some((1, self.fetch_lock));
        let seen = SeenLogin {
            user: user_key,
            login,
            keep,
        };
        let (found, lock, seen_before) = self.cluster.recall(&asked, lock, Some(seen)).await;
        let mut found = found.into_iter();
        let revoked = found.next().flatten();
        let stored_session = found.next().flatten();
        let session_ended = found.next().flatten().is_some();
        let (fetching_elsewhere, lock) = match lock {
            Lock::NotAsked => (false, None),
            Lock::HeldElsewhere => (true, None),
            Lock::Taken(token) => {
                let claim =
                    LockClaim::hold(&self.held_locks, &self.cluster, user_identifier_key, token);
                (false, Some(claim))
            }
        };
        FleetRecall {
            revoked: revoked.and_then(|record| {
                let record = String::from_utf8(record).ok()?;
                let (at, rest) = record.split_once(' ').unwrap_or((&record, ""));
                Some((at.parse().ok()?, rest.to_owned()))
            }),
            seen_before,
            session_ended,
            start: FleetStart::new(stored_session, fetching_elsewhere, lock),
        }
    }

    /// Tells the fleet that every login of this user before `at` is ended, those of second
    /// `at` seen anywhere before now, and the others of that second as `same_second` (the rest
    /// of the record) says; and that their stored session must not be handed out again.
    pub(crate) async fn share_user_revoked(
        &self,
        user_key: &str,
        user_identifier_key: &str,
        at: u64,
        same_second: &str,
    ) {
        let record = format!("{at} {same_second}");
        let revoked = (REVOKED, user_key, record.as_bytes(), self.longest_login);
        (self.cluster)
            .put_and_drop(Some(revoked), SESSION, user_identifier_key)
            .await;
        self.cluster
            .publish(&Event::UserRevoked {
                user_key: user_key.to_owned(),
                at,
            })
            .await;
    }

    /// Tells the fleet that the logins carrying this identity-provider session are ended.
    pub(crate) async fn share_session_ended(&self, issuer: usize, sid: &str) {
        let record = issuer_record(issuer, sid);
        (self.cluster)
            .put(SID_ENDED, &record, b"1", self.longest_login)
            .await;
        self.cluster
            .publish(&Event::SessionEnded {
                issuer,
                sid: sid.to_owned(),
            })
            .await;
    }

    /// Tells the fleet to drop the session of the user with this Seam key.
    pub(crate) async fn share_session_dropped(&self, user_identifier_key: &str) {
        (self.cluster)
            .put_and_drop(None, SESSION, user_identifier_key)
            .await;
        self.cluster
            .publish(&Event::SessionDropped {
                user_identifier_key: user_identifier_key.to_owned(),
            })
            .await;
    }

    /// Tells the fleet that a session of the user with this Seam key (`None`: a session without
    /// one) made this Connect Webview, before the session is deleted and Seam forgets it.
    pub(crate) async fn share_webview_maker(&self, webview: &str, maker: Option<&str>) {
        let maker = maker.unwrap_or_default().as_bytes();
        (self.cluster)
            .put(WEBVIEW_MAKER, webview, maker, WEBVIEW_MAKER_KEPT)
            .await;
    }

    /// Whose session made this Connect Webview, when a replica told the fleet before deleting
    /// it: `Some(None)` for a session without a Seam key.
    pub(crate) async fn webview_maker(&self, webview: &str) -> Option<Option<String>> {
        let maker = self.cluster.get(WEBVIEW_MAKER, webview).await?;
        let maker = String::from_utf8(maker).ok()?;
        Some(Some(maker).filter(|m| !m.is_empty()))
    }

    /// Tells the other replicas of a Seam event this one applied.
    pub(crate) async fn share(&self, event: &Event) {
        self.cluster.publish(event).await;
    }

    /// Another replica's fetch of this user's session ended: the handshakes waiting on it here
    /// look for its result.
    pub(crate) fn fetch_ended_elsewhere(&self, user_identifier_key: &str) {
        self.held_locks.wake(user_identifier_key);
    }

    /// Whether Redis answers (`/readyz`).
    pub(crate) async fn health(&self) -> Health {
        self.cluster.health().await
    }
}
