//! The shared harness: boots the real app on a random port against a real backend.
//!
//! `backend_tests!` turns each `async fn name(app: TestApp)` into two tests,
//! `name::postgres_redis` and `name::sqlite_memory`, so `cargo test` covers both storage
//! backends. PostgreSQL and Redis must answer; a missing service fails the test loudly.
use std::{path::PathBuf, sync::Arc};

use gatehouse::{
    app::App,
    config::{Secret, Settings},
    state::AppState,
    store::entities::{refresh_tokens, sessions, users},
    tokens::AccessClaims,
};
use reqwest::{Response, StatusCode};
use sea_orm::{ConnectionTrait, Database, EntityTrait, QueryOrder};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

pub const PASSWORD: &str = "correct horse battery staple";
/// Just past the default refresh-reuse grace window (2 s): a replay after it is reuse.
pub const REUSE_GRACE: std::time::Duration = std::time::Duration::from_millis(2100);
/// The bootstrapped operator `admin` of tenant `system` logs in with this.
pub const BOOTSTRAP_ADMIN_PASSWORD: &str = "operator password for the tests";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    PostgresRedis,
    SqliteMemory,
}

macro_rules! backend_tests {
    ($( $(#[$meta:meta])* async fn $name:ident($app:ident : TestApp) $body:block )*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                $(#[$meta])*
                async fn run($app: $crate::helpers::TestApp) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_redis() {
                    run($crate::helpers::TestApp::spawn($crate::helpers::Backend::PostgresRedis).await).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite_memory() {
                    run($crate::helpers::TestApp::spawn($crate::helpers::Backend::SqliteMemory).await).await
                }
            }
        )*
    };
}
pub(crate) use backend_tests;

fn pg_base() -> String {
    std::env::var("GATEHOUSE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn redis_url() -> String {
    std::env::var("GATEHOUSE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

const TEST_DB: &str = "gatehouse_test";
/// Where [`TestApp::spawn_with_lagging_replica`] keeps its stand-in replicas, one schema each.
pub const REPLICA_DB: &str = "gatehouse_test_replica";

/// Creates the shared test database once per run and drops schemas left by runs over an
/// hour old (each test works in its own schema, named by creation time).
async fn prepare_postgres() {
    static READY: OnceCell<()> = OnceCell::const_new();
    READY
        .get_or_init(|| async {
            let admin = Database::connect(format!("{}/postgres", pg_base()))
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL must be running for the tests ({}): {e}", pg_base()));
            let exists = admin
                .query_one_raw(sea_orm::Statement::from_string(
                    admin.get_database_backend(),
                    format!("SELECT 1 FROM pg_database WHERE datname = '{TEST_DB}'"),
                ))
                .await
                .unwrap()
                .is_some();
            if !exists {
                // Another test binary may win the race; that is fine.
                let _ = admin.execute_unprepared(&format!("CREATE DATABASE {TEST_DB}")).await;
            }
            drop_stale_schemas(&Database::connect(format!("{}/{TEST_DB}", pg_base())).await.unwrap()).await;
        })
        .await;
}

async fn drop_stale_schemas(db: &sea_orm::DatabaseConnection) {
    let cutoff = chrono::Utc::now().timestamp() - 3600;
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 't\\_%'".to_string(),
        ))
        .await
        .unwrap();
    for row in rows {
        let name: String = row.try_get("", "nspname").unwrap();
        let created = name.split('_').nth(1).and_then(|t| t.parse::<i64>().ok()).unwrap_or(0);
        if created < cutoff {
            let _ = db.execute_unprepared(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")).await;
        }
    }
}

pub struct TestApp {
    pub backend: Backend,
    pub address: String,
    pub client: reqwest::Client,
    pub state: Arc<AppState>,
    pub settings: Settings,
    sqlite_file: Option<PathBuf>,
    stop: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(f) = &self.sqlite_file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", f.display()));
            }
        }
    }
}

pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

