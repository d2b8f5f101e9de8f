//! The client address of a request, for per-IP rate limits, sessions and the audit log.
//!
//! Behind a reverse proxy the TCP peer is the proxy. `X-Forwarded-For` is believed only when
//! the peer is one of `server.trusted_proxies`, and then only up to the rightmost address that
//! is not itself a trusted proxy: everything left of it was written by the client and may be
//! forged.
use std::{fmt, net::IpAddr, str::FromStr, sync::Arc};

use poem::{Endpoint, IntoResponse, Request, Response};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An IP network in CIDR notation; a bare address is a network of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not an IP address or CIDR network");
        let (addr, prefix) = s.trim().split_once('/').map_or((s.trim(), None), |(a, p)| (a, Some(p)));
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
        };
        Ok(Self { addr, prefix })
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Both families as the top bits of one number, so one mask serves both.
fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)) << 96,
        IpAddr::V6(a) => u128::from(a),
    }
}

impl IpNet {
    /// True when `ip` (IPv4-mapped IPv6 counts as IPv4) is inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        if ip.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
        bits(ip) & mask == bits(self.addr) & mask
    }
}

/// `server.trusted_proxies`: a YAML list, or in the environment a comma-separated string
/// (`10.0.0.0/8,127.0.0.1`) or a list (`[10.0.0.0/8, 127.0.0.1]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<IpNet>);

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// The client address of a connection from `peer` that carried these `X-Forwarded-For`
    /// header values (in order).
    pub fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    ) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        for hop in forwarded_for.rev().flat_map(|v| v.rsplit(',')) {
            // A malformed entry ends the walk at the last trusted hop, which then stands for
            // the client: nothing beyond it can be attributed.
            let Ok(ip) = hop.trim().parse::<IpAddr>() else { break };
            client = ip.to_canonical();
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

impl Serialize for TrustedProxies {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(ToString::to_string))
    }
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            List(Vec<String>),
            Text(String),
        }
        let items = match Raw::deserialize(d)? {
            Raw::List(items) => items,
            Raw::Text(text) => text.split(',').filter(|s| !s.trim().is_empty()).map(str::to_string).collect(),
        };
        items.iter().map(|s| s.parse().map_err(serde::de::Error::custom)).collect::<Result<_, _>>().map(Self)
    }
}

/// The resolved client address, stored on the request by [`attach`].
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// The client address of `req`: the resolved one, or the TCP peer outside the middleware.
pub fn of(req: &Request) -> Option<IpAddr> {
    req.extensions()
        .get::<ClientIp>()
        .map(|c| c.0)
        .or_else(|| req.remote_addr().as_socket_addr().map(|a| a.ip().to_canonical()))
}

/// Middleware: resolves the client address once, before rate limits and handlers read it.
pub async fn attach<E: Endpoint>(
    ep: Arc<E>,
    mut req: Request,
    trusted: Arc<TrustedProxies>,
) -> poem::Result<Response> {
    if let Some(peer) = req.remote_addr().as_socket_addr().map(std::net::SocketAddr::ip) {
        let forwarded = req.headers().get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
        let ip = trusted.client_ip(peer, forwarded);
        req.extensions_mut().insert(ClientIp(ip));
    }
    Ok(ep.call(req).await?.into_response())
}

/// Where a request came from, for sessions and the audit log.
pub fn client_meta(req: &Request) -> crate::domain::ClientMeta {
    crate::domain::ClientMeta {
        ip: of(req).map(|ip| ip.to_string()),
        user_agent: req
            .headers()
            .get(poem::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect()),
        channel: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(list: &str) -> TrustedProxies {
        TrustedProxies(list.split(',').map(|s| s.parse().unwrap()).collect())
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_parse_and_contain_what_their_prefix_says() {
        let net: IpNet = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains(ip("10.1.255.3")) && !net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped IPv6 is IPv4");
        let one: IpNet = "127.0.0.1".parse().unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        assert!("0.0.0.0/0".parse::<IpNet>().unwrap().contains(ip("203.0.113.9")));
        assert!("fd00::/8".parse::<IpNet>().unwrap().contains(ip("fd12::1")));
        assert!(!"::/0".parse::<IpNet>().unwrap().contains(ip("10.0.0.1")), "families never mix");
        for bad in ["", "10.0.0.0/33", "::/129", "10.0.0/8", "10.0.0.0/", "proxy.local", "10.0.0.0/8/8"] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_trusted() {
        let t = trusted("10.0.0.0/8");
        assert_eq!(t.client_ip(ip("203.0.113.9"), ["198.51.100.1"].into_iter()), ip("203.0.113.9"));
        assert_eq!(
            TrustedProxies::default().client_ip(ip("10.0.0.1"), ["1.2.3.4"].into_iter()),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let t = trusted("10.0.0.0/8,127.0.0.1");
        let peer = ip("127.0.0.1");
        assert_eq!(t.client_ip(peer, ["198.51.100.1"].into_iter()), ip("198.51.100.1"));
        // A client that writes its own header only adds entries on the left.
        assert_eq!(t.client_ip(peer, ["6.6.6.6, 198.51.100.1, 10.0.0.5"].into_iter()), ip("198.51.100.1"));
        // Several header lines read as one list, in order.
        assert_eq!(t.client_ip(peer, ["6.6.6.6", "198.51.100.1,10.0.0.5"].into_iter()), ip("198.51.100.1"));
        // No header, only trusted hops, or garbage: the last trusted hop stands for the client.
        assert_eq!(t.client_ip(peer, std::iter::empty()), peer);
        assert_eq!(t.client_ip(peer, ["10.0.0.7, 10.0.0.5"].into_iter()), ip("10.0.0.7"));
        assert_eq!(t.client_ip(peer, ["198.51.100.1, nonsense"].into_iter()), peer);
        assert_eq!(t.client_ip(ip("::ffff:127.0.0.1"), ["2001:db8::1"].into_iter()), ip("2001:db8::1"));
    }

    #[test]
    fn the_setting_reads_a_list_or_a_comma_separated_string() {
        let from_list: TrustedProxies = serde_json::from_str(r#"["10.0.0.0/8", "::1"]"#).unwrap();
        let from_text: TrustedProxies = serde_json::from_str(r#""10.0.0.0/8, ::1""#).unwrap();
        assert_eq!(from_list, from_text);
        assert_eq!(serde_json::to_string(&from_list).unwrap(), r#"["10.0.0.0/8","::1/128"]"#);
        assert!(serde_json::from_str::<TrustedProxies>(r#""10.0.0.0/8, proxy""#).is_err());
    }
}
