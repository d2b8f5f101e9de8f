//! Matching a requested `redirect_uri` against the registered ones: exact string equality,
//! plus the RFC 8252 section 7.3 rule that a loopback IP redirect may use any port, since a
//! native app picks a free port at run time.

/// True when `requested` may be used for a client that registered `registered`.
pub fn matches(registered: &str, requested: &str) -> bool {
    registered == requested || loopback_any_port(registered, requested)
}

fn loopback_any_port(registered: &str, requested: &str) -> bool {
    let (Some(a), Some(b)) = (split_loopback(registered), split_loopback(requested)) else { return false };
    let port_ok = b.1.is_empty() || (b.1.bytes().all(|c| c.is_ascii_digit()) && b.1.parse::<u16>().is_ok());
    a.0 == b.0 && a.2 == b.2 && port_ok
}

/// `http://{127.0.0.1|[::1]}[:port]{rest}` as (host, port, rest).
fn split_loopback(uri: &str) -> Option<(&str, &str, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let (host, port) = if let Some(v6) = authority.strip_prefix("[::1]") {
        ("[::1]", v6.strip_prefix(':').unwrap_or(if v6.is_empty() { "" } else { "x" }))
    } else {
        let (h, p) = authority.split_once(':').unwrap_or((authority, ""));
        (h, p)
    };
    (host == "127.0.0.1" || host == "[::1]").then_some((host, port, path))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::matches;

    #[test]
    fn only_exact_matches_count_for_web_redirects() {
        let reg = "https://app.example.com/cb";
        assert!(matches(reg, reg));
        for bad in [
            "https://app.example.com/cb/",
            "https://app.example.com/cb?x=1",
            "https://app.example.com/cb#frag",
            "https://app.example.com/c",
            "https://app.example.com:8443/cb",
            "https://evil.example.com/cb",
            "https://app.example.com.evil.io/cb",
            "https://user@app.example.com/cb",
            "HTTPS://app.example.com/cb",
            "http://app.example.com/cb",
        ] {
            assert!(!matches(reg, bad), "{bad}");
        }
    }

    #[test]
    fn loopback_ip_redirects_may_change_only_the_port() {
        assert!(matches("http://127.0.0.1/cb", "http://127.0.0.1:53127/cb"));
        assert!(matches("http://127.0.0.1:8000/cb", "http://127.0.0.1:9000/cb"));
        assert!(matches("http://[::1]/cb", "http://[::1]:4000/cb"));
        assert!(!matches("http://127.0.0.1/cb", "http://127.0.0.1:53127/other"));
        assert!(!matches("http://127.0.0.1/cb", "http://127.0.0.2:53127/cb"));
        assert!(!matches("http://127.0.0.1/cb", "http://127.0.0.1:1x/cb"));
        assert!(!matches("http://127.0.0.1/cb", "http://127.0.0.1@evil.com:80/cb"));
        // `localhost` is matched exactly (RFC 8252 recommends the IP literal).
        assert!(!matches("http://localhost/cb", "http://localhost:4000/cb"));
        assert!(!matches("http://127.0.0.1/cb", "http://127.0.0.1:65536/cb"), "not a port");
    }

    /// A registered redirect URI as its parts; `to_uri` puts them together.
    #[derive(Debug, Clone)]
    struct Parts {
        scheme: String,
        host: String,
        port: Option<u16>,
        path: String,
        query: Option<String>,
    }

    impl Parts {
        fn to_uri(&self) -> String {
            let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
            let query = self.query.as_ref().map(|q| format!("?{q}")).unwrap_or_default();
            format!("{}://{}{port}{}{query}", self.scheme, self.host, self.path)
        }

        fn loopback_ip(&self) -> bool {
            self.scheme == "http" && (self.host == "127.0.0.1" || self.host == "[::1]")
        }
    }

    fn parts() -> impl Strategy<Value = Parts> {
        let web = ("https", "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){1,3}");
        let loopback = (
            "http",
            prop_oneof![Just("127.0.0.1".to_string()), Just("[::1]".into()), Just("localhost".into())],
        );
        (
            prop_oneof![
                web.prop_map(|(s, h)| (s.to_string(), h)),
                loopback.prop_map(|(s, h)| (s.to_string(), h))
            ],
            proptest::option::of(1..=65535u16),
            "(/[A-Za-z0-9._~-]{0,8}){0,3}",
            proptest::option::of("[a-z]{1,5}=[A-Za-z0-9]{0,5}"),
        )
            .prop_map(|((scheme, host), port, path, query)| Parts {
                scheme,
                host,
                port,
                path,
                query,
            })
    }

    /// One part changed to a different value.
    #[derive(Debug, Clone)]
    enum Change {
        Scheme(String),
        Host(String),
        Port(Option<u16>),
        Path(String),
        Query(Option<String>),
    }

    fn change() -> impl Strategy<Value = Change> {
        prop_oneof![
            prop_oneof![Just("http"), Just("https"), Just("HTTPS"), Just("ftp"), Just("com.example.app")]
                .prop_map(|s| Change::Scheme(s.into())),
            prop_oneof![
                "[a-z0-9.-]{1,20}",
                Just("127.0.0.1".to_string()),
                Just("127.0.0.2".into()),
                Just("[::1]".into()),
                Just("localhost".into()),
                Just("evil.example".into()),
                Just("127.0.0.1@evil.example".into()),
            ]
            .prop_map(Change::Host),
            proptest::option::of(any::<u16>()).prop_map(Change::Port),
            "(/[A-Za-z0-9%._~-]{0,8}){0,3}/?".prop_map(Change::Path),
            proptest::option::of("[a-z]{1,5}=[A-Za-z0-9]{0,5}").prop_map(Change::Query),
        ]
    }

    /// Mutations at the character level: insert, delete or replace one character.
    fn edit(uri: &str, at: usize, op: u8, c: char) -> String {
        let chars: Vec<char> = uri.chars().collect();
        let at = at % (chars.len() + 1);
        let mut out = chars.clone();
        match op % 3 {
            0 => out.insert(at, c),
            1 if at < chars.len() => {
                out.remove(at);
            }
            _ if at < chars.len() => out[at] = c,
            _ => out.push(c),
        }
        out.into_iter().collect()
    }

    proptest! {
        /// Changing the scheme, host, path or query never matches; changing the port matches
        /// only for a loopback IP literal (RFC 8252 section 7.3).
        #[test]
        fn a_uri_differing_in_any_part_does_not_match(reg in parts(), change in change()) {
            prop_assume!(crate::domain::redirect_uri::check(&reg.to_uri()).is_ok());
            let mut req = reg.clone();
            let port_only = matches!(change, Change::Port(_));
            match change {
                Change::Scheme(s) => req.scheme = s,
                Change::Host(h) => req.host = h,
                Change::Port(p) => req.port = p,
                Change::Path(p) => req.path = p,
                Change::Query(q) => req.query = q,
            }
            let (registered, requested) = (reg.to_uri(), req.to_uri());
            prop_assume!(registered != requested);
            let expected = port_only && reg.loopback_ip();
            prop_assert_eq!(matches(&registered, &requested), expected, "{} vs {}", registered, requested);
        }

        /// A one-character edit of a registered URI matches only when it is the same loopback
        /// redirect on another port, as a URL parser sees it.
        #[test]
        fn near_misses_match_only_under_the_loopback_rule(reg in parts(), at in 0usize..200, op in 0u8..3, c in prop_oneof![any::<char>(), proptest::char::range(' ', '~')]) {
            let registered = reg.to_uri();
            prop_assume!(crate::domain::redirect_uri::check(&registered).is_ok());
            let requested = edit(&registered, at, op, c);
            prop_assume!(requested != registered);
            if matches(&registered, &requested) {
                let (a, b) = (url::Url::parse(&registered).unwrap(), url::Url::parse(&requested));
                let b = b.map_err(|e| TestCaseError::fail(format!("{requested}: {e}")))?;
                prop_assert!(reg.loopback_ip(), "{}", requested);
                prop_assert_eq!(b.scheme(), "http");
                prop_assert_eq!((b.host(), b.path(), b.query()), (a.host(), a.path(), a.query()));
                prop_assert!(b.username().is_empty() && b.password().is_none() && b.fragment().is_none());
            }
        }
    }
}
