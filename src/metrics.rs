//! Prometheus metrics in the text exposition format, served at `GET /metrics`.
//!
//! Hand-rolled on atomics rather than a metrics crate: every label set except the route is a
//! closed enum known at compile time (strategy kinds, grants, rate-limit classes), so those are
//! plain arrays of counters with no lock and no allocation; only `(method, route template)` needs
//! a map, read-locked once per request. The exposition format is a few lines of text, so a
//! dependency would add compile time and buy nothing here.
//!
//! Each [`App`](crate::app::App) owns its registry (tests run many apps in one process and each
//! sees only its own counts). Database and Redis errors are counted where they are classified
//! (`From<DbErr> for StoreError`, `From<RedisError> for KvError`), which have no handle on the
//! app: the request middleware makes the app's registry current for the request's task
//! ([`scope`]), and errors outside a request (startup, CLI, background listeners) go uncounted.
use std::{
    collections::HashMap,
    fmt::Write as _,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::Duration,
};

/// Login strategies by kind (never the admin-chosen provider id, which is unbounded).
const STRATEGIES: [&str; 8] = ["local", "oidc", "oauth2", "google", "github", "microsoft", "gitlab", "other"];
const OUTCOMES: [&str; 3] = ["succeeded", "failed", "locked"];
const GRANTS: [&str; 4] = ["password", "refresh_token", "authorization_code", "client_credentials"];
const TOKEN_KINDS: [&str; 3] = ["access", "refresh", "id"];
const RATE_CLASSES: [&str; 7] = ["login", "register", "refresh", "token", "authorize", "mail", "recovery"];
const DB_ERROR_KINDS: [&str; 2] = ["unavailable", "query"];
/// Upper bounds in seconds: from a cached JWKS (well under a millisecond) to an Argon2 login
/// queued behind others (seconds).
const BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// The route label of requests that matched no route: one series, whatever the path.
pub const UNMATCHED: &str = "unmatched";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    Succeeded = 0,
    Failed = 1,
    Locked = 2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// First-party `POST /t/{tenant}/auth/login`.
    Password = 0,
    RefreshToken = 1,
    AuthorizationCode = 2,
    ClientCredentials = 3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access = 0,
    Refresh = 1,
    Id = 2,
}

struct RouteStats {
    /// Indexed by status - 100.
    statuses: [AtomicU64; 500],
    /// Not cumulative; summed when rendered.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl RouteStats {
    fn new() -> Self {
        Self {
            statuses: std::array::from_fn(|_| AtomicU64::new(0)),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_micros: AtomicU64::new(0),
        }
    }
}

