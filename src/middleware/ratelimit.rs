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
//! Both are GCRA token buckets (a burst, refilled at a steady rate) in bounded moka caches:
//! governor, the usual crate, can neither look at a bucket without taking from it nor bound how
//! many buckets it keeps. In fleet mode the buckets are the fleet's, kept in Redis by the same
//! algorithm (`cluster`), so that the limits hold for the fleet, not per replica; while Redis
//! does not answer, each replica falls back to its own.
//!
//! The client address is the peer's, unless the peer is a trusted proxy: then the header the
//! proxies write (`server.forwarded_header`) is walked from the right, skipping trusted proxies,
//! and the first other entry is the client, a port stripped and an IPv4-mapped IPv6 address
//! unwrapped. An entry that cannot be read (`unknown`, an obfuscated name, garbage) stops the
//! walk at the proxy that wrote it: the request counts against that proxy, never against an
//! entry further left, which the client wrote itself. IPv6 clients count by prefix
//! (`rate_limit.ipv6_prefix_len`): one host holds a whole /64.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use actix_web::http::header::HeaderName;
use actix_web::web::Data;
use ipnet::{IpNet, Ipv6Net};
use moka::ops::compute::Op;
use moka::sync::Cache;
use prometheus::IntCounter;

use crate::cluster::Cluster;
use crate::config::{ConfigError, ForwardedHeader, RateLimitSettings, ServerSettings};
use crate::metrics::Metrics;

/// Buckets kept per limit. A bucket left alone refills and is dropped; past this many, the
/// least used go first. An attacker with more addresses than this is a distributed attack,
/// which no per-address limit stops.
const MAX_BUCKETS: u64 = 100_000;

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

/// One GCRA bucket per key. A bucket is its theoretical arrival time (TAT): full when that is
/// not after now, empty when it is more than `tolerance` after now.
struct Buckets<K> {
    scope: Scope,
    /// The fleet's record kind for these buckets.
    kind: &'static str,
    /// Time to refill one request, and `interval * (burst - 1)`.
    interval: Duration,
    tolerance: Duration,
    burst: u32,
    tats: Cache<K, Instant>,
}

impl<K: Hash + Eq + Send + Sync + Clone + 'static> Buckets<K> {
    fn new(
        scope: Scope,
        kind: &'static str,
        key: &str,
        per_minute: u32,
        burst: u32,
    ) -> Result<Self, ConfigError> {
        if per_minute == 0 {
            return Err(ConfigError::new(
                format!("rate_limit.{key}_per_minute"),
                "must be above 0 (or set rate_limit.enabled = false)",
            ));
        }
        if burst == 0 {
            return Err(ConfigError::new(
                format!("rate_limit.{key}_burst"),
                "must be above 0",
            ));
        }
        let interval = Duration::from_secs(60) / per_minute;
        Ok(Self {
            scope,
            kind,
            interval,
            tolerance: interval * (burst - 1),
            burst,
            tats: Cache::builder()
                .max_capacity(MAX_BUCKETS)
                // A bucket untouched this long is full again: forgetting it changes nothing.
                .time_to_live(interval * burst)
                .build(),
        })
    }

    fn limited(&self, tat: Instant, now: Instant) -> Option<Limited> {
        let ahead = tat.saturating_duration_since(now);
        (ahead > self.tolerance).then(|| self.refusal(ahead - self.tolerance))
    }

    fn refusal(&self, retry_after: Duration) -> Limited {
        Limited {
            scope: self.scope,
            retry_after,
            burst: self.burst,
            window: self.interval * self.burst,
        }
    }

    /// Looks at (`take` false) or takes from the bucket of `key`: the fleet's, named by
    /// `name`, when there is a cluster that answers; else this replica's own.
    async fn check(
        &self,
        cluster: Option<&Cluster>,
        key: K,
        name: &str,
        take: bool,
    ) -> Result<(), Limited> {
        if let Some(cluster) = cluster
            && let Some(answer) =
                (cluster.bucket(self.kind, name, self.interval, self.burst, take)).await
        {
            return answer.map_err(|wait| self.refusal(wait));
        }
        if take {
            self.take(key)
        } else {
            self.room(&key)
        }
    }

    /// `Err` when the bucket is empty: how long until it holds one again.
    fn room(&self, key: &K) -> Result<(), Limited> {
        let now = Instant::now();
        match self.tats.get(key).and_then(|tat| self.limited(tat, now)) {
            Some(limited) => Err(limited),
            None => Ok(()),
        }
    }

    /// Takes one request from the bucket; `Err` as `room` when it is empty.
    fn take(&self, key: K) -> Result<(), Limited> {
        let now = Instant::now();
        let mut refused = None;
        self.tats.entry(key).and_compute_with(|kept| {
            let tat = kept.map_or(now, |entry| entry.into_value().max(now));
            match self.limited(tat, now) {
                Some(limited) => {
                    refused = Some(limited);
                    Op::Nop
                }
                None => Op::Put(tat + self.interval),
            }
        });
        refused.map_or(Ok(()), Err)
    }

    #[cfg(test)]
    fn len(&self) -> u64 {
        self.tats.run_pending_tasks();
        self.tats.entry_count()
    }
}

