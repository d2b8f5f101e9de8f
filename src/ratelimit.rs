//! Per-IP and per-tenant rate limits on the endpoints attackers hammer: login (JSON and the
//! hosted form), registration, refresh, the token endpoint, authorization, requests that send
//! account mail, and uses of a mailed link or code (per address: `account`). Fixed one-minute
//! windows in the shared store; over the limit the request is answered 429 before any handler
//! runs, so no password is hashed for it. The client IP is the one `client_ip` resolved
//! (`X-Forwarded-For` only from trusted proxies).
use std::{sync::Arc, time::Duration};

use poem::{Endpoint, IntoResponse, PathPattern, Request, Response, http::Method};

use crate::{config::LimitSettings, error::ApiError, state::AppState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Login,
    Register,
    Refresh,
    Token,
    Authorize,
    /// Sends account mail (reset, verification, email sign-in, email change).
    Mail,
    /// Spends a mailed link or code.
    Recovery,
}

impl Class {
    fn name(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Register => "register",
            Self::Refresh => "refresh",
            Self::Token => "token",
            Self::Authorize => "authorize",
            Self::Mail => "mail",
            Self::Recovery => "recovery",
        }
    }

    fn per_ip(self, l: &LimitSettings) -> u64 {
        match self {
            Self::Login => l.login_per_ip,
            Self::Register => l.register_per_ip,
            Self::Refresh => l.refresh_per_ip,
            Self::Token => l.token_per_ip,
            Self::Authorize => l.authorize_per_ip,
            Self::Mail => l.mail_per_ip,
            Self::Recovery => l.recovery_per_ip,
        }
    }
}

/// The tenant and kind of a limited request, from its path.
fn classify<'a>(method: &Method, path: &'a str) -> Option<(&'a str, Class)> {
    let rest = path.strip_prefix("/t/")?;
    let (tenant, tail) = rest.split_once('/')?;
    let class = match (method.as_str(), tail) {
        // The second step spends the same budget: each post is a guess at a code.
        (
            "POST",
            "auth/login"
            | "login"
            | "auth/mfa/verify"
            | "auth/mfa/enrol/totp/confirm"
            | "login/second-factor"
            | "login/enrol"
            | "auth/passkey/options"
            | "auth/passkey/verify"
            | "auth/mfa/passkey/verify"
            | "login/passkey"
            | "login/passkey/options"
            | "login/passkey/verify",
        ) => Class::Login,
        ("POST", "auth/passkey/register") => Class::Register,
        ("POST", "auth/register") => Class::Register,
        ("POST", "auth/refresh") => Class::Refresh,
        ("POST", "oauth2/token") => Class::Token,
        ("GET" | "POST", "oauth2/authorize") => Class::Authorize,
        ("POST", t) if MAIL_PATHS.contains(&t) => Class::Mail,
        ("POST", t) if RECOVERY_PATHS.contains(&t) => Class::Recovery,
        // External sign-in: each start costs an upstream round trip, each callback a code exchange.
        ("GET", t) if t.starts_with("auth/") && (t.ends_with("/start") || t.ends_with("/callback")) => {
            Class::Authorize
        }
        _ => return None,
    };
    Some((tenant, class))
}

/// Where a request can send account mail.
const MAIL_PATHS: [&str; 6] = [
    "auth/password/forgot",
    "auth/email/resend",
    "account/forgot-password",
    "account/verify-email/resend",
    "login/email",
    "me/email",
];

/// Where a request spends (or guesses) a mailed link or code.
const RECOVERY_PATHS: [&str; 9] = [
    "auth/password/reset",
    "auth/email/verify",
    "account/reset-password",
    "account/verify-email",
    "login/email/code",
    "me/email/confirm",
    "account/email-sign-in",
    "account/confirm-email",
    "account/undo-email-change",
];

/// The per-IP counter a client shares: its IPv4 address, or its IPv6 /64, since one
/// subscriber usually holds a whole /64 and could otherwise rotate through it.
fn bucket(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// The route template of a limited path, as the router would name it.
fn route_template(path: &str) -> &'static str {
    let tail = path.strip_prefix("/t/").and_then(|r| r.split_once('/')).map_or("", |(_, t)| t);
    match tail {
        "auth/login" => "/t/:tenant/auth/login",
        "login" => "/t/:tenant/login",
        "auth/mfa/verify" => "/t/:tenant/auth/mfa/verify",
        "auth/mfa/enrol/totp/confirm" => "/t/:tenant/auth/mfa/enrol/totp/confirm",
        "login/second-factor" => "/t/:tenant/login/second-factor",
        "login/enrol" => "/t/:tenant/login/enrol",
        "auth/passkey/options" => "/t/:tenant/auth/passkey/options",
        "auth/passkey/verify" => "/t/:tenant/auth/passkey/verify",
        "auth/mfa/passkey/verify" => "/t/:tenant/auth/mfa/passkey/verify",
        "auth/passkey/register" => "/t/:tenant/auth/passkey/register",
        "login/passkey" => "/t/:tenant/login/passkey",
        "login/passkey/options" => "/t/:tenant/login/passkey/options",
        "login/passkey/verify" => "/t/:tenant/login/passkey/verify",
        "auth/register" => "/t/:tenant/auth/register",
        "auth/refresh" => "/t/:tenant/auth/refresh",
        "oauth2/token" => "/t/:tenant/oauth2/token",
        "oauth2/authorize" => "/t/:tenant/oauth2/authorize",
        "auth/password/forgot" => "/t/:tenant/auth/password/forgot",
        "auth/email/resend" => "/t/:tenant/auth/email/resend",
        "auth/password/reset" => "/t/:tenant/auth/password/reset",
        "auth/email/verify" => "/t/:tenant/auth/email/verify",
        "account/forgot-password" => "/t/:tenant/account/forgot-password",
        "account/verify-email/resend" => "/t/:tenant/account/verify-email/resend",
        "account/reset-password" => "/t/:tenant/account/reset-password",
        "account/verify-email" => "/t/:tenant/account/verify-email",
        "login/email" => "/t/:tenant/login/email",
        "login/email/code" => "/t/:tenant/login/email/code",
        "me/email" => "/t/:tenant/me/email",
        "me/email/confirm" => "/t/:tenant/me/email/confirm",
        "account/email-sign-in" => "/t/:tenant/account/email-sign-in",
        "account/confirm-email" => "/t/:tenant/account/confirm-email",
        "account/undo-email-change" => "/t/:tenant/account/undo-email-change",
        t if t.ends_with("/start") => "/t/:tenant/auth/:provider/start",
        t if t.ends_with("/callback") => "/t/:tenant/auth/:provider/callback",
        _ => crate::metrics::UNMATCHED,
    }
}