type RouteKey = (&'static str, Arc<str>);

pub struct Metrics {
    routes: RwLock<HashMap<RouteKey, Arc<RouteStats>>>,
    logins: [[AtomicU64; STRATEGIES.len()]; OUTCOMES.len()],
    tokens: [[AtomicU64; GRANTS.len()]; TOKEN_KINDS.len()],
    refresh_reuse: AtomicU64,
    rate_limited: [AtomicU64; RATE_CLASSES.len()],
    redis_errors: AtomicU64,
    db_errors: [AtomicU64; DB_ERROR_KINDS.len()],
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            routes: RwLock::new(HashMap::new()),
            logins: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            tokens: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            refresh_reuse: AtomicU64::new(0),
            rate_limited: std::array::from_fn(|_| AtomicU64::new(0)),
            redis_errors: AtomicU64::new(0),
            db_errors: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// The label of a method: the common ones by name, anything else as `OTHER` (bounded).
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}

impl Metrics {
    /// Records one finished request. `route` is a template from the router (bounded by the
    /// routes that exist), never the raw path.
    pub fn observe_request(&self, method: &'static str, route: Arc<str>, status: u16, elapsed: Duration) {
        let key = (method, route);
        let found = self.routes.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key).cloned();
        let stats = match found {
            Some(s) => s,
            None => self
                .routes
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(key)
                .or_insert_with(|| Arc::new(RouteStats::new()))
                .clone(),
        };
        if let Some(c) = usize::from(status).checked_sub(100).and_then(|i| stats.statuses.get(i)) {
            c.fetch_add(1, Relaxed);
        }
        let secs = elapsed.as_secs_f64();
        let bucket = BUCKETS.iter().position(|b| secs <= *b).unwrap_or(BUCKETS.len());
        stats.buckets[bucket].fetch_add(1, Relaxed);
        stats.sum_micros.fetch_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX), Relaxed);
    }

    /// A login attempt by strategy kind (`local`, `oidc`, `github`, ...).
    pub fn login(&self, strategy: &str, outcome: LoginOutcome) {
        let s = STRATEGIES.iter().position(|k| *k == strategy).unwrap_or(STRATEGIES.len() - 1);
        self.logins[outcome as usize][s].fetch_add(1, Relaxed);
    }

    /// Tokens handed out by one successful grant.
    pub fn tokens_issued(&self, grant: Grant, refresh: bool, id: bool) {
        let g = grant as usize;
        self.tokens[TokenKind::Access as usize][g].fetch_add(1, Relaxed);
        if refresh {
            self.tokens[TokenKind::Refresh as usize][g].fetch_add(1, Relaxed);
        }
        if id {
            self.tokens[TokenKind::Id as usize][g].fetch_add(1, Relaxed);
        }
    }

    pub fn refresh_reuse(&self) {
        self.refresh_reuse.fetch_add(1, Relaxed);
    }

    pub fn rate_limited(&self, class: &str) {
        if let Some(i) = RATE_CLASSES.iter().position(|c| *c == class) {
            self.rate_limited[i].fetch_add(1, Relaxed);
        }
    }

    /// The text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let mut routes: Vec<(RouteKey, Arc<RouteStats>)> = self
            .routes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        routes.sort_by(|a, b| (&*a.0.1, a.0.0).cmp(&(&*b.0.1, b.0.0)));

        header(
            &mut out,
            "gatehouse_http_requests_total",
            "counter",
            "HTTP requests by route template, method and status.",
        );
        for ((method, route), stats) in &routes {
            for (i, c) in stats.statuses.iter().enumerate() {
                let n = c.load(Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "gatehouse_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{}\"}} {n}",
                        escape(route),
                        i + 100
                    );
                }
            }
        }
        header(
            &mut out,
            "gatehouse_http_request_duration_seconds",
            "histogram",
            "Time from receiving a request to having its response, by route template and method.",
        );
        for ((method, route), stats) in &routes {
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
            let mut cumulative = 0;
            for (i, b) in stats.buckets.iter().enumerate() {
                cumulative += b.load(Relaxed);
                let le = BUCKETS.get(i).map_or_else(|| "+Inf".to_string(), f64::to_string);
                let _ = writeln!(
                    out,
                    "gatehouse_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                );
            }
            #[allow(clippy::cast_precision_loss)]
            let sum = stats.sum_micros.load(Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "gatehouse_http_request_duration_seconds_sum{{{labels}}} {sum}");
            let _ = writeln!(out, "gatehouse_http_request_duration_seconds_count{{{labels}}} {cumulative}");
        }

        header(&mut out, "gatehouse_logins_total", "counter", "Login attempts by strategy kind and outcome.");
        for (o, outcome) in OUTCOMES.iter().enumerate() {
            for (s, strategy) in STRATEGIES.iter().enumerate() {
                let n = self.logins[o][s].load(Relaxed);
                let _ = writeln!(
                    out,
                    "gatehouse_logins_total{{strategy=\"{strategy}\",outcome=\"{outcome}\"}} {n}"
                );
            }
        }
        header(&mut out, "gatehouse_tokens_issued_total", "counter", "Tokens issued by kind and grant.");
        for (k, kind) in TOKEN_KINDS.iter().enumerate() {
            for (g, grant) in GRANTS.iter().enumerate() {
                let n = self.tokens[k][g].load(Relaxed);
                let _ =
                    writeln!(out, "gatehouse_tokens_issued_total{{kind=\"{kind}\",grant=\"{grant}\"}} {n}");
            }
        }
        header(
            &mut out,
            "gatehouse_refresh_token_reuse_total",
            "counter",
            "Rotated refresh tokens presented again after the grace window; each revoked a session.",
        );
        let _ = writeln!(out, "gatehouse_refresh_token_reuse_total {}", self.refresh_reuse.load(Relaxed));
        header(
            &mut out,
            "gatehouse_rate_limited_total",
            "counter",
            "Requests refused by a rate limit, by endpoint class.",
        );
        for (i, class) in RATE_CLASSES.iter().enumerate() {
            let n = self.rate_limited[i].load(Relaxed);
            let _ = writeln!(out, "gatehouse_rate_limited_total{{class=\"{class}\"}} {n}");
        }
        header(
            &mut out,
            "gatehouse_redis_errors_total",
            "counter",
            "Failed or timed-out Redis commands during requests.",
        );
        let _ = writeln!(out, "gatehouse_redis_errors_total {}", self.redis_errors.load(Relaxed));
        header(
            &mut out,
            "gatehouse_database_errors_total",
            "counter",
            "Database errors during requests: unavailable (connection, pool, restart) or query.",
        );
        for (i, kind) in DB_ERROR_KINDS.iter().enumerate() {
            let n = self.db_errors[i].load(Relaxed);
            let _ = writeln!(out, "gatehouse_database_errors_total{{kind=\"{kind}\"}} {n}");
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Label values escape backslash, double quote and newline.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

tokio::task_local! {
    static CURRENT: Arc<Metrics>;
}

/// Runs `f` (a request) with `metrics` as the registry that [`redis_error`] and
/// [`database_error`] count into.
pub async fn scope<F: Future>(metrics: Arc<Metrics>, f: F) -> F::Output {
    CURRENT.scope(metrics, f).await
}

/// Counts a failed Redis command against the current request's app, if any.
pub fn redis_error() {
    let _ = CURRENT.try_with(|m| m.redis_errors.fetch_add(1, Relaxed));
}

/// Counts a database error against the current request's app, if any.
pub fn database_error(unavailable: bool) {
    let _ = CURRENT.try_with(|m| m.db_errors[usize::from(!unavailable)].fetch_add(1, Relaxed));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_end_in_inf() {
        let m = Metrics::default();
        let route: Arc<str> = "/t/:tenant/me".into();
        m.observe_request("GET", route.clone(), 200, Duration::from_micros(300));
        m.observe_request("GET", route, 401, Duration::from_secs(20));
        let text = m.render();
        assert!(text.contains(
            "gatehouse_http_requests_total{method=\"GET\",route=\"/t/:tenant/me\",status=\"200\"} 1"
        ));
        assert!(text.contains(
            "gatehouse_http_request_duration_seconds_bucket{method=\"GET\",route=\"/t/:tenant/me\",le=\"0.0005\"} 1"
        ));
        assert!(text.contains(
            "gatehouse_http_request_duration_seconds_bucket{method=\"GET\",route=\"/t/:tenant/me\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains(
            "gatehouse_http_request_duration_seconds_count{method=\"GET\",route=\"/t/:tenant/me\"} 2"
        ));
    }

    #[test]
    fn unknown_strategy_kinds_share_one_series() {
        let m = Metrics::default();
        m.login("made-up", LoginOutcome::Failed);
        assert!(m.render().contains("gatehouse_logins_total{strategy=\"other\",outcome=\"failed\"} 1"));
    }
}
