//! Observability: `/metrics` counts what happened with bounded labels, and the JSON logs of a
//! real `gatehouse` process carry request id, tenant and route but never a secret.
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::{BOOTSTRAP_ADMIN_PASSWORD, Backend, PASSWORD, REUSE_GRACE, TestApp, backend_tests};

async fn scrape(app: &TestApp) -> String {
    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    resp.text().await.unwrap()
}

/// The value of one series, e.g. `gatehouse_logins_total{strategy="local",outcome="failed"}`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn count(text: &str, series: &str) -> f64 {
    value(text, series).unwrap_or_else(|| panic!("no series {series} in\n{text}"))
}

/// Every `route` label of the HTTP series.
fn routes(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("gatehouse_http_"))
        .filter_map(|l| l.split("route=\"").nth(1)?.split('"').next().map(str::to_string))
        .collect()
}

async fn limited(backend: Backend) -> TestApp {
    TestApp::spawn_tuned(backend, |s| s.limits.login_per_ip = 2).await
}

async fn logins_refresh_reuse_and_rate_limits_move_their_counters(app: TestApp) {
    // Arrange: one successful and one failed login, a refresh, a replay after the grace window.
    let t = app.user("alice").await;
    let wrong = app.login_raw("default", "alice", "not the password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let rotated: Value = app.refresh("default", &t.refresh).await.json().await.unwrap();
    assert_eq!(app.me("default", rotated["access_token"].as_str().unwrap()).await.status(), StatusCode::OK);
    tokio::time::sleep(REUSE_GRACE).await;
    assert_eq!(app.refresh("default", &t.refresh).await.status(), StatusCode::UNAUTHORIZED);
    // The limit is two logins a minute from one address: this is the third.
    assert_eq!(app.login_raw("default", "alice", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);

    // Act
    let text = scrape(&app).await;

    // Assert
    assert_eq!(count(&text, r#"gatehouse_logins_total{strategy="local",outcome="succeeded"}"#), 1.0);
    assert_eq!(count(&text, r#"gatehouse_logins_total{strategy="local",outcome="failed"}"#), 1.0);
    assert_eq!(count(&text, r#"gatehouse_tokens_issued_total{kind="access",grant="password"}"#), 1.0);
    assert_eq!(count(&text, r#"gatehouse_tokens_issued_total{kind="refresh",grant="password"}"#), 1.0);
    assert_eq!(count(&text, r#"gatehouse_tokens_issued_total{kind="access",grant="refresh_token"}"#), 1.0);
    assert_eq!(count(&text, r#"gatehouse_tokens_issued_total{kind="id",grant="refresh_token"}"#), 0.0);
    assert_eq!(count(&text, "gatehouse_refresh_token_reuse_total"), 1.0);
    assert_eq!(count(&text, r#"gatehouse_rate_limited_total{class="login"}"#), 1.0);
    assert_eq!(count(&text, r#"gatehouse_rate_limited_total{class="refresh"}"#), 0.0);
    let login = r#"gatehouse_http_requests_total{method="POST",route="/t/:tenant/auth/login""#;
    assert_eq!(count(&text, &format!(r#"{login},status="200"}}"#)), 1.0);
    assert_eq!(count(&text, &format!(r#"{login},status="401"}}"#)), 1.0);
    assert_eq!(count(&text, &format!(r#"{login},status="429"}}"#)), 1.0, "a limited request keeps its route");
    let refresh = r#"gatehouse_http_requests_total{method="POST",route="/t/:tenant/auth/refresh""#;
    assert_eq!(count(&text, &format!(r#"{refresh},status="401"}}"#)), 1.0);
    assert_eq!(
        count(&text, r#"gatehouse_http_requests_total{method="GET",route="/t/:tenant/me",status="200"}"#),
        1.0
    );
    assert_eq!(
        count(&text, r#"gatehouse_http_request_duration_seconds_count{method="GET",route="/t/:tenant/me"}"#),
        1.0
    );
    assert_eq!(
        count(
            &text,
            r#"gatehouse_http_request_duration_seconds_bucket{method="GET",route="/t/:tenant/me",le="+Inf"}"#
        ),
        1.0
    );
    // Labels are templates: no tenant slug, no raw path.
    let labels = routes(&text);
    assert!(!labels.is_empty());
    assert!(labels.iter().all(|r| !r.contains("default")), "{labels:?}");
}

mod counters_follow_logins_tokens_reuse_and_rate_limits {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_redis() {
        logins_refresh_reuse_and_rate_limits_move_their_counters(limited(Backend::PostgresRedis).await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_memory() {
        logins_refresh_reuse_and_rate_limits_move_their_counters(limited(Backend::SqliteMemory).await).await;
    }
}

backend_tests! {
    async fn unknown_paths_share_one_route_label_and_admin_paths_are_templates(app: TestApp) {
        for i in 0..3 {
            let resp = app.client.get(app.url(&format!("/no/such/thing/{i}"))).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        }
        let op = app.operator().await;
        let resp = app.admin_get(&op, "/admin/v1/tenants/default/users").await;
        assert_eq!(resp.status(), StatusCode::OK);
        let missing = app.admin_get(&op, &format!("/admin/v1/tenants/default/users/{}", uuid::Uuid::new_v4())).await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        let text = scrape(&app).await;
        assert_eq!(count(&text, r#"gatehouse_http_requests_total{method="GET",route="unmatched",status="404"}"#), 3.0);
        assert_eq!(
            count(&text, r#"gatehouse_http_requests_total{method="GET",route="/admin/v1/tenants/:tenant/users",status="200"}"#),
            1.0
        );
        assert_eq!(
            count(&text, r#"gatehouse_http_requests_total{method="GET",route="/admin/v1/tenants/:tenant/users/:user_id",status="404"}"#),
            1.0
        );
        assert!(routes(&text).iter().all(|r| !r.contains("no/such") && !r.contains("default")));
    }

    async fn database_errors_during_requests_are_counted(app: TestApp) {
        app.user("alice").await;
        let before = count(&scrape(&app).await, r#"gatehouse_database_errors_total{kind="query"}"#);
        // A schema the code does not expect: every user lookup fails.
        app.state.db.execute_unprepared("ALTER TABLE users RENAME TO users_elsewhere").await.unwrap();
        let resp = app.login_raw("default", "alice", PASSWORD).await;
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let after = count(&scrape(&app).await, r#"gatehouse_database_errors_total{kind="query"}"#);
        assert!(after > before, "{before} -> {after}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_errors_during_requests_are_counted() {
    // Nothing listens on port 1: every Redis command fails, and logins fail closed.
    let app = TestApp::spawn_tuned(Backend::SqliteMemory, |s| {
        s.redis.url = Some(gatehouse::config::Secret::new("redis://127.0.0.1:1"));
    })
    .await;
    assert_eq!(count(&scrape(&app).await, "gatehouse_redis_errors_total"), 0.0);
    let resp = app.login_raw("default", "alice", PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(count(&scrape(&app).await, "gatehouse_redis_errors_total") >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_require_a_bearer_token_or_be_turned_off() {
    let token = "scrape-token-for-the-tests";
    let app = TestApp::spawn_tuned(Backend::SqliteMemory, |s| {
        s.metrics.bearer_token = Some(gatehouse::config::Secret::new(token));
    })
    .await;
    let anonymous = app.client.get(app.url("/metrics")).send().await.unwrap();
    crate::helpers::assert_bearer_challenge(anonymous).await;
    let wrong =
        app.client.get(app.url("/metrics")).bearer_auth("scrape-token-for-the-testz").send().await.unwrap();
    crate::helpers::assert_invalid_token(wrong).await;
    let right = app.client.get(app.url("/metrics")).bearer_auth(token).send().await.unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    assert!(right.text().await.unwrap().contains("# TYPE gatehouse_logins_total counter"));

    let off = TestApp::spawn_tuned(Backend::SqliteMemory, |s| s.metrics.enabled = false).await;
    assert_eq!(off.client.get(off.url("/metrics")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

/// A `gatehouse serve` process whose stderr lines are collected.
struct Served {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    address: String,
    _db: tempfile_path::TempPath,
}

mod tempfile_path {
    /// Deletes the SQLite file and its WAL companions when dropped.
    pub struct TempPath(pub std::path::PathBuf);
    impl Drop for TempPath {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
            }
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve_with_json_logs() -> Served {
    let db = std::env::temp_dir().join(format!("gatehouse-logs-{}.db", uuid::Uuid::new_v4().simple()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("serve")
        .env_remove("RUST_LOG")
        .env("GATEHOUSE_CONFIG_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
        .env("GATEHOUSE__SERVER__BIND", "127.0.0.1:0")
        .env("GATEHOUSE__DATABASE__URL", format!("sqlite://{}?mode=rwc", db.display()))
        .env("GATEHOUSE__SECRETS__MASTER_KEY", MASTER_KEY)
        .env("GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD", BOOTSTRAP_ADMIN_PASSWORD)
        .env("GATEHOUSE__OIDC__INSECURE_DEV_COOKIES", "true")
        .env("GATEHOUSE__LOG__FORMAT", "json")
        // Debug, as an operator chasing a problem would set it: still nothing secret.
        .env("GATEHOUSE__LOG__LEVEL", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the gatehouse binary starts");
    let stderr = child.stderr.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["fields"]["message"] == "gatehouse listening"
            {
                let _ = port_tx.send(v["fields"]["port"].as_u64().unwrap_or_default());
            }
            sink.lock().unwrap().push(line);
        }
    });
    let port = tokio::task::spawn_blocking(move || port_rx.recv_timeout(Duration::from_secs(60)))
        .await
        .unwrap()
        .unwrap_or_else(|_| panic!("gatehouse did not start: {:?}", lines_of(&lines)));
    Served {
        child,
        lines: lines.clone(),
        address: format!("http://127.0.0.1:{port}"),
        _db: tempfile_path::TempPath(db),
    }
}

fn lines_of(lines: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    lines.lock().unwrap().clone()
}

const MASTER_KEY: &str = "Z2F0ZWhvdXNlIGxvZyB0ZXN0IG1hc3RlciBrZXkgMzI=";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_request_id_tenant_and_route_but_no_password_token_or_secret() {
    // Arrange: a real process logging JSON at debug level.
    let served = serve_with_json_logs().await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let url = |p: &str| format!("{}{p}", served.address);
    let post = |p: &str, body: Value| http.post(url(p)).json(&body).send();

    // Act: register, a failed and a good login, refresh, /me, an operator creating a client,
    // a client-credentials token request, and a provider callback carrying a code.
    let wrong_password = "not the password but close";
    assert_eq!(
        post("/t/default/auth/register", json!({"username": "alice", "password": PASSWORD}))
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        post("/t/default/auth/login", json!({"username": "alice", "password": wrong_password}))
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let login: Value = post("/t/default/auth/login", json!({"username": "alice", "password": PASSWORD}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refresh = login["refresh_token"].as_str().unwrap().to_string();
    let rotated: Value = post("/t/default/auth/refresh", json!({"refresh_token": refresh}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = rotated["access_token"].as_str().unwrap().to_string();
    let me = http
        .get(url("/t/default/me"))
        .bearer_auth(&access)
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(me.headers()["x-request-id"], "trace-me-123");
    let generated = http.get(url("/health/live")).send().await.unwrap();
    let generated_id = generated.headers()["x-request-id"].to_str().unwrap().to_string();
    let op: Value =
        post("/t/system/auth/login", json!({"username": "admin", "password": BOOTSTRAP_ADMIN_PASSWORD}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let op_token = op["access_token"].as_str().unwrap().to_string();
    let client: Value = http
        .post(url("/admin/v1/tenants/default/clients"))
        .bearer_auth(&op_token)
        .json(&json!({"name": "Billing", "client_type": "confidential", "grant_types": ["client_credentials"], "scopes": ["billing:read"]}))
        .send().await.unwrap().json().await.unwrap();
    let client_id = client["client_id"].as_str().unwrap().to_string();
    let client_secret = client["client_secret"].as_str().unwrap().to_string();
    let token = http
        .post(url("/t/default/oauth2/token"))
        .basic_auth(&client_id, Some(&client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::OK);
    let cc_token = token.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    let code = "upstream-authorization-code-xyz";
    let _ =
        http.get(url(&format!("/t/default/auth/github/callback?code={code}&state=st"))).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let lines = lines_of(&served.lines);

    // Assert: no secret, whole or as the signature of a token.
    let signature = |jwt: &str| jwt.rsplit('.').next().unwrap().to_string();
    let secrets = [
        PASSWORD.to_string(),
        wrong_password.to_string(),
        BOOTSTRAP_ADMIN_PASSWORD.to_string(),
        MASTER_KEY.to_string(),
        refresh.clone(),
        rotated["refresh_token"].as_str().unwrap().to_string(),
        signature(login["access_token"].as_str().unwrap()),
        signature(&access),
        signature(&op_token),
        signature(&cc_token),
        client_secret.clone(),
        code.to_string(),
    ];
    for line in &lines {
        for s in &secrets {
            assert!(!line.contains(s.as_str()), "a log line contains a secret: {line}");
        }
    }
    // Every line is JSON; each request ends in one access line with id, route and status.
    let parsed: Vec<Value> =
        lines.iter().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}"))).collect();
    let access_lines: Vec<&Value> =
        parsed.iter().filter(|v| v["fields"]["message"] == "request completed").collect();
    assert!(access_lines.len() >= 9, "{access_lines:?}");
    for v in &access_lines {
        assert!(v["span"]["id"].as_str().is_some_and(|s| !s.is_empty()), "{v}");
        assert!(v["span"]["route"].as_str().is_some_and(|s| !s.is_empty()), "{v}");
        assert!(v["fields"]["status"].as_u64().is_some(), "{v}");
        if v["span"]["path"].as_str().unwrap().starts_with("/t/default/") {
            assert_eq!(v["span"]["tenant"], "default", "{v}");
        }
    }
    let me_line = access_lines
        .iter()
        .find(|v| v["span"]["id"] == "trace-me-123")
        .expect("the caller's request id is logged");
    assert_eq!(me_line["span"]["route"], "/t/:tenant/me");
    assert_eq!(me_line["fields"]["status"], 200);
    assert!(
        access_lines.iter().any(|v| v["span"]["id"] == generated_id.as_str()),
        "a generated id is logged as returned"
    );
    // Lines written while handling a request carry its id and tenant too.
    let failed = parsed
        .iter()
        .find(|v| v["span"]["path"] == "/t/default/auth/login" && v["fields"]["status"] == 401)
        .expect("the failed login is logged");
    assert_eq!(failed["span"]["tenant"], "default");
}
