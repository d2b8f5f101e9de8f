//! Where provider calls may go. A tenant admin writes provider URLs, so without a check they
//! could make this server call its own network: a cloud metadata service, Redis on
//! loopback, an admin interface on 10.x. Internal addresses are refused twice:
//!
//! - when a provider is configured (admin API, `gatehouse tenant import`): IP-literal hosts
//!   and `localhost` at once, host names after resolving them ([`check_resolved`]);
//! - at every connection: [`GuardedResolver`] drops internal addresses from every DNS
//!   answer, and [`check_literal`] covers IP-literal URLs (which never reach a resolver),
//!   so a name re-pointed after configuration (DNS rebinding) or an endpoint a discovery
//!   document names still cannot reach them.
//!
//! `upstream.allowed_internal_hosts` lets a deployment reach an internal identity provider:
//! an IP or CIDR entry allows those addresses, a name entry allows whatever that name resolves to.
use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use crate::config::InternalHosts;

/// True for every address that is not a public unicast address on the internet: loopback,
/// private (RFC 1918, ULA), link-local (which holds most cloud metadata services),
/// CGNAT, unspecified, multicast, broadcast, documentation, benchmarking and reserved
/// ranges, and IPv6 forms that embed one of those IPv4 addresses.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(a) => internal_v4(a),
        IpAddr::V6(a) => {
            let s = a.segments();
            let embedded =
                |hi: u16, lo: u16| internal_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
            a.is_unspecified()
                || a.is_loopback()
                || a.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7 (AWS IMDS fd00:ec2::254)
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation 2001:db8::/32
                || (s[0] == 0x2001 && s[1] == 0) // Teredo: tunnels to anywhere
                || (s[0] == 0x0064 && s[1] == 0xff9b && embedded(s[6], s[7])) // NAT64
                || (s[0] == 0x2002 && embedded(s[1], s[2])) // 6to4
                || s[..6].iter().all(|x| *x == 0) // IPv4-compatible ::a.b.c.d
        }
    }
}

fn internal_v4(a: Ipv4Addr) -> bool {
    let o = a.octets();
    a.is_unspecified()
        || o[0] == 0 // "this network" 0.0.0.0/8
        || a.is_loopback()
        || a.is_private()
        || a.is_link_local() // 169.254.0.0/16: AWS, GCP, Azure, OpenStack metadata
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // CGNAT 100.64.0.0/10 (Alibaba metadata)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments (OCI 192.0.0.192)
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18.0.0/15
        || a.is_documentation()
        || a.is_multicast()
        || o[0] >= 240 // reserved, and broadcast
        || o == [168, 63, 129, 16] // Azure's wire server: public, but the host's own service
}

impl InternalHosts {
    /// An address a provider call may reach.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        !is_internal(ip) || self.nets.iter().any(|n| n.contains(ip))
    }

    /// A host name listed by name: whatever it resolves to is allowed.
    pub fn allows_name(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.names.contains(&name)
    }
}

fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Checks what can be judged without DNS: an IP-literal host, or `localhost`.
///
/// # Errors
/// The URL's host is an internal address that is not allowed, or it has no host.
pub fn check_literal(url: &url::Url, hosts: &InternalHosts) -> Result<(), String> {
    let refused = |what: &dyn std::fmt::Display| {
        Err(format!(
            "points at an internal address ({what}); list it in upstream.allowed_internal_hosts if \
             that is intended"
        ))
    };
    match url.host() {
        Some(url::Host::Ipv4(ip)) if !hosts.allows_ip(ip.into()) => refused(&ip),
        Some(url::Host::Ipv6(ip)) if !hosts.allows_ip(ip.into()) => refused(&ip),
        Some(url::Host::Domain(d)) if is_localhost(d) && !hosts.allows_name(d) => refused(&d),
        Some(_) => Ok(()),
        None => Err("has no host".into()),
    }
}