impl TestApp {
    pub fn test_settings(backend: Backend) -> (Settings, Option<PathBuf>) {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut s = Settings::default();
        s.server.bind = "127.0.0.1:0".parse().unwrap();
        s.secrets.master_key = Some(Secret::new(base64_key()));
        s.bootstrap.admin_password = Some(Secret::new(BOOTSTRAP_ADMIN_PASSWORD));
        // The harness speaks plain HTTP on loopback.
        s.oidc.insecure_dev_cookies = true;
        // Tests log in far more often than people do; the rate-limit tests lower these.
        s.limits.login_per_ip = 10_000;
        s.limits.register_per_ip = 10_000;
        s.limits.authorize_per_ip = 10_000;
        s.database.max_connections = 5;
        // Upstream providers in the tests are local processes on plain HTTP; a hanging one
        // must give up well before a test would.
        s.upstream.allow_http_loopback = true;
        s.upstream.allowed_internal_hosts =
            gatehouse::config::InternalHosts::parse(["127.0.0.1".to_string()]).unwrap();
        s.upstream.timeout_ms = 3_000;
        s.upstream.connect_timeout_ms = 1_000;
        let mut file = None;
        match backend {
            Backend::PostgresRedis => {
                s.database.url = Secret::new(format!("{}/{TEST_DB}", pg_base()));
                s.database.schema = Some(format!("t_{}_{}", chrono::Utc::now().timestamp(), &id[..12]));
                s.redis.url = Some(Secret::new(redis_url()));
                s.redis.key_prefix = format!("ghtest:{id}:");
            }
            Backend::SqliteMemory => {
                let path = std::env::temp_dir().join(format!("gatehouse-test-{id}.db"));
                s.database.url = Secret::new(format!("sqlite://{}?mode=rwc", path.display()));
                file = Some(path);
            }
        }
        if std::env::var("TEST_LOG").is_ok() {
            gatehouse::telemetry::init(&s.log);
        }
        (s, file)
    }

    pub async fn spawn(backend: Backend) -> Self {
        let (settings, file) = Self::test_settings(backend);
        if backend == Backend::PostgresRedis {
            prepare_postgres().await;
            create_schema(settings.database.schema.as_deref().unwrap()).await;
        }
        Self::spawn_with(backend, settings, file).await
    }

    /// Like [`TestApp::spawn`], with settings adjusted by `tune`.
    pub async fn spawn_tuned(backend: Backend, tune: impl FnOnce(&mut Settings)) -> Self {
        let (mut settings, file) = Self::test_settings(backend);
        tune(&mut settings);
        if backend == Backend::PostgresRedis {
            prepare_postgres().await;
            create_schema(settings.database.schema.as_deref().unwrap()).await;
        }
        Self::spawn_with(backend, settings, file).await
    }

    /// A PostgreSQL instance whose `replica_url` names a second database standing in for a
    /// hot standby that has not replayed anything yet: same schema, migrated, no rows.
    pub async fn spawn_with_lagging_replica() -> Self {
        let (mut settings, file) = Self::test_settings(Backend::PostgresRedis);
        let schema = settings.database.schema.clone().unwrap();
        prepare_postgres().await;
        create_schema(&schema).await;
        let admin = Database::connect(format!("{}/postgres", pg_base())).await.unwrap();
        // Concurrent tests may race to create it; one wins.
        let _ = admin.execute_unprepared(&format!("CREATE DATABASE {REPLICA_DB}")).await;
        let replica = Database::connect(format!("{}/{REPLICA_DB}", pg_base())).await.unwrap();
        drop_stale_schemas(&replica).await;
        replica.execute_unprepared(&format!("CREATE SCHEMA \"{schema}\"")).await.unwrap();
        let mut replica_settings = settings.database.clone();
        replica_settings.url = Secret::new(format!("{}/{REPLICA_DB}", pg_base()));
        let replica = gatehouse::store::connect(&replica_settings).await.unwrap();
        <migration::Migrator as sea_orm_migration::MigratorTrait>::up(&replica, None).await.unwrap();
        settings.database.replica_url = Some(replica_settings.url);
        Self::spawn_with(Backend::PostgresRedis, settings, file).await
    }

    /// Another instance on the same database and Redis prefix, as in a scaled-out deployment.
    pub async fn spawn_sibling(&self) -> Self {
        let mut settings = self.settings.clone();
        settings.server.public_url = self.settings.public_url();
        Self::spawn_with(self.backend, settings, None).await
    }

    async fn spawn_with(backend: Backend, settings: Settings, sqlite_file: Option<PathBuf>) -> Self {
        let app = App::build(settings.clone()).await.expect("the app must start");
        let state = app.state();
        if backend == Backend::PostgresRedis {
            state.kv.ping().await.unwrap_or_else(|e| panic!("Redis must be running for the tests: {e}"));
        }
        let address = format!("http://127.0.0.1:{}", app.port());
        let settings = state.settings.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self {
            backend,
            address,
            client,
            state,
            settings,
            sqlite_file,
            stop: std::sync::Mutex::new(Some(stop)),
        }
    }

