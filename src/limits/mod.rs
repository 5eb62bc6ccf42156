//! Abuse limits, each counting only what costs:
//!
//! - **Per client address: signature checks that failed.** A forged or mis-signed token is
//!   the one refusal that costs (a signature check, perhaps a key-set fetch). Every other
//!   refusal is made from the token's header and claims before any signature work and costs
//!   nothing, and a valid login never counts. While an address has nothing left, a token the
//!   service has not verified before gets 429 before its signature is checked; remembered
//!   logins from that address are answered as usual. So an office behind one address signs
//!   in freely, while a flood of forged tokens is cut off after the burst.
//! - **Per user: what reaches Seam.** A handshake the cache cannot answer, and a logout. A page
//!   reload costs a microsecond and Seam nothing, and is not counted.
//!
//! Both are GCRA token buckets (`buckets`); in fleet mode the buckets are the fleet's, kept in
//! Redis by the same algorithm (`cluster`), so that the limits hold for the fleet, not per
//! replica; while Redis does not answer, each replica falls back to its own. Which address a
//! request counts against is `client_address`'s.
//!
//! A service the routes call, not middleware: only the routes know what a request costs.

mod buckets;
mod client_address;

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::http::header::HeaderName;
use prometheus::IntCounter;

use crate::cluster::Cluster;
use crate::config::{ConfigError, RateLimitSettings, ServerSettings};
use crate::metrics::Metrics;
use buckets::Buckets;
pub(crate) use client_address::ClientAddresses;

/// draft-ietf-httpapi-ratelimit-headers: the bucket a refusal came from, and its state.
pub(crate) const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub(crate) const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Which limit was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Client,
    User,
}

impl Scope {
    /// The policy's name in the `RateLimit-Policy` and `RateLimit` headers.
    pub(crate) fn policy(self) -> &'static str {
        match self {
            Scope::Client => "failed-logins",
            Scope::User => "seam-calls",
        }
    }
}

/// What a user's request costs at Seam, for the metrics.
#[derive(Debug, Clone, Copy)]
pub(crate) enum UserCost {
    Handshake,
    Logout,
}

#[derive(Debug, thiserror::Error)]
#[error("rate limit `{}` reached", scope.policy())]
pub(crate) struct Limited {
    pub(crate) scope: Scope,
    pub(crate) retry_after: Duration,
    /// The bucket: `burst` requests, refilled in `window`.
    pub(crate) burst: u32,
    pub(crate) window: Duration,
}

pub(crate) struct RateLimits {
    clients: Option<Buckets<IpAddr>>,
    /// Keyed by a keyed hash of the user key, so that a check allocates nothing.
    users: Option<Buckets<u64>>,
    hasher: RandomState,
    addresses: ClientAddresses,
    /// `rate_limited_total` for signature failures, handshakes and logouts.
    refused: [IntCounter; 3],
    cluster: Option<Arc<Cluster>>,
}

impl RateLimits {
    pub(crate) fn from_settings(
        limits: &RateLimitSettings,
        server: &ServerSettings,
        metrics: &Metrics,
        cluster: Option<Arc<Cluster>>,
    ) -> Result<Self, ConfigError> {
        let addresses = ClientAddresses::from_settings(server, limits.ipv6_prefix_len)?;
        let (clients, users) = if limits.enabled {
            (
                Some(Buckets::new(
                    Scope::Client,
                    "rl-client",
                    "client",
                    limits.client_per_minute,
                    limits.client_burst,
                )?),
                Some(Buckets::new(
                    Scope::User,
                    "rl-user",
                    "user",
                    limits.user_per_minute,
                    limits.user_burst,
                )?),
            )
        } else {
            (None, None)
        };
        let refused =
            |scope: &str, reason: &str| metrics.rate_limited.with_label_values(&[scope, reason]);
        Ok(Self {
            clients,
            users,
            hasher: RandomState::new(),
            addresses,
            refused: [
                refused("client", "signature_failures"),
                refused("user", "handshakes"),
                refused("user", "logouts"),
            ],
            cluster,
        })
    }

