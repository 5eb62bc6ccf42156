//! Token buckets on the handshake: per client address (checked before the login, so that a
//! flood of forged tokens cannot make us verify signatures without limit) and per verified
//! user. Over a limit the caller gets 429 with `Retry-After`.
//!
//! The client address is the peer's, unless the peer is a trusted proxy: then it is the
//! right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries further left
//! are whatever the client chose to send).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, web::Data};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

use crate::config::{ConfigError, RateLimitSettings, ServerSettings};
use crate::error::ApiError;

/// Forgotten buckets are swept after this many checks, which keeps memory bounded by the
/// number of recently active callers.
const SWEEP_EVERY: u64 = 4096;

/// Which limit was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Client,
    User,
}

#[derive(Debug, thiserror::Error)]
#[error("{scope:?} rate limit reached")]
pub(crate) struct Limited {
    pub(crate) scope: Scope,
    pub(crate) retry_after: Duration,
}

struct Bucket<K: std::hash::Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    checks: AtomicU64,
}

impl<K: std::hash::Hash + Eq + Clone> Bucket<K> {
    fn new(key: &str, per_minute: u32, burst: u32) -> Result<Self, ConfigError> {
        let per_minute = NonZeroU32::new(per_minute).ok_or_else(|| {
            ConfigError::new(
                format!("rate_limit.{key}_per_minute"),
                "must be above 0 (or set rate_limit.enabled = false)",
            )
        })?;
        let burst = NonZeroU32::new(burst).ok_or_else(|| {
            ConfigError::new(format!("rate_limit.{key}_burst"), "must be above 0")
        })?;
        Ok(Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            checks: AtomicU64::new(0),
        })
    }

    fn check(&self, key: &K, scope: Scope) -> Result<(), Limited> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(key).map_err(|not_until| Limited {
            scope,
            retry_after: not_until.wait_time_from(DefaultClock::default().now()),
        })
    }
}

pub(crate) struct RateLimits {
    clients: Option<Bucket<IpAddr>>,
    /// Keyed by a keyed hash of the user's id, so the hot path allocates nothing.
    users: Option<Bucket<u64>>,
    hasher: RandomState,
    trusted_proxies: Vec<IpNet>,
}

impl RateLimits {
    pub(crate) fn from_settings(
        limits: &RateLimitSettings,
        server: &ServerSettings,
    ) -> Result<Self, ConfigError> {
        let trusted_proxies = server
            .trusted_proxies
            .iter()
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        ConfigError::new(
                            "server.trusted_proxies",
                            format!("{entry:?} is not an IP address or CIDR range"),
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        let (clients, users) = if limits.enabled {
            (
                Some(Bucket::new(
                    "client",
                    limits.client_per_minute,
                    limits.client_burst,
                )?),
                Some(Bucket::new(
                    "user",
                    limits.user_per_minute,
                    limits.user_burst,
                )?),
            )
        } else {
            (None, None)
        };
        Ok(Self {
            clients,
            users,
            hasher: RandomState::new(),
            trusted_proxies,
        })
    }

    pub(crate) fn check_client(&self, req: &HttpRequest) -> Result<(), Limited> {
        match (&self.clients, self.client_address(req)) {
            (Some(bucket), Some(address)) => bucket.check(&address, Scope::Client),
            _ => Ok(()),
        }
    }

    /// Per user key (an issuer's user: the same `sub` at two issuers is two users).
    pub(crate) fn check_user(&self, user_key: &str) -> Result<(), Limited> {
        match &self.users {
            Some(bucket) => bucket.check(&self.hasher.hash_one(user_key), Scope::User),
            None => Ok(()),
        }
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        self.trusted_proxies
            .iter()
            .any(|net| net.contains(&address))
    }

    /// The address the limits count against (see the module docs).
    pub(crate) fn client_address(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let forwarded: Vec<IpAddr> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|entry| entry.trim().parse().ok())
            .collect();
        Some(
            forwarded
                .into_iter()
                .rev()
                .find(|address| !self.is_trusted(*address))
                .unwrap_or(peer),
        )
    }
}

/// Middleware for the handshake routes: the per-client limit, before any login is verified.
/// A refusal is answered as a response, not returned as an error, so that CORS and the request
/// log around the route treat it like any other answer: a page can read the 429 and its
/// `Retry-After`, and it is logged and counted.
pub(crate) async fn limit_clients<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    if let Some(limits) = req.app_data::<Data<RateLimits>>()
        && let Err(limited) = limits.check_client(req.request())
    {
        return Ok(req
            .error_response(ApiError::from(limited))
            .map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn limits(trusted: &[&str]) -> RateLimits {
        RateLimits::from_settings(
            &RateLimitSettings {
                enabled: true,
                user_per_minute: 1,
                user_burst: 2,
                client_per_minute: 1,
                client_burst: 1,
            },
            &ServerSettings {
                bind: String::new(),
                workers: 1,
                shutdown_timeout_secs: 1,
                request_timeout_ms: 1000,
                max_body_bytes: 1024,
                trusted_proxies: trusted.iter().map(|s| s.to_string()).collect(),
            },
        )
        .expect("valid")
    }

    fn request(peer: &str, forwarded: Option<&str>) -> HttpRequest {
        let mut req = TestRequest::default().peer_addr(peer.parse().expect("socket address"));
        if let Some(value) = forwarded {
            req = req.insert_header(("x-forwarded-for", value));
        }
        req.to_http_request()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let limits = limits(&["10.0.0.0/8"]);
        let direct = request("203.0.113.9:1000", Some("198.51.100.1"));
        assert_eq!(
            limits.client_address(&direct),
            Some("203.0.113.9".parse().expect("ip"))
        );
        let proxied = request("10.1.2.3:1000", Some("198.51.100.1, 203.0.113.7, 10.0.0.5"));
        assert_eq!(
            limits.client_address(&proxied),
            Some("203.0.113.7".parse().expect("ip"))
        );
    }

    #[test]
    fn a_user_gets_the_burst_then_waits() {
        let limits = limits(&[]);
        assert!(limits.check_user("alice").is_ok());
        assert!(limits.check_user("alice").is_ok());
        let limited = limits
            .check_user("alice")
            .expect_err("third in a burst of two");
        assert_eq!(limited.scope, Scope::User);
        assert!(limited.retry_after > Duration::from_secs(1));
        assert!(
            limits.check_user("bob").is_ok(),
            "users have separate buckets"
        );
    }
}