pub async fn limit<E: Endpoint>(ep: Arc<E>, req: Request, state: Arc<AppState>) -> poem::Result<Response> {
    if let Some((tenant, class)) = classify(req.method(), req.uri().path()) {
        let ip = crate::client_ip::of(&req).map(bucket).unwrap_or_default();
        let limits = &state.settings.limits;
        let per_ip = class.per_ip(limits);
        let per_tenant = per_ip.saturating_mul(limits.tenant_factor);
        let minute = Duration::from_secs(60);
        let keys = [format!("rl:{}:ip:{ip}", class.name()), format!("rl:{}:t:{tenant}", class.name())];
        // Both counters in one round trip.
        let counts = match state.kv.incr_windows(&keys, minute).await {
            Ok(c) => c,
            Err(e) => return Ok(ApiError::from(e).into_response()),
        };
        for ((count, left), max) in counts.into_iter().zip([per_ip, per_tenant]) {
            if count > max {
                tracing::info!(class = class.name(), tenant, "rate limit hit");
                state.metrics.rate_limited(class.name());
                let mut resp = ApiError::rate_limited(max, left).into_response();
                // Answered before routing: name the route it was aimed at for the metrics.
                resp.set_data(PathPattern(route_template(req.uri().path()).into()));
                return Ok(resp);
            }
        }
    }
    Ok(ep.call(req).await?.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_endpoints_are_classified_and_others_are_not() {
        assert_eq!(classify(&Method::POST, "/t/acme/auth/login"), Some(("acme", Class::Login)));
        assert_eq!(classify(&Method::POST, "/t/acme/login"), Some(("acme", Class::Login)));
        assert_eq!(classify(&Method::GET, "/t/acme/oauth2/authorize"), Some(("acme", Class::Authorize)));
        assert_eq!(classify(&Method::POST, "/t/acme/oauth2/token"), Some(("acme", Class::Token)));
        assert_eq!(classify(&Method::POST, "/t/acme/auth/password/forgot"), Some(("acme", Class::Mail)));
        assert_eq!(
            classify(&Method::POST, "/t/acme/account/reset-password"),
            Some(("acme", Class::Recovery))
        );
        assert_eq!(classify(&Method::GET, "/t/acme/account/reset-password"), None);
        assert_eq!(classify(&Method::GET, "/t/acme/me"), None);
        assert_eq!(classify(&Method::POST, "/t/acme/login/email"), Some(("acme", Class::Mail)));
        assert_eq!(classify(&Method::POST, "/t/acme/me/email"), Some(("acme", Class::Mail)));
        assert_eq!(classify(&Method::POST, "/t/acme/login/email/code"), Some(("acme", Class::Recovery)));
        // Opening a mailed link costs nothing: only its POST acts.
        assert_eq!(classify(&Method::GET, "/t/acme/account/email-sign-in"), None);
        assert_eq!(classify(&Method::GET, "/t/acme/auth/login"), None);
        assert_eq!(classify(&Method::POST, "/admin/v1/tenants"), None);
    }

    #[test]
    fn ipv6_clients_share_a_counter_per_64() {
        let ip = |s: &str| s.parse().unwrap();
        assert_eq!(bucket(ip("2001:db8:1:2::1")), bucket(ip("2001:db8:1:2:ffff::9")));
        assert_ne!(bucket(ip("2001:db8:1:2::1")), bucket(ip("2001:db8:1:3::1")));
        assert_eq!(bucket(ip("203.0.113.9")), "203.0.113.9");
    }

    #[test]
    fn limited_paths_map_to_their_route_templates() {
        assert_eq!(route_template("/t/acme/auth/login"), "/t/:tenant/auth/login");
        assert_eq!(route_template("/t/acme/auth/github/callback"), "/t/:tenant/auth/:provider/callback");
        assert_eq!(route_template("/t/acme/oauth2/token"), "/t/:tenant/oauth2/token");
    }
}
