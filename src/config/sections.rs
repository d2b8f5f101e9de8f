//! The settings sections, one struct per `config/*.yaml` section, each with its defaults.
use std::{net::SocketAddr, path::PathBuf};

use serde::{Deserialize, Serialize};

use super::Secret;

/// Outgoing mail ([email](../docs/email.md)): the outbox worker and the account-recovery tokens.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailSettings {
    /// `smtp://host:587?tls=required` (STARTTLS), `smtps://host:465` (implicit TLS),
    /// `smtp://user:password@host` (AUTH; may hold a password, hence secret), or plain
    /// `smtp://127.0.0.1:2525` on loopback. Unset: each message is written to `maildir`.
    pub smtp_url: Option<Secret>,
    /// The envelope and `From:` address; a tenant's sender name is shown in front of it.
    pub from: String,
    /// With no `smtp_url`: messages land in `{maildir}/new/` and their path is logged.
    pub maildir: PathBuf,
    /// How often the worker looks for due messages when it has nothing to do.
    pub poll_interval_ms: u64,
    /// Messages claimed per round.
    pub batch: u64,
    /// A claimed message not confirmed within this long is taken up by another worker.
    pub claim_secs: u64,
    /// The first retry waits this long, each further one twice as long...
    pub retry_base_ms: u64,
    /// ...up to this.
    pub retry_max_ms: u64,
    /// After this many attempts a message is marked `failed`.
    pub max_attempts: u32,
    /// One SMTP conversation, connect to QUIT.
    pub smtp_timeout_secs: u64,
    /// Lifetime of a password-reset link and code.
    pub reset_ttl_secs: u64,
    /// Lifetime of an email-verification link.
    pub verify_ttl_secs: u64,
}

impl Default for EmailSettings {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: "gatehouse@localhost".into(),
            maildir: PathBuf::from("data/mail"),
            poll_interval_ms: 1_000,
            batch: 20,
            claim_secs: 120,
            retry_base_ms: 5_000,
            retry_max_ms: 3_600_000,
            max_attempts: 20,
            smtp_timeout_secs: 30,
            reset_ttl_secs: 1_800,
            verify_ttl_secs: 86_400,
        }
    }
}

/// `GET /metrics` (Prometheus). The labels are route templates and closed enums, never tenant
/// slugs, user ids or tokens; still, request and login counts are operational data, so a
/// deployment reachable from the internet sets `bearer_token` or keeps `/metrics` off its proxy.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Serve `/metrics` at all (404 when off).
    pub enabled: bool,
    /// When set, scrapes must send `Authorization: Bearer <token>` (Prometheus:
    /// `authorization: {credentials: ...}`); unset, `/metrics` is open like `/health`.
    pub bearer_token: Option<Secret>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self { enabled: true, bearer_token: None }
    }
}

/// Calls to external identity providers. Every call is bounded so a slow provider of one
/// tenant holds only its own users' requests, never a worker.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamSettings {
    pub connect_timeout_ms: u64,
    /// Whole request, connect to last byte.
    pub timeout_ms: u64,
    /// How long an issuer's discovery document and keys are reused (refreshed early when an
    /// ID token names an unknown `kid`).
    pub discovery_ttl_secs: u64,
    /// How long a user has to come back from the provider.
    pub login_ttl_secs: u64,
    /// Allow `http://` provider URLs on loopback hosts (development and tests). Other
    /// provider URLs must be https.
    pub allow_http_loopback: bool,
    /// The largest answer read from a provider (discovery, keys, token, user-info, emails);
    /// a larger one fails the sign-in.
    pub max_response_bytes: usize,
    /// Internal addresses provider calls may reach anyway (an IdP inside the network): IPs,
    /// CIDRs, or host names whose every address is then allowed. Empty: none.
    pub allowed_internal_hosts: InternalHosts,
}

/// `upstream.allowed_internal_hosts`: a YAML list, or in the environment a comma-separated
/// string (`10.0.0.0/8,idp.internal`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InternalHosts {
    pub nets: Vec<crate::client_ip::IpNet>,
    /// Lower-case, without a trailing dot.
    pub names: Vec<String>,
}

impl InternalHosts {
    /// # Errors
    /// An entry that is neither an IP, a CIDR network nor a host name.
    pub fn parse(entries: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut out = Self::default();
        for entry in entries {
            let e = entry.trim();
            if let Ok(net) = e.parse() {
                out.nets.push(net);
                continue;
            }
            let name = e.trim_end_matches('.').to_ascii_lowercase();
            let valid = !name.is_empty()
                && name.len() <= 253
                && name.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if !valid {
                return Err(format!("{e:?} is not an IP address, CIDR network or host name"));
            }
            out.names.push(name);
        }
        Ok(out)
    }
}

impl Serialize for InternalHosts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.nets.iter().map(ToString::to_string).chain(self.names.iter().cloned()))
    }
}

impl<'de> Deserialize<'de> for InternalHosts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
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
        Self::parse(items).map_err(serde::de::Error::custom)
    }
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self {
            connect_timeout_ms: 3_000,
            timeout_ms: 10_000,
            discovery_ttl_secs: 3_600,
            login_ttl_secs: 600,
            allow_http_loopback: false,
            max_response_bytes: 256 * 1024,
            allowed_internal_hosts: InternalHosts::default(),
        }
    }
}

