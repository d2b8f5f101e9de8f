//! Settings: `config/base.yaml`, then `config/{GATEHOUSE_ENV}.yaml`, then `GATEHOUSE__SECTION__KEY`
//! environment variables. Every field has a default, so the binary also runs with no files at all.
use std::fmt;

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Yaml},
};
use serde::{Deserialize, Serialize};

mod sections;

pub use sections::*;

/// A string that never shows up in `Debug` output or logs.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub secrets: SecretSettings,
    pub tokens: TokenSettings,
    pub passwords: PasswordSettings,
    pub log: LogSettings,
    pub bootstrap: BootstrapSettings,
    pub oidc: OidcSettings,
    pub limits: LimitSettings,
    pub upstream: UpstreamSettings,
    pub metrics: MetricsSettings,
    pub email: EmailSettings,
}

const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// A tracing filter whose every directive names a level: `info`, or `gatehouse=debug,info`.
/// tracing itself reads a bare word such as `verbose` as a target, which silences everything else.
fn check_log_level(filter: &str) -> Result<(), String> {
    let problem = || {
        format!(
            "{filter:?} is not a log level: use one of {} or directives such as gatehouse=debug,info",
            LOG_LEVELS.join(", ")
        )
    };
    let is_level = |s: &str| LOG_LEVELS.iter().any(|l| l.eq_ignore_ascii_case(s.trim()));
    let directives: Vec<&str> = filter.split(',').map(str::trim).filter(|d| !d.is_empty()).collect();
    if directives.is_empty() {
        return Err(problem());
    }
    for directive in directives {
        let level = directive
            .rsplit_once('=')
            .map_or(directive, |(target, level)| if target.trim().is_empty() { "" } else { level });
        if !is_level(level) {
            return Err(problem());
        }
    }
    tracing_subscriber::EnvFilter::try_new(filter).map(|_| ()).map_err(|_| problem())
}

/// A configuration problem, naming the key so the operator knows what to fix.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl ConfigError {
    pub fn key(env_key: &str, problem: impl fmt::Display) -> Self {
        Self(format!("{env_key}: {problem}"))
    }
}