    /// Starts a graceful shutdown, as SIGTERM does.
    pub fn shut_down(&self) {
        if let Some(stop) = self.stop.lock().unwrap().take() {
            let _ = stop.send(());
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().await.unwrap()
    }

    pub async fn register(&self, tenant: &str, username: &str) -> Response {
        self.post_json(
            &format!("/t/{tenant}/auth/register"),
            &json!({"username": username, "password": PASSWORD}),
        )
        .await
    }

    pub async fn login_raw(&self, tenant: &str, username: &str, password: &str) -> Response {
        self.post_json(
            &format!("/t/{tenant}/auth/login"),
            &json!({"username": username, "password": password}),
        )
        .await
    }

    pub async fn login(&self, tenant: &str, username: &str) -> Tokens {
        let resp = self.login_raw(tenant, username, PASSWORD).await;
        assert_eq!(resp.status(), StatusCode::OK, "login of {username} failed");
        let body: Value = resp.json().await.unwrap();
        Tokens {
            access: body["access_token"].as_str().unwrap().to_string(),
            refresh: body["refresh_token"].as_str().unwrap().to_string(),
        }
    }

    /// Registers and logs in a user of `default`.
    pub async fn user(&self, username: &str) -> Tokens {
        assert_eq!(self.register("default", username).await.status(), StatusCode::CREATED);
        self.login("default", username).await
    }

    pub async fn me(&self, tenant: &str, access: &str) -> Response {
        self.client.get(self.url(&format!("/t/{tenant}/me"))).bearer_auth(access).send().await.unwrap()
    }

    pub async fn refresh(&self, tenant: &str, refresh: &str) -> Response {
        self.post_json(&format!("/t/{tenant}/auth/refresh"), &json!({ "refresh_token": refresh })).await
    }

    pub async fn logout(&self, tenant: &str, access: &str, everywhere: bool) -> Response {
        self.client
            .post(self.url(&format!("/t/{tenant}/auth/logout")))
            .bearer_auth(access)
            .json(&json!({ "everywhere": everywhere }))
            .send()
            .await
            .unwrap()
    }

    /// Creates another tenant directly, closed to self-registration like every new tenant.
    pub async fn create_tenant(&self, slug: &str) {
        self.insert_tenant(slug, false).await;
    }

    /// Creates another tenant directly, open to self-registration (`register` works there).
    pub async fn create_open_tenant(&self, slug: &str) {
        self.insert_tenant(slug, true).await;
    }

    async fn insert_tenant(&self, slug: &str, registration_open: bool) {
        let defaults = gatehouse::tenancy::TenantSettings::from_config(&self.settings);
        gatehouse::tenancy::ensure_tenant(
            &self.state.db,
            &self.state.master_key,
            slug,
            slug,
            gatehouse::tenancy::TenantSettings { registration_open, ..defaults },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    }

    /// An operator's admin token (user `admin` of tenant `system`).
    pub async fn operator(&self) -> String {
        let resp = self.login_raw("system", "admin", BOOTSTRAP_ADMIN_PASSWORD).await;
        assert_eq!(resp.status(), StatusCode::OK, "operator login failed");
        resp.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string()
    }

    pub async fn admin_request(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.unwrap()
    }

    pub async fn admin_get(&self, token: &str, path: &str) -> Response {
        self.admin_request(reqwest::Method::GET, token, path, None).await
    }

    pub async fn admin_post(&self, token: &str, path: &str, body: &Value) -> Response {
        self.admin_request(reqwest::Method::POST, token, path, Some(body)).await
    }

    pub async fn admin_patch(&self, token: &str, path: &str, body: &Value) -> Response {
        self.admin_request(reqwest::Method::PATCH, token, path, Some(body)).await
    }

    pub async fn admin_put(&self, token: &str, path: &str, body: &Value) -> Response {
        self.admin_request(reqwest::Method::PUT, token, path, Some(body)).await
    }

    pub async fn admin_delete(&self, token: &str, path: &str) -> Response {
        self.admin_request(reqwest::Method::DELETE, token, path, None).await
    }

    /// Creates a tenant through the admin API as an operator (closed to self-registration, the
    /// default); returns the stored tenant.
    pub async fn api_tenant(&self, operator: &str, slug: &str) -> Value {
        self.post_tenant(operator, json!({"slug": slug, "display_name": slug})).await
    }

    /// Creates a tenant through the admin API, open to self-registration.
    pub async fn api_open_tenant(&self, operator: &str, slug: &str) -> Value {
        let body = json!({"slug": slug, "display_name": slug, "settings": {"registration_open": true}});
        self.post_tenant(operator, body).await
    }

    async fn post_tenant(&self, operator: &str, body: Value) -> Value {
        let resp = self.admin_post(operator, "/admin/v1/tenants", &body).await;
        assert_eq!(resp.status(), StatusCode::CREATED, "creating tenant {body}");
        resp.json().await.unwrap()
    }

    /// Creates a `tenant-admin` of `tenant` and returns its admin token.
    pub async fn tenant_admin(&self, operator: &str, tenant: &str, username: &str) -> String {
        let body = json!({"username": username, "password": PASSWORD, "roles": ["tenant-admin"]});
        let resp = self.admin_post(operator, &format!("/admin/v1/tenants/{tenant}/users"), &body).await;
        assert_eq!(resp.status(), StatusCode::CREATED, "creating tenant admin {username}");
        self.login(tenant, username).await.access
    }

    /// Signs arbitrary claims with the tenant's real key, to forge expired or misdirected
    /// tokens that only the checks after the signature can reject.
    pub async fn sign_as_tenant(&self, tenant: &str, claims: &AccessClaims) -> String {
        let t = self.state.tenants.get(tenant).await.unwrap().unwrap();
        t.signer.sign(claims).unwrap()
    }

    /// Claims a genuine token of `access` carries.
    pub fn claims_of(access: &str) -> AccessClaims {
        let payload = access.split('.').nth(1).unwrap();
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    /// Every stored user, session and refresh token, to prove a rejected request changed nothing.
    pub async fn stored_state(&self) -> String {
        let db = &self.state.db;
        let u = users::Entity::find().order_by_asc(users::Column::Id).all(db).await.unwrap();
        let s = sessions::Entity::find().order_by_asc(sessions::Column::Id).all(db).await.unwrap();
        let r =
            refresh_tokens::Entity::find().order_by_asc(refresh_tokens::Column::Id).all(db).await.unwrap();
        format!("{u:?}\n{s:?}\n{r:?}")
    }
}

async fn create_schema(schema: &str) {
    let db = Database::connect(format!("{}/{TEST_DB}", pg_base())).await.unwrap();
    db.execute_unprepared(&format!("CREATE SCHEMA \"{schema}\"")).await.unwrap();
}

fn base64_key() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(gatehouse::crypto::random_bytes::<32>())
}

pub async fn assert_invalid_token(resp: Response) {
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let www = resp
        .headers()
        .get("www-authenticate")
        .expect("WWW-Authenticate header")
        .to_str()
        .unwrap()
        .to_string();
    assert!(www.starts_with("Bearer") && www.contains("invalid_token"), "{www}");
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "invalid_token");
}

/// A 401 for a request that sent no bearer token: a bare challenge, no error code (RFC 6750 §3.1).
pub async fn assert_bearer_challenge(resp: Response) {
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let www = resp.headers().get("www-authenticate").expect("WWW-Authenticate header").to_str().unwrap();
    assert_eq!(www, "Bearer realm=\"gatehouse\"");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "missing_token");
}

