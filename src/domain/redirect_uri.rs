//! Redirect URIs of client apps. They are checked once, when an admin registers them, and
//! later compared as exact strings: no patterns, no normalisation (RFC 9700 section 4.1.3).

/// The longest redirect URI a client may register.
pub const MAX_LEN: usize = 2048;

/// Checks one redirect URI and returns, on failure, a message for the caller to attach to
/// its field.
///
/// Accepted are `https` URLs; `http` only on a loopback host (`127.0.0.1`, `[::1]`,
/// `localhost`) for native apps (RFC 8252 section 7.3); and private-use schemes in
/// reverse-domain form such as `com.example.app:/callback` (RFC 8252 section 7.1). The dot
/// requirement also keeps out `javascript:`, `data:` and `file:`. A fragment is never allowed
/// (RFC 6749 section 3.1.2).
///
/// # Errors
/// The reason the URI cannot be registered.
pub fn check(uri: &str) -> Result<(), &'static str> {
    if uri.is_empty() || uri.len() > MAX_LEN {
        return Err("each URI must be 1 to 2048 characters");
    }
    if !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must not contain spaces, control or non-ASCII characters (percent-encode them)");
    }
    if uri.contains('#') {
        return Err("must not contain a fragment (#)");
    }
    let (scheme, rest) = uri.split_once(':').ok_or("must be an absolute URL")?;
    if !valid_scheme(scheme) {
        return Err("must be an absolute URL");
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => host(rest).map(|_| ()),
        "http" => {
            if is_loopback(host(rest)?) {
                Ok(())
            } else {
                Err("http is only allowed for loopback hosts (127.0.0.1, [::1], localhost); use https")
            }
        }
        s if s.contains('.') => {
            if rest.is_empty() || rest == "/" || rest == "//" {
                Err("a private-use scheme needs a path, e.g. com.example.app:/callback")
            } else {
                Ok(())
            }
        }
        _ => Err(
            "must use https, http on a loopback host, or a private-use scheme such as com.example.app:/callback",
        ),
    }
}

fn valid_scheme(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// The host of a hierarchical URL (`//host[:port]/...`), without the port.
fn host(rest: &str) -> Result<&str, &'static str> {
    let after = rest.strip_prefix("//").ok_or("must be an absolute URL with a host")?;
    let authority = after.split(['/', '?']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("must not contain credentials");
    }
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']').ok_or("has an invalid host")?;
        let (h, p) = authority.split_at(end + 1);
        if !h[1..end].bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
            return Err("has an invalid host");
        }
        (h, (!p.is_empty()).then(|| p.strip_prefix(':').unwrap_or(p)))
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let host_ok = host.starts_with('[')
        || (!host.is_empty()
            && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')));
    if !host_ok {
        return Err("has an invalid host");
    }
    if let Some(p) = port
        && (p.is_empty()
            || p.len() > 5
            || !p.bytes().all(|b| b.is_ascii_digit())
            || p.parse::<u32>().unwrap_or(0) > 65535)
    {
        return Err("has an invalid port");
    }
    Ok(host)
}

fn is_loopback(host: &str) -> bool {
    host == "127.0.0.1" || host == "[::1]" || host.eq_ignore_ascii_case("localhost")
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn https_loopback_http_and_private_use_schemes_are_accepted() {
        for ok in [
            "https://app.example.com/callback",
            "https://app.example.com:8443/cb?x=1",
            "HTTPS://Example.com",
            "http://127.0.0.1:53682/callback",
            "http://[::1]/cb",
            "http://localhost:3000/auth",
            "com.example.app:/callback",
            "com.example.app://oauth/cb",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn unsafe_or_malformed_uris_are_refused() {
        for bad in [
            "",
            "/relative/path",
            "app.example.com/cb",
            "http://app.example.com/cb",
            "http://127.0.0.2/cb",
            "https://app.example.com/cb#frag",
            "https://user:pw@app.example.com/cb",
            "https:///cb",
            "https:app.example.com",
            "https://app.example.com:99999/",
            "https://app.example.com:x/",
            "https://exa mple.com/",
            "https://[zz::1]/",
            "javascript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "myapp:/cb",
            "com.example.app:",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
        assert!(check(&format!("https://a.example/{}", "x".repeat(2048))).is_err());
    }
}
