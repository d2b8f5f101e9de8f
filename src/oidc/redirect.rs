//! Matching a requested `redirect_uri` against the registered ones: exact string equality,
//! plus the RFC 8252 section 7.3 rule that a loopback IP redirect may use any port, since a
//! native app picks a free port at run time.

/// True when `requested` may be used for a client that registered `registered`.
pub fn matches(registered: &str, requested: &str) -> bool {
    registered == requested || loopback_any_port(registered, requested)
}

fn loopback_any_port(registered: &str, requested: &str) -> bool {
    let (Some(a), Some(b)) = (split_loopback(registered), split_loopback(requested)) else { return false };
    a.0 == b.0 && a.2 == b.2 && b.1.bytes().all(|c| c.is_ascii_digit())
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
    }
}
