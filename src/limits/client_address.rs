//! The client address a request counts against. The peer's, unless the peer is a trusted
//! proxy: then the header the proxies write (`server.forwarded_header`) is walked from the
//! right, skipping trusted proxies, and the first other entry is the client, a port stripped
//! and an IPv4-mapped IPv6 address unwrapped. An entry that cannot be read (`unknown`, an
//! obfuscated name, garbage) stops the walk at the proxy that wrote it: the request counts
//! against that proxy, never against an entry further left, which the client wrote itself.
//! IPv6 clients count by prefix (`rate_limit.ipv6_prefix_len`): one host holds a whole /64.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use actix_web::HttpRequest;
use ipnet::{IpNet, Ipv6Net};

use crate::config::{ConfigError, ForwardedHeader, ServerSettings};

pub(crate) struct ClientAddresses {
    trusted_proxies: Vec<IpNet>,
    forwarded_header: ForwardedHeader,
    ipv6_prefix_len: u8,
}

impl ClientAddresses {
    pub(crate) fn from_settings(
        server: &ServerSettings,
        ipv6_prefix_len: u8,
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
        if !(1..=128).contains(&ipv6_prefix_len) {
            return Err(ConfigError::new(
                "rate_limit.ipv6_prefix_len",
                "must be 1 to 128: the prefix that one IPv6 client holds, usually 64",
            ));
        }
        Ok(Self {
            trusted_proxies,
            forwarded_header: server.forwarded_header,
            ipv6_prefix_len,
        })
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        self.trusted_proxies
            .iter()
            .any(|net| net.contains(&address))
    }

    /// The bucket a request counts against: its client address (see the module docs), an
    /// IPv6 one cut to its prefix.
    pub(super) fn key(&self, req: &HttpRequest) -> Option<IpAddr> {
        let address = self.of(req)?;
        Some(match address {
            IpAddr::V4(_) => address,
            IpAddr::V6(v6) => Ipv6Net::new(v6, self.ipv6_prefix_len)
                .map_or(address, |net| IpAddr::V6(net.network())),
        })
    }

    /// The client address of a request (see the module docs).
    pub(crate) fn of(&self, req: &HttpRequest) -> Option<IpAddr> {
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
pub(super) mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    /// Server settings that trust these proxies to write this header.
    pub(in crate::limits) fn server(trusted: &[&str], header: ForwardedHeader) -> ServerSettings {
        ServerSettings {
            bind: String::new(),
            workers: 1,
            shutdown_timeout_secs: 1,
            request_timeout_ms: 1000,
            max_body_bytes: 1024,
            trusted_proxies: trusted.iter().map(|s| s.to_string()).collect(),
            forwarded_header: header,
        }
    }

    fn addresses_with(trusted: &[&str], header: ForwardedHeader) -> ClientAddresses {
        ClientAddresses::from_settings(&server(trusted, header), 64).expect("valid")
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
        let limits = addresses_with(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let xff = |peer, values: &[&str]| limits.of(&request(peer, "x-forwarded-for", values));
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
        let limits = addresses_with(&["127.0.0.1"], ForwardedHeader::XForwardedFor);
        let xff = |value: &str| limits.of(&request("127.0.0.1:1", "x-forwarded-for", &[value]));
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
        let limits = addresses_with(&["127.0.0.1"], ForwardedHeader::Forwarded);
        let fwd = |value: &str| limits.of(&request("127.0.0.1:1", "forwarded", &[value]));
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
        assert_eq!(limits.of(&xff), ip("127.0.0.1"));
    }

    #[test]
    fn ipv6_clients_count_by_prefix_and_mapped_ipv4_as_ipv4() {
        let limits = addresses_with(&[], ForwardedHeader::XForwardedFor);
        let key = |peer: &str| limits.key(&request(peer, "x-forwarded-for", &[]));
        assert_eq!(key("[2001:db8:1:2::1]:1"), key("[2001:db8:1:2:ffff::9]:1"));
        assert_ne!(key("[2001:db8:1:2::1]:1"), key("[2001:db8:1:3::1]:1"));
        assert_eq!(key("[::ffff:192.0.2.7]:1"), ip("192.0.2.7"));
    }
}