    /// The client's turn to have a token's signature checked (see `SignatureTurn`).
    pub(crate) fn signature_turn(self: &Arc<Self>, req: &HttpRequest) -> SignatureTurn {
        SignatureTurn {
            client: self.clients.as_ref().and(self.addresses.key(req)),
            limits: self.clone(),
        }
    }

    /// Per user key (an issuer's user: the same `sub` at two issuers is two users), for a
    /// request that reaches Seam.
    pub(crate) async fn check_user(&self, user_key: &str, cost: UserCost) -> Result<(), Limited> {
        let Some(bucket) = &self.users else {
            return Ok(());
        };
        let key = self.hasher.hash_one(user_key);
        (bucket.check(self.cluster.as_deref(), key, user_key, true))
            .await
            .inspect_err(|_| match cost {
                UserCost::Handshake => self.refused[1].inc(),
                UserCost::Logout => self.refused[2].inc(),
            })
    }
}

/// A client's turn to have one token's signature checked: refused while its address has no
/// failures left (`room`), and costing nothing unless the check fails (`failed`).
pub(crate) struct SignatureTurn {
    limits: Arc<RateLimits>,
    client: Option<IpAddr>,
}

impl SignatureTurn {
    /// `Err` while the client's address has no failed checks left.
    pub(crate) async fn room(&self) -> Result<(), Limited> {
        let (Some(bucket), Some(client)) = (&self.limits.clients, self.client) else {
            return Ok(());
        };
        let name = client.to_string();
        (bucket.check(self.limits.cluster.as_deref(), client, &name, false))
            .await
            .inspect_err(|_| self.limits.refused[0].inc())
    }

    /// The signature check failed: it counts against the client.
    pub(crate) async fn failed(self) {
        if let (Some(bucket), Some(client)) = (&self.limits.clients, self.client) {
            // Already over: the next token is refused before its check, and this one was
            // refused by its signature.
            let name = client.to_string();
            let _ = (bucket.check(self.limits.cluster.as_deref(), client, &name, true)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ForwardedHeader;
    use actix_web::test::TestRequest;

    /// Limits of one failed check per client and two Seam calls per user, with no trusted
    /// proxy.
    fn limits() -> RateLimits {
        RateLimits::from_settings(
            &RateLimitSettings {
                enabled: true,
                user_per_minute: 1,
                user_burst: 2,
                client_per_minute: 1,
                client_burst: 1,
                ipv6_prefix_len: 64,
            },
            &client_address::tests::server(&[], ForwardedHeader::XForwardedFor),
            &Metrics::new("/"),
            None,
        )
        .expect("valid")
    }

    fn request(peer: &str, header: &str, values: &[&str]) -> HttpRequest {
        let mut req = TestRequest::default().peer_addr(peer.parse().expect("socket address"));
        for value in values {
            req = req.append_header((header, *value));
        }
        req.to_http_request()
    }

    #[actix_web::test]
    async fn a_user_gets_the_burst_then_waits() {
        let limits = limits();
        let handshake = |user| limits.check_user(user, UserCost::Handshake);
        assert!(handshake("alice").await.is_ok());
        assert!(handshake("alice").await.is_ok());
        let limited = handshake("alice")
            .await
            .expect_err("third in a burst of two");
        assert_eq!(limited.scope, Scope::User);
        assert!(limited.retry_after > Duration::from_secs(1));
        assert!(limited.retry_after <= Duration::from_secs(60));
        assert_eq!(
            (limited.burst, limited.window),
            (2, Duration::from_secs(120))
        );
        assert!(
            handshake("bob").await.is_ok(),
            "users have separate buckets"
        );
    }

    /// Looking at a bucket takes nothing from it; only failures do.
    #[actix_web::test]
    async fn a_client_spends_only_failed_signature_checks() {
        let limits = Arc::new(limits());
        let req = request("203.0.113.9:1", "x-forwarded-for", &[]);
        let turn = || limits.signature_turn(&req);
        for _ in 0..5 {
            turn().room().await.expect("valid logins never spend");
        }
        turn().failed().await;
        let limited = turn().room().await.expect_err("a burst of one");
        assert_eq!(limited.scope, Scope::Client);
        let other = request("203.0.113.10:1", "x-forwarded-for", &[]);
        assert!(limits.signature_turn(&other).room().await.is_ok());
    }
}