pub(crate) struct RateLimits {
    clients: Option<Buckets<IpAddr>>,
    /// Keyed by a keyed hash of the user key, so that a check allocates nothing.
    users: Option<Buckets<u64>>,
    hasher: RandomState,
    trusted_proxies: Vec<IpNet>,
    forwarded_header: ForwardedHeader,
    ipv6_prefix_len: u8,
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
        if !(1..=128).contains(&limits.ipv6_prefix_len) {
            return Err(ConfigError::new(
                "rate_limit.ipv6_prefix_len",
                "must be 1 to 128: the prefix that one IPv6 client holds, usually 64",
            ));
        }
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
            trusted_proxies,
            forwarded_header: server.forwarded_header,
            ipv6_prefix_len: limits.ipv6_prefix_len,
            refused: [
                refused("client", "signature_failures"),
                refused("user", "handshakes"),
                refused("user", "logouts"),
            ],
            cluster,
        })
    }

    /// The client's turn to have a token's signature checked (see `SignatureTurn`).
    pub(crate) fn signature_turn(limits: &Data<RateLimits>, req: &HttpRequest) -> SignatureTurn {
        SignatureTurn {
            client: limits.clients.as_ref().and(limits.client_key(req)),
            limits: limits.clone(),
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

    fn is_trusted(&self, address: IpAddr) -> bool {
        self.trusted_proxies
            .iter()
            .any(|net| net.contains(&address))
    }

    /// The bucket a request counts against: its client address (see the module docs), an
    /// IPv6 one cut to its prefix.
    fn client_key(&self, req: &HttpRequest) -> Option<IpAddr> {
        let address = self.client_address(req)?;
        Some(match address {
            IpAddr::V4(_) => address,
            IpAddr::V6(v6) => Ipv6Net::new(v6, self.ipv6_prefix_len)
                .map_or(address, |net| IpAddr::V6(net.network())),
        })
    }

    /// The client address of a request (see the module docs).
    pub(crate) fn client_address(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = unmapped(req.peer_addr()?.ip());
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let values = req
            .headers()
            .get_all(self.forwarded_header.name())
            .map(|value| value.to_str().ok());
        // Entries in the order the proxies appended them; an unreadable header line is one
        // unreadable entry.
        let mut entries: Vec<Option<&str>> = Vec::new();
        for value in values {
            match value {
                Some(text) => {
                    entries.extend(text.split(',').map(|entry| match self.forwarded_header {
                        ForwardedHeader::XForwardedFor => Some(entry),
                        ForwardedHeader::Forwarded => forwarded_for(entry),
                    }))
                }
                None => entries.push(None),
            }
        }
        // The proxy that wrote the entry being read; the peer wrote the right-most.
        let mut writer = peer;
        for entry in entries.into_iter().rev() {
            match entry.and_then(node_address) {
                Some(address) if self.is_trusted(address) => writer = address,
                Some(address) => return Some(address),
                None => return Some(writer),
            }
        }
        Some(writer)
    }
}

/// A client's turn to have one token's signature checked: refused while its address has no
/// failures left (`room`), and costing nothing unless the check fails (`failed`).
pub(crate) struct SignatureTurn {
    limits: Data<RateLimits>,
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

/// The `for=` value of one `Forwarded` element (RFC 7239 §4), unquoted.
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| value.trim().trim_matches('"'))
    })
}

/// An address as a proxy wrote it: `a.b.c.d`, `a.b.c.d:port`, an IPv6 address bare or in
/// brackets, with or without a port. `None` for anything else (`unknown`, `_hidden`, garbage).
fn node_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let bracketed = || {
        let inner = entry.strip_prefix('[')?.strip_suffix(']')?;
        inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    };
    let address = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(bracketed)?;
    Some(unmapped(address))
}