/// [`check_literal`], then resolves a host name and refuses it when any of its addresses is
/// internal. A name that does not resolve now is accepted: it reaches nothing, and every
/// connection is checked again.
///
/// # Errors
/// As [`check_literal`], or the name resolves to an internal address.
pub async fn check_resolved(url: &url::Url, hosts: &InternalHosts, timeout: Duration) -> Result<(), String> {
    check_literal(url, hosts)?;
    let Some(url::Host::Domain(name)) = url.host() else { return Ok(()) };
    if hosts.allows_name(name) {
        return Ok(());
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let Ok(Ok(addrs)) = tokio::time::timeout(timeout, tokio::net::lookup_host((name, port))).await else {
        return Ok(());
    };
    for addr in addrs {
        if !hosts.allows_ip(addr.ip()) {
            return Err(format!(
                "{name} resolves to an internal address ({}); list it in \
                 upstream.allowed_internal_hosts if that is intended",
                addr.ip()
            ));
        }
    }
    Ok(())
}

/// The HTTP client's resolver: the system's answer without the addresses provider calls may
/// not reach; a name left with none fails to connect.
pub struct GuardedResolver {
    hosts: Arc<InternalHosts>,
    /// Fixed answers instead of the system resolver (tests).
    fixed: Option<HashMap<String, Vec<IpAddr>>>,
}

impl GuardedResolver {
    pub fn new(hosts: InternalHosts) -> Self {
        Self { hosts: Arc::new(hosts), fixed: None }
    }

    /// A resolver that answers from `fixed`, as a DNS server under someone else's control would.
    pub fn with_answers(hosts: InternalHosts, fixed: HashMap<String, Vec<IpAddr>>) -> Self {
        Self { hosts: Arc::new(hosts), fixed: Some(fixed) }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let hosts = self.hosts.clone();
        let fixed = self.fixed.as_ref().map(|f| f.get(name.as_str()).cloned().unwrap_or_default());
        let name = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = match fixed {
                Some(ips) => ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect(),
                None => tokio::net::lookup_host((name.as_str(), 0)).await?.collect(),
            };
            let by_name = hosts.allows_name(&name);
            let kept: Vec<SocketAddr> =
                addrs.into_iter().filter(|a| by_name || hosts.allows_ip(a.ip())).collect();
            if kept.is_empty() {
                let e: Box<dyn std::error::Error + Send + Sync> =
                    format!("{name} resolves to no address provider calls may reach").into();
                return Err(e);
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str]) -> InternalHosts {
        InternalHosts::parse(entries.iter().map(|s| s.to_string())).unwrap()
    }

    #[test]
    fn internal_ranges_are_recognised_in_every_spelling() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.100.100.200",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "192.0.0.192",
            "168.63.129.16",
            "::1",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "::127.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "140.82.112.3", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn literal_hosts_and_localhost_are_checked_without_dns() {
        let none = InternalHosts::default();
        let check = |u: &str, h: &InternalHosts| check_literal(&url::Url::parse(u).unwrap(), h).is_ok();
        for u in [
            "https://169.254.169.254/",
            "https://10.0.0.1/",
            "https://127.0.0.1:6379/",
            "https://[::ffff:a9fe:a9fe]/",
            "https://2130706433/",
            "https://0x7f.1/",
            "https://localhost/",
            "https://api.localhost./",
            "https://[fd00:ec2::254]/",
        ] {
            assert!(!check(u, &none), "{u}");
        }
        assert!(check("https://idp.example.com/", &none));
        assert!(check("https://127.0.0.1:9000/", &hosts(&["127.0.0.1"])));
        assert!(check("https://10.1.2.3/", &hosts(&["10.0.0.0/8"])));
        assert!(!check("https://127.0.0.2/", &hosts(&["127.0.0.1"])));
        assert!(check("https://localhost/", &hosts(&["localhost"])));
    }

    #[tokio::test]
    async fn a_name_rebound_to_an_internal_address_cannot_be_connected_to() {
        use reqwest::dns::Resolve;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let answers = HashMap::from([
            ("rebound.example".to_string(), vec!["127.0.0.1".parse().unwrap()]),
            ("mixed.example".to_string(), vec!["10.0.0.1".parse().unwrap(), "8.8.8.8".parse().unwrap()]),
        ]);
        let client = |h: InternalHosts| {
            reqwest::Client::builder()
                .no_proxy()
                .dns_resolver(Arc::new(GuardedResolver::with_answers(h, answers.clone())))
                .build()
                .unwrap()
        };
        let url = format!("http://rebound.example:{port}/");
        let err = client(InternalHosts::default()).get(&url).send().await.unwrap_err();
        assert!(
            crate::upstream::error_chain(&err).contains("no address provider calls may reach"),
            "{err:?}"
        );
        // Allowed by address: the same request connects (and the listener sees it).
        let accepted = tokio::spawn(async move { listener.accept().await.is_ok() });
        let _ =
            tokio::time::timeout(Duration::from_millis(300), client(hosts(&["127.0.0.1"])).get(&url).send())
                .await;
        assert!(accepted.await.unwrap());
        // Internal addresses are dropped from a mixed answer, public ones kept.
        let r = GuardedResolver::with_answers(InternalHosts::default(), answers.clone());
        let kept: Vec<SocketAddr> = r.resolve("mixed.example".parse().unwrap()).await.unwrap().collect();
        assert_eq!(kept, vec!["8.8.8.8:0".parse().unwrap()]);
    }
}