pub async fn problem(resp: Response, status: StatusCode) -> Value {
    assert_eq!(resp.status(), status);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16());
    assert!(body["code"].as_str().is_some_and(|c| !c.is_empty()), "{body}");
    assert!(body["detail"].as_str().is_some_and(|c| !c.is_empty()), "{body}");
    body
}

/// Environment for Gatehouse processes sharing one fresh PostgreSQL schema, one Redis key
/// prefix and one master key, as a scaled-out deployment does.
pub async fn shared_deployment_env() -> Vec<(String, String)> {
    prepare_postgres().await;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let schema = format!("t_{}_{}", chrono::Utc::now().timestamp(), &id[..12]);
    create_schema(&schema).await;
    [
        ("GATEHOUSE__DATABASE__URL", format!("{}/{TEST_DB}", pg_base())),
        ("GATEHOUSE__DATABASE__SCHEMA", schema),
        ("GATEHOUSE__DATABASE__MAX_CONNECTIONS", "5".into()),
        ("GATEHOUSE__REDIS__URL", redis_url()),
        ("GATEHOUSE__REDIS__KEY_PREFIX", format!("ghtest:{id}:")),
        ("GATEHOUSE__SECRETS__MASTER_KEY", base64_key()),
        ("GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD", BOOTSTRAP_ADMIN_PASSWORD.into()),
        ("GATEHOUSE__LIMITS__LOGIN_PER_IP", "10000".into()),
        ("GATEHOUSE__LIMITS__REFRESH_PER_IP", "10000".into()),
        ("GATEHOUSE__LIMITS__REGISTER_PER_IP", "10000".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