impl Settings {
    /// Loads the layered configuration from `config_dir` and the process environment.
    ///
    /// # Errors
    /// A value of the wrong type, an unknown key or a value that fails validation.
    pub fn load(config_dir: &std::path::Path) -> Result<Self, ConfigError> {
        let environment = std::env::var("GATEHOUSE_ENV").unwrap_or_else(|_| "local".into());
        let figment = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Yaml::file(config_dir.join("base.yaml")))
            .merge(Yaml::file(config_dir.join(format!("{environment}.yaml"))))
            .merge(Env::prefixed("GATEHOUSE__").split("__"));
        let settings: Settings = figment.extract().map_err(|e| {
            let key = e.path.join("__").to_uppercase();
            let name = if key.is_empty() { "configuration".into() } else { format!("GATEHOUSE__{key}") };
            match key.as_str() {
                "SERVER__BIND" => ConfigError::key(
                    &name,
                    format!("{}; it needs an IP address and a port such as 127.0.0.1:8080 (0.0.0.0:8080 for every interface), not a host name", e.kind),
                ),
                _ => ConfigError::key(&name, e.kind),
            }
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// # Errors
    /// The first setting whose value cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = self.database.url.expose();
        if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(ConfigError::key(
                "GATEHOUSE__DATABASE__URL",
                "must start with sqlite: or postgres://",
            ));
        }
        let s = &self.server;
        for (key, secs) in [
            ("GATEHOUSE__SERVER__HEADER_READ_TIMEOUT_SECS", s.header_read_timeout_secs),
            ("GATEHOUSE__SERVER__BODY_READ_TIMEOUT_SECS", s.body_read_timeout_secs),
            ("GATEHOUSE__SERVER__IDLE_TIMEOUT_SECS", s.idle_timeout_secs),
        ] {
            if secs == 0 {
                return Err(ConfigError::key(key, "must be at least 1 second"));
            }
        }
        if let Some(replica) = &self.database.replica_url {
            let postgres = |u: &str| u.starts_with("postgres://") || u.starts_with("postgresql://");
            if !postgres(replica.expose()) || !postgres(url) {
                return Err(ConfigError::key(
                    "GATEHOUSE__DATABASE__REPLICA_URL",
                    "needs PostgreSQL for both the database and its replica (postgres://)",
                ));
            }
        }
        if let Some(redis) = &self.redis.url {
            let r = redis.expose();
            let schemes = ["redis://", "rediss://", "unix://", "redis+sentinel://"];
            if !schemes.iter().any(|s| r.starts_with(s)) {
                return Err(ConfigError::key(
                    "GATEHOUSE__REDIS__URL",
                    "must start with redis://, rediss://, unix:// or redis+sentinel://",
                ));
            }
        }
        if let Some(smtp) = &self.email.smtp_url
            && !["smtp://", "smtps://"].iter().any(|s| smtp.expose().starts_with(s))
        {
            // Never echo the value: it may hold a password.
            return Err(ConfigError::key(
                "GATEHOUSE__EMAIL__SMTP_URL",
                "must start with smtp:// or smtps://",
            ));
        }
        if self.email.batch == 0 || self.email.claim_secs == 0 || self.email.max_attempts == 0 {
            return Err(ConfigError::key(
                "GATEHOUSE__EMAIL__BATCH",
                "email.batch, email.claim_secs and email.max_attempts must be at least 1",
            ));
        }
        let public_url = &self.server.public_url;
        if !(public_url.is_empty() || public_url.starts_with("http://") || public_url.starts_with("https://"))
        {
            return Err(ConfigError::key("GATEHOUSE__SERVER__PUBLIC_URL", "must be an http(s) URL"));
        }
        if self.tokens.access_ttl_secs == 0 || self.tokens.access_ttl_secs > self.tokens.max_access_ttl_secs {
            return Err(ConfigError::key(
                "GATEHOUSE__TOKENS__ACCESS_TTL_SECS",
                "must be between 1 and tokens.max_access_ttl_secs",
            ));
        }
        if self.tokens.refresh_reuse_grace_secs > 60 {
            return Err(ConfigError::key(
                "GATEHOUSE__TOKENS__REFRESH_REUSE_GRACE_SECS",
                "must be at most 60",
            ));
        }
        if self.tokens.leeway_secs > 30 {
            return Err(ConfigError::key("GATEHOUSE__TOKENS__LEEWAY_SECS", "must be at most 30"));
        }
        if crate::domain::Algorithm::parse(&self.tokens.default_algorithm).is_none() {
            return Err(ConfigError::key(
                "GATEHOUSE__TOKENS__DEFAULT_ALGORITHM",
                "must be ES256, RS256 or EdDSA",
            ));
        }
        let p = &self.passwords;
        if p.argon2_memory_kib < 19_456 || p.argon2_iterations < 2 || p.argon2_parallelism != 1 {
            return Err(ConfigError::key(
                "GATEHOUSE__PASSWORDS__ARGON2_MEMORY_KIB",
                "argon2 parameters below m=19456 KiB, t=2, p=1 are refused",
            ));
        }
        if self.oidc.insecure_dev_cookies {
            let url = self.public_url();
            let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"].iter().any(|p| {
                url.strip_prefix(p).is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
            });
            if !loopback {
                return Err(ConfigError::key(
                    "GATEHOUSE__OIDC__INSECURE_DEV_COOKIES",
                    "only allowed when server.public_url is an http URL on a loopback host",
                ));
            }
        }
        if self.oidc.code_ttl_secs == 0 || self.oidc.code_ttl_secs > 600 {
            return Err(ConfigError::key("GATEHOUSE__OIDC__CODE_TTL_SECS", "must be between 1 and 600"));
        }
        let u = &self.upstream;
        if !(100..=60_000).contains(&u.timeout_ms) || !(100..=u.timeout_ms).contains(&u.connect_timeout_ms) {
            return Err(ConfigError::key(
                "GATEHOUSE__UPSTREAM__TIMEOUT_MS",
                "timeout_ms must be 100 to 60000 and connect_timeout_ms 100 to timeout_ms",
            ));
        }
        if !(4 * 1024..=16 * 1024 * 1024).contains(&u.max_response_bytes) {
            return Err(ConfigError::key(
                "GATEHOUSE__UPSTREAM__MAX_RESPONSE_BYTES",
                "must be between 4096 and 16777216",
            ));
        }
        if !(60..=3_600).contains(&u.login_ttl_secs) {
            return Err(ConfigError::key(
                "GATEHOUSE__UPSTREAM__LOGIN_TTL_SECS",
                "must be between 60 and 3600",
            ));
        }
        if self.metrics.bearer_token.as_ref().is_some_and(|t| t.expose().len() < 16) {
            return Err(ConfigError::key(
                "GATEHOUSE__METRICS__BEARER_TOKEN",
                "must be at least 16 characters",
            ));
        }
        if !matches!(self.log.format.as_str(), "pretty" | "json") {
            return Err(ConfigError::key("GATEHOUSE__LOG__FORMAT", "must be pretty or json"));
        }
        check_log_level(&self.log.level).map_err(|e| ConfigError::key("GATEHOUSE__LOG__LEVEL", e))?;
        if let Some(key) = &self.secrets.master_key {
            use base64::Engine as _;
            let decoded = base64::engine::general_purpose::STANDARD.decode(key.expose().trim());
            if !decoded.is_ok_and(|bytes| bytes.len() == 32) {
                return Err(ConfigError::key(
                    "GATEHOUSE__SECRETS__MASTER_KEY",
                    "must be base64 of exactly 32 bytes (make one with: openssl rand -base64 32)",
                ));
            }
        }
        Ok(())
    }

    /// The public base URL without a trailing slash.
    pub fn public_url(&self) -> String {
        if self.server.public_url.is_empty() {
            format!("http://{}", self.server.bind)
        } else {
            self.server.public_url.trim_end_matches('/').to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_error(vars: &[(&str, &str)]) -> String {
        let mut message = String::new();
        figment::Jail::expect_with(|jail| {
            for (k, v) in vars {
                jail.set_env(k, v);
            }
            message = Settings::load(jail.directory()).expect_err("must fail").to_string();
            Ok(())
        });
        message
    }

    #[test]
    fn bad_values_fail_with_the_key_named() {
        for (key, value) in [
            ("GATEHOUSE__SERVER__BIND", "nope"),
            ("GATEHOUSE__DATABASE__URL", "mysql://db"),
            ("GATEHOUSE__TOKENS__ACCESS_TTL_SECS", "soon"),
            ("GATEHOUSE__TOKENS__LEEWAY_SECS", "300"),
            ("GATEHOUSE__LOG__FORMAT", "xml"),
            ("GATEHOUSE__LOG__LEVEL", "verbose"),
            ("GATEHOUSE__LOG__LEVEL", "gatehouse=loud,info"),
            ("GATEHOUSE__LOG__LEVEL", ""),
            ("GATEHOUSE__SECRETS__MASTER_KEY", "c2hvcnQ="),
            ("GATEHOUSE__REDIS__URL", "memcached://x"),
            // The embedded default's SQLite has no replicas.
            ("GATEHOUSE__DATABASE__REPLICA_URL", "postgres://standby/gatehouse"),
            ("GATEHOUSE__SERVER__TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal"),
        ] {
            let message = load_error(&[(key, value)]);
            assert!(message.contains(key), "{key}: {message}");
        }
        let unknown = load_error(&[("GATEHOUSE__SERVER__BINDD", "1")]);
        assert!(unknown.contains("GATEHOUSE__SERVER__BINDD"), "{unknown}");
    }

    #[test]
    fn log_levels_and_directives_are_accepted() {
        for good in ["info", "WARN", "off", "gatehouse=debug,info", "gatehouse::access=warn, info"] {
            assert!(check_log_level(good).is_ok(), "{good}");
        }
        let bind = load_error(&[("GATEHOUSE__SERVER__BIND", "localhost:8080")]);
        assert!(bind.contains("127.0.0.1:8080"), "{bind}");
    }

    #[test]
    fn files_are_layered_and_the_environment_wins() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "base.yaml",
                "server:\n  bind: 127.0.0.1:9000\ntokens:\n  access_ttl_secs: 300\n",
            )?;
            jail.create_file("staging.yaml", "tokens:\n  access_ttl_secs: 120\n")?;
            jail.set_env("GATEHOUSE_ENV", "staging");
            jail.set_env("GATEHOUSE__SERVER__BIND", "127.0.0.1:9100");
            jail.set_env("GATEHOUSE__SERVER__TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1");
            let s = Settings::load(jail.directory()).map_err(|e| e.to_string())?;
            assert_eq!(s.server.bind.port(), 9100);
            assert_eq!(s.server.trusted_proxies.0.len(), 2);
            assert_eq!(s.tokens.access_ttl_secs, 120);
            Ok(())
        });
    }
}