/// `::ffff:a.b.c.d` is the IPv4 client `a.b.c.d`.
fn unmapped(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        IpAddr::V4(_) => address,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn limits_with(trusted: &[&str], header: ForwardedHeader) -> RateLimits {
        RateLimits::from_settings(
            &RateLimitSettings {
                enabled: true,
                user_per_minute: 1,
                user_burst: 2,
                client_per_minute: 1,
                client_burst: 1,
                ipv6_prefix_len: 64,
            },
            &ServerSettings {
                bind: String::new(),
                workers: 1,
                shutdown_timeout_secs: 1,
                request_timeout_ms: 1000,
                max_body_bytes: 1024,
                trusted_proxies: trusted.iter().map(|s| s.to_string()).collect(),
                forwarded_header: header,
            },
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

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().expect("ip"))
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let limits = limits_with(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let xff = |peer, values: &[&str]| {
            limits.client_address(&request(peer, "x-forwarded-for", values))
        };
        assert_eq!(
            xff("203.0.113.9:1000", &["198.51.100.1"]),
            ip("203.0.113.9")
        );
        let proxied = ["198.51.100.1, 203.0.113.7, 10.0.0.5"];
        assert_eq!(xff("10.1.2.3:1000", &proxied), ip("203.0.113.7"));
        // Split over two header lines, in order.
        let two_lines = ["198.51.100.1", "203.0.113.7, 10.0.0.5"];
        assert_eq!(xff("10.1.2.3:1000", &two_lines), ip("203.0.113.7"));
    }

    /// What an attacker writes left of the proxy's entry never chooses the bucket.
    #[test]
    fn the_forwarded_client_is_read_as_the_proxy_wrote_it() {
        let limits = limits_with(&["127.0.0.1"], ForwardedHeader::XForwardedFor);
        let xff = |value: &str| {
            limits.client_address(&request("127.0.0.1:1", "x-forwarded-for", &[value]))
        };
        assert_eq!(xff("6.6.6.6, 10.9.9.7:5555"), ip("10.9.9.7"), "a port");
        assert_eq!(
            xff("6.6.6.6, [2001:db8::1]:443"),
            ip("2001:db8::1"),
            "bracketed, port"
        );
        assert_eq!(
            xff("6.6.6.6, [2001:db8::1]"),
            ip("2001:db8::1"),
            "bracketed"
        );
        assert_eq!(
            xff("6.6.6.6, ::ffff:192.0.2.7"),
            ip("192.0.2.7"),
            "IPv4-mapped"
        );
        assert_eq!(
            xff("6.6.6.6, unknown"),
            ip("127.0.0.1"),
            "unreadable: the proxy's"
        );
        assert_eq!(
            xff("6.6.6.6, g@rbage"),
            ip("127.0.0.1"),
            "garbage: the proxy's"
        );
        assert_eq!(
            xff("6.6.6.6, 127.0.0.1"),
            ip("6.6.6.6"),
            "past a trusted hop"
        );
    }

    #[test]
    fn the_standard_forwarded_header_is_read_the_same_way() {
        let limits = limits_with(&["127.0.0.1"], ForwardedHeader::Forwarded);
        let fwd =
            |value: &str| limits.client_address(&request("127.0.0.1:1", "forwarded", &[value]));
        assert_eq!(
            fwd("for=192.0.2.60;proto=http;by=203.0.113.43"),
            ip("192.0.2.60")
        );
        let spoofed = r#"for=6.6.6.6, for="[2001:db8:cafe::17]:4711""#;
        assert_eq!(fwd(spoofed), ip("2001:db8:cafe::17"));
        assert_eq!(fwd("For=\"198.51.100.17:80\""), ip("198.51.100.17"));
        assert_eq!(
            fwd("for=6.6.6.6, for=_hidden"),
            ip("127.0.0.1"),
            "obfuscated"
        );
        assert_eq!(fwd("for=6.6.6.6, for=unknown"), ip("127.0.0.1"));
        assert_eq!(fwd("for=6.6.6.6, proto=https"), ip("127.0.0.1"), "no for=");
        // The other header is not read at all.
        let xff = request("127.0.0.1:1", "x-forwarded-for", &["6.6.6.6"]);
        assert_eq!(limits.client_address(&xff), ip("127.0.0.1"));
    }

    #[test]
    fn ipv6_clients_count_by_prefix_and_mapped_ipv4_as_ipv4() {
        let limits = limits_with(&[], ForwardedHeader::XForwardedFor);
        let key = |peer: &str| limits.client_key(&request(peer, "x-forwarded-for", &[]));
        assert_eq!(key("[2001:db8:1:2::1]:1"), key("[2001:db8:1:2:ffff::9]:1"));
        assert_ne!(key("[2001:db8:1:2::1]:1"), key("[2001:db8:1:3::1]:1"));
        assert_eq!(key("[::ffff:192.0.2.7]:1"), ip("192.0.2.7"));
    }

    #[actix_web::test]
    async fn a_user_gets_the_burst_then_waits() {
        let limits = limits_with(&[], ForwardedHeader::XForwardedFor);
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
        let limits = Data::new(limits_with(&[], ForwardedHeader::XForwardedFor));
        let req = request("203.0.113.9:1", "x-forwarded-for", &[]);
        let turn = || RateLimits::signature_turn(&limits, &req);
        for _ in 0..5 {
            turn().room().await.expect("valid logins never spend");
        }
        turn().failed().await;
        let limited = turn().room().await.expect_err("a burst of one");
        assert_eq!(limited.scope, Scope::Client);
        let other = request("203.0.113.10:1", "x-forwarded-for", &[]);
        assert!(
            RateLimits::signature_turn(&limits, &other)
                .room()
                .await
                .is_ok()
        );
    }

    /// A flood of distinct addresses is held to `MAX_BUCKETS` buckets.
    #[test]
    fn a_flood_of_addresses_keeps_memory_bounded() {
        let limits = limits_with(&[], ForwardedHeader::XForwardedFor);
        let bucket = limits.clients.as_ref().expect("enabled");
        for n in 0..(MAX_BUCKETS as u32 + 20_000) {
            let _ = bucket.take(IpAddr::V4(n.into()));
        }
        assert!(bucket.len() <= MAX_BUCKETS, "{}", bucket.len());
    }
}
