//! Once for the whole fleet: each Svix delivery id and each logout token's `jti` is claimed in
//! Redis (`SET NX PX`, the key a keyed hash of it), after the replica's own check, so that a
//! delivery or logout token applied on one replica is a replay on every other. A claim whose
//! request did not complete (Seam failed, or `server.request_timeout_ms` cut it off) is given
//! back when it is dropped, so that the sender's retry is applied.
//!
//! When Redis does not answer in time the delivery or logout is applied with the replica's
//! own check alone: a duplicate of either can only clear caches or end logins again, while
//! refusing it would leave a logout unapplied or a cache serving what Seam changed.

use std::sync::Arc;
use std::time::Duration;

use super::Fleet;
use crate::cluster::{Cluster, LockToken};

/// Record kinds of the claims.
const DELIVERY: &str = "svix";
const LOGOUT_TOKEN: &str = "jti";

/// Another replica (or this one, for a request still running) claimed it first.
#[derive(Debug)]
pub(crate) struct ClaimedElsewhere;

/// A replay id remembered here, and in fleet mode claimed for the fleet: when dropped, it is
/// forgotten here (`forget_here`) and the fleet's claim given back, unless `keep` was called.
/// A request cut off by `server.request_timeout_ms` is dropped, and its claim with it.
#[must_use = "a claim dropped at once is given back at once"]
pub(crate) struct Claim<F: FnOnce()> {
    forget_here: Option<F>,
    fleet: Option<FleetClaim>,
}

impl<F: FnOnce()> Claim<F> {
    /// What this replica remembered: `forget_here` forgets it. Made before the fleet is
    /// asked, so that a request cut off meanwhile forgets it too.
    pub(crate) fn new(forget_here: F) -> Self {
        Self {
            forget_here: Some(forget_here),
            fleet: None,
        }
    }

    /// The fleet's answer to the claim (`Fleet::claim_delivery`, `Fleet::claim_logout`).
    /// Claimed elsewhere, the caller drops this claim, which forgets the id here: should the
    /// claimant give it back, the sender's retry is taken here too.
    pub(crate) fn in_fleet(
        &mut self,
        answer: Result<Option<FleetClaim>, ClaimedElsewhere>,
    ) -> Result<(), ClaimedElsewhere> {
        self.fleet = answer?;
        Ok(())
    }

    /// What the id was for is done: it holds here and in the fleet until it expires.
    pub(crate) fn keep(mut self) {
        self.forget_here = None;
        if let Some(fleet) = self.fleet.take() {
            fleet.keep();
        }
    }
}

impl<F: FnOnce()> Drop for Claim<F> {
    fn drop(&mut self) {
        if let Some(forget) = self.forget_here.take() {
            forget();
        }
    }
}

/// A fleet-wide claim this replica made, or may have made (a claim whose answer did not come
/// in time): given back when dropped, unless `keep` was called. It exists before the claim is
/// sent, so that a request cut off while it waits for Redis gives it back too.
pub(crate) struct FleetClaim {
    cluster: Arc<Cluster>,
    kind: &'static str,
    what: String,
    token: LockToken,
    kept: bool,
}

impl FleetClaim {
    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for FleetClaim {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        // Spawned before the answer to the request is written, and one command on the
        // replica's one connection, after the claim: the sender's retry, here, finds the claim
        // gone.
        let (cluster, kind) = (self.cluster.clone(), self.kind);
        let (what, token) = (std::mem::take(&mut self.what), self.token.clone());
        actix_web::rt::spawn(async move { cluster.release(kind, &what, &token).await });
    }
}

impl Fleet {
    /// Claims a Svix delivery id for the fleet, for `ttl` (as long as the delivery could pass
    /// the timestamp check). `Ok(None)`: Redis did not answer.
    pub(crate) async fn claim_delivery(
        &self,
        id: &str,
        ttl: Duration,
    ) -> Result<Option<FleetClaim>, ClaimedElsewhere> {
        self.claim(DELIVERY, id.to_owned(), ttl).await
    }

    /// Claims a logout token of `issuer` by its `jti`, for as long as a login may live (a
    /// logout token is no older). `Ok(None)`: Redis did not answer.
    pub(crate) async fn claim_logout(
        &self,
        issuer: usize,
        jti: &str,
    ) -> Result<Option<FleetClaim>, ClaimedElsewhere> {
        let what = super::issuer_record(issuer, jti);
        self.claim(LOGOUT_TOKEN, what, self.longest_login).await
    }

    async fn claim(
        &self,
        kind: &'static str,
        what: String,
        ttl: Duration,
    ) -> Result<Option<FleetClaim>, ClaimedElsewhere> {
        let mut claim = FleetClaim {
            cluster: self.cluster.clone(),
            kind,
            what,
            token: self.cluster.claim_token(),
            kept: false,
        };
        match (self.cluster)
            .claim(kind, &claim.what, &claim.token, ttl)
            .await
        {
            Some(true) => Ok(Some(claim)),
            Some(false) => {
                // Not this replica's to give back.
                claim.kept = true;
                Err(ClaimedElsewhere)
            }
            // Given back at once, should the claim reach Redis late.
            None => Ok(None),
        }
    }
}