/// Requests per minute, per client IP and per tenant, for each kind of sensitive endpoint.
/// State lives in the shared store, so limits hold across instances.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    pub login_per_ip: u64,
    pub register_per_ip: u64,
    pub refresh_per_ip: u64,
    pub token_per_ip: u64,
    pub authorize_per_ip: u64,
    /// Requests that send account mail (password reset, verification, email sign-in, email
    /// change) per IP and minute.
    pub mail_per_ip: u64,
    /// Uses of a mailed link or code (reset, verify, sign-in, email change and its undo) per IP
    /// and minute.
    pub recovery_per_ip: u64,
    /// Account mails of one kind to one address per hour, whoever asks; past it requests are
    /// answered as usual and send nothing (so the answer still says nothing about the address).
    pub mail_per_address_per_hour: u64,
    /// Every per-IP limit times this is the tenant-wide limit.
    pub tenant_factor: u64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            login_per_ip: 30,
            register_per_ip: 10,
            refresh_per_ip: 600,
            token_per_ip: 600,
            authorize_per_ip: 120,
            mail_per_ip: 10,
            recovery_per_ip: 30,
            mail_per_address_per_hour: 5,
            tenant_factor: 100,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcSettings {
    /// A browser SSO session ends after this long without use...
    pub sso_idle_secs: u64,
    /// ...and after this long in any case.
    pub sso_absolute_secs: u64,
    /// Lifetime of an authorization code (single use).
    pub code_ttl_secs: u64,
    /// How long a user has to finish signing in.
    pub authorization_ttl_secs: u64,
    /// Plain-HTTP development on loopback only: drop the `__Host-` prefix and `Secure` from
    /// the session cookie. Refused unless `public_url` is an http URL on a loopback host.
    pub insecure_dev_cookies: bool,
}

impl Default for OidcSettings {
    fn default() -> Self {
        Self {
            sso_idle_secs: 8 * 3600,
            sso_absolute_secs: 7 * 24 * 3600,
            code_ttl_secs: 60,
            authorization_ttl_secs: 900,
            insecure_dev_cookies: false,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BootstrapSettings {
    /// Password of the operator `admin` in tenant `system`, used only when it is first created.
    /// Unset: generated and logged once.
    pub admin_password: Option<Secret>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    pub bind: SocketAddr,
    /// Base URL clients reach us at; token issuers are `{public_url}/t/{tenant}`.
    /// Empty means `http://{bind}`.
    pub public_url: String,
    pub max_body_bytes: usize,
    /// A request head must arrive in full within this many seconds (slow-loris defence).
    pub header_read_timeout_secs: u64,
    /// A request body must arrive in full within this many seconds of its head; else 408.
    pub body_read_timeout_secs: u64,
    /// A keep-alive connection with no request for this many seconds is closed.
    pub idle_timeout_secs: u64,
    pub shutdown_grace_secs: u64,
    /// Reverse proxies whose `X-Forwarded-For` is believed (IPs or CIDR networks). Empty: the
    /// TCP peer is the client.
    pub trusted_proxies: crate::client_ip::TrustedProxies,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path?mode=rwc` or `postgres://user@host/db`.
    pub url: Secret,
    pub auto_migrate: bool,
    pub max_connections: u32,
    pub connect_timeout_secs: u64,
    /// PostgreSQL only: `search_path`, so several deployments (or tests) can share one database.
    pub schema: Option<String>,
    /// PostgreSQL only: a read replica (hot standby) for the admin API's listings and
    /// searches, which tolerate replication lag. Token, login and `/me` paths always use
    /// `url`. Unset: everything uses `url`.
    pub replica_url: Option<Secret>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSettings {
    /// Unset: an in-process store, correct for a single instance only.
    pub url: Option<Secret>,
    pub key_prefix: String,
    pub command_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretSettings {
    /// Base64 of 32 random bytes; encrypts signing keys at rest.
    pub master_key: Option<Secret>,
    /// Where the embedded default keeps a generated master key when `master_key` is unset.
    pub master_key_file: PathBuf,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenSettings {
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
    /// Upper bound for any access-token lifetime; revocation entries for sessions live this long.
    pub max_access_ttl_secs: u64,
    pub leeway_secs: u64,
    /// A rotated refresh token presented again within this many seconds is a lost race between
    /// concurrent requests (refused, nothing revoked); later it is reuse (the family is
    /// revoked). 0: every second presentation is reuse.
    pub refresh_reuse_grace_secs: u64,
    /// Default algorithm for new tenants: `ES256`, `RS256` or `EdDSA`.
    pub default_algorithm: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordSettings {
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Hashes computed at once; 0 means one per CPU.
    pub max_concurrent_hashes: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `pretty` or `json`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `gatehouse=debug,info`.
    pub level: String,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: String::new(),
            max_body_bytes: 64 * 1024,
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 30,
            idle_timeout_secs: 60,
            shutdown_grace_secs: 20,
            trusted_proxies: crate::client_ip::TrustedProxies::default(),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: Secret::new("sqlite://data/gatehouse.db?mode=rwc"),
            auto_migrate: true,
            max_connections: 16,
            connect_timeout_secs: 5,
            schema: None,
            replica_url: None,
        }
    }
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self { url: None, key_prefix: "gh:".into(), command_timeout_ms: 500 }
    }
}

impl Default for SecretSettings {
    fn default() -> Self {
        Self { master_key: None, master_key_file: PathBuf::from("data/master.key") }
    }
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            access_ttl_secs: 600,
            refresh_ttl_secs: 30 * 24 * 3600,
            max_access_ttl_secs: 3600,
            leeway_secs: 30,
            refresh_reuse_grace_secs: 2,
            default_algorithm: "ES256".into(),
        }
    }
}

impl Default for PasswordSettings {
    fn default() -> Self {
        Self {
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            max_concurrent_hashes: 0,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { format: "pretty".into(), level: "info".into() }
    }
}
