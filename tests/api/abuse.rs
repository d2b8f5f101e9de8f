//! Brute-force defence: account lockout and rate limits, on every login path, across instances.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, backend_tests, problem};

async fn fail(app: &TestApp, user: &str, times: usize) {
    for _ in 0..times {
        assert_eq!(
            app.login_raw("default", user, "not the password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

backend_tests! {
    async fn five_failures_lock_the_account_without_hashing_even_the_right_password(app: TestApp) {
        app.user("ann").await;
        fail(&app, "ann", 5).await;
        let hashes = app.state.hasher.verifications();
        let locked = app.login_raw("default", "ann", PASSWORD).await;
        assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = locked.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=900).contains(&retry));
        assert_eq!(app.state.hasher.verifications(), hashes, "no hash is computed while locked");
        let real = locked.bytes().await.unwrap();

        // A name nobody has locks the same way, with the same answer.
        fail(&app, "nobody", 5).await;
        let unknown = app.login_raw("default", "nobody", PASSWORD).await;
        assert_eq!(unknown.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(unknown.bytes().await.unwrap(), real);
        // Case and width variants are the same name.
        assert_eq!(app.login_raw("default", "ＡＮＮ", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
        // Others are not affected.
        app.user("bob").await;
        let log: Value = app.admin_get(&app.operator().await, "/admin/v1/tenants/default/audit-events?type=login.locked").await.json().await.unwrap();
        assert!(log["items"].as_array().unwrap().len() >= 3);
    }

    async fn a_successful_login_resets_the_failure_count(app: TestApp) {
        app.user("ann").await;
        fail(&app, "ann", 4).await;
        app.login("default", "ann").await;
        fail(&app, "ann", 4).await;
        assert_eq!(app.login_raw("default", "ann", PASSWORD).await.status(), StatusCode::OK);
    }

    async fn the_threshold_is_a_tenant_setting(app: TestApp) {
        let op = app.operator().await;
        let resp = app.admin_patch(&op, "/admin/v1/tenants/default", &json!({"settings": {"lockout": {"threshold": 2, "window_secs": 60}}})).await;
        assert_eq!(resp.status(), StatusCode::OK);
        app.user("ann").await;
        fail(&app, "ann", 2).await;
        assert_eq!(app.login_raw("default", "ann", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
        let bad = app.admin_patch(&op, "/admin/v1/tenants/default", &json!({"settings": {"lockout": {"threshold": 0}}})).await;
        assert_eq!(problem(bad, StatusCode::BAD_REQUEST).await["field"], "settings.lockout.threshold");
    }

    async fn the_hosted_form_shares_the_lock(app: TestApp) {
        let op = app.operator().await;
        app.user("ann").await;
        let body = json!({"name": "App", "client_type": "public", "redirect_uris": ["https://app.example.com/cb"],
            "grant_types": ["authorization_code"], "scopes": ["openid"]});
        let client: Value = app.admin_post(&op, "/admin/v1/tenants/default/clients", &body).await.json().await.unwrap();
        fail(&app, "ann", 5).await;
        let challenge = gatehouse::crypto::sha256_b64("a-long-enough-pkce-code-verifier-with-43-or-more-chars-0123456789");
        let url = app.url(&format!(
            "/t/default/oauth2/authorize?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&scope=openid&code_challenge={challenge}&code_challenge_method=S256",
            client["client_id"].as_str().unwrap()));
        let page = app.client.get(&url).send().await.unwrap();
        let cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        let html = page.text().await.unwrap();
        let grab = |name: &str| {
            let m = format!(r#"name="{name}" value=""#);
            html[html.find(&m).unwrap() + m.len()..].split('"').next().unwrap().to_string()
        };
        let resp = app.client.post(app.url("/t/default/login")).header("cookie", cookie)
            .form(&[("request", grab("request")), ("csrf", grab("csrf")), ("username", "ann".into()), ("password", PASSWORD.into())])
            .send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(resp.headers().contains_key("retry-after"));
        assert!(resp.text().await.unwrap().contains("Too many failed attempts"));
    }
}

async fn rate_limits_answer_429_with_headers(backend: Backend) {
    let app = TestApp::spawn_tuned(backend, |s| {
        s.limits.login_per_ip = 3;
        s.limits.register_per_ip = 2;
    })
    .await;
    assert_eq!(app.register("default", "ann").await.status(), StatusCode::CREATED);
    assert_eq!(app.register("default", "bob").await.status(), StatusCode::CREATED);
    let limited = app.register("default", "carol").await;
    assert_eq!(limited.headers()["ratelimit-limit"], "2");
    problem(limited, StatusCode::TOO_MANY_REQUESTS).await;

    for _ in 0..3 {
        assert_eq!(app.login_raw("default", "ann", PASSWORD).await.status(), StatusCode::OK);
    }
    let hashes = app.state.hasher.verifications();
    let resp = app.login_raw("default", "ann", PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let h = resp.headers();
    assert_eq!(
        (h["ratelimit-limit"].to_str().unwrap(), h["ratelimit-remaining"].to_str().unwrap()),
        ("3", "0")
    );
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(problem(resp, StatusCode::TOO_MANY_REQUESTS).await["code"], "rate_limited");
    assert_eq!(app.state.hasher.verifications(), hashes, "a limited request computes no hash");
    // Other endpoints are not limited by the login counter.
    assert_eq!(app.client.get(app.url("/health/live")).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_with_headers_postgres_redis() {
    rate_limits_answer_429_with_headers(Backend::PostgresRedis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_with_headers_sqlite_memory() {
    rate_limits_answer_429_with_headers(Backend::SqliteMemory).await;
}

/// The lock lives in Redis, so failures at one instance lock the account at another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_made_at_one_instance_holds_at_another() {
    let a = TestApp::spawn(Backend::PostgresRedis).await;
    let b = a.spawn_sibling().await;
    a.user("ann").await;
    fail(&a, "ann", 3).await;
    fail(&b, "ann", 2).await;
    assert_eq!(a.login_raw("default", "ann", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(b.login_raw("default", "ann", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// A failed login sent with `X-Forwarded-For`: 401, or 429 when the per-IP limit answers.
async fn login_from(app: &TestApp, forwarded_for: &str) -> StatusCode {
    let body = json!({"username": "ann", "password": "not the password"});
    let url = app.url("/t/default/auth/login");
    let resp =
        app.client.post(url).header("x-forwarded-for", forwarded_for).json(&body).send().await.unwrap();
    let status = resp.status();
    if status == StatusCode::TOO_MANY_REQUESTS {
        assert_eq!(problem(resp, status).await["code"], "rate_limited", "the rate limit, not the lockout");
    }
    status
}

/// By default the TCP peer is the client: a forged `X-Forwarded-For` buys no fresh budget.
async fn a_spoofed_forwarded_for_does_not_escape_the_per_ip_limit(backend: Backend) {
    let app = TestApp::spawn_tuned(backend, |s| s.limits.login_per_ip = 3).await;
    for forged in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        assert_eq!(login_from(&app, forged).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login_from(&app, "198.51.100.4").await, StatusCode::TOO_MANY_REQUESTS);
}

/// Behind a trusted proxy (here 127.0.0.1) each forwarded client has its own budget, and
/// addresses a client puts in front of its own are not believed.
async fn clients_behind_a_trusted_proxy_get_separate_budgets(backend: Backend) {
    let app = TestApp::spawn_tuned(backend, |s| {
        s.limits.login_per_ip = 2;
        s.server.trusted_proxies = gatehouse::client_ip::TrustedProxies(vec!["127.0.0.1".parse().unwrap()]);
    })
    .await;
    assert_eq!(login_from(&app, "203.0.113.7").await, StatusCode::UNAUTHORIZED);
    assert_eq!(login_from(&app, "198.51.100.9, 203.0.113.7").await, StatusCode::UNAUTHORIZED);
    assert_eq!(login_from(&app, "198.51.100.10, 203.0.113.7").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(login_from(&app, "198.51.100.9").await, StatusCode::UNAUTHORIZED);
    // The session of a forwarded client records its address, not the proxy's.
    app.user("bob").await;
    let resp = app
        .client
        .post(app.url("/t/default/auth/login"))
        .header("x-forwarded-for", "192.0.2.44")
        .json(&json!({"username": "bob", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(app.stored_state().await.contains("192.0.2.44"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoofed_forwarded_for_does_not_escape_the_per_ip_limit_postgres_redis() {
    a_spoofed_forwarded_for_does_not_escape_the_per_ip_limit(Backend::PostgresRedis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoofed_forwarded_for_does_not_escape_the_per_ip_limit_sqlite_memory() {
    a_spoofed_forwarded_for_does_not_escape_the_per_ip_limit(Backend::SqliteMemory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_behind_a_trusted_proxy_get_separate_budgets_postgres_redis() {
    clients_behind_a_trusted_proxy_get_separate_budgets(Backend::PostgresRedis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_behind_a_trusted_proxy_get_separate_budgets_sqlite_memory() {
    clients_behind_a_trusted_proxy_get_separate_budgets(Backend::SqliteMemory).await;
}
