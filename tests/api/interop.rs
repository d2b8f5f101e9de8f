//! Interop with the outside world, run against the real server: the npm package
//! `openid-client` (a certified relying-party library) and Debian's Chromium driven by
//! playwright-core. Their programs live in `tests/interop/`; `scripts/test` installs them. A
//! missing Node.js, package or browser fails these tests; it never skips them.
use std::path::Path;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp};

pub(crate) fn run_node(script: &str, env: &[(&str, String)]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    assert!(
        dir.join("node_modules/openid-client").exists(),
        "tests/interop has no node_modules: run `npm ci --prefix tests/interop` (scripts/test does)"
    );
    let output = std::process::Command::new("node")
        .arg(dir.join(script))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap_or_else(|e| panic!("cannot run node (Node.js 20+ is required): {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script} failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
}

async fn client(app: &TestApp, op: &str, body: Value) -> (String, Option<String>) {
    let resp = app.admin_post(op, "/admin/v1/tenants/default/clients", &body).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let v: Value = resp.json().await.unwrap();
    (v["client_id"].as_str().unwrap().into(), v["client_secret"].as_str().map(str::to_string))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_runs_the_whole_flow_against_gatehouse() {
    let app = TestApp::spawn(Backend::PostgresRedis).await;
    let op = app.operator().await;
    app.admin_post(
        &op,
        "/admin/v1/tenants/default/users",
        &json!({"username": "rp-user", "password": PASSWORD, "email": "rp@example.com"}),
    )
    .await;
    let redirect = "http://127.0.0.1/rp/callback";
    let post_logout = "https://rp.example.com/signed-out";
    let (id, secret) = client(&app, &op, json!({
        "name": "openid-client RP", "client_type": "confidential", "redirect_uris": [redirect],
        "post_logout_redirect_uris": [post_logout], "grant_types": ["authorization_code", "refresh_token"],
        "scopes": ["openid", "profile", "email", "offline_access"],
    }))
    .await;
    let issuer = format!("{}/t/default", app.settings.public_url());
    let env = [
        ("ISSUER", issuer),
        ("CLIENT_ID", id),
        ("CLIENT_SECRET", secret.unwrap()),
        ("REDIRECT_URI", redirect.into()),
        ("POST_LOGOUT_URI", post_logout.into()),
        ("USERNAME", "rp-user".into()),
        ("PASSWORD", PASSWORD.into()),
    ];
    tokio::task::spawn_blocking(move || run_node("rp.mjs", &env)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_signs_in_through_the_hosted_form() {
    let app = TestApp::spawn(Backend::PostgresRedis).await;
    let op = app.operator().await;
    app.admin_post(
        &op,
        "/admin/v1/tenants/default/users",
        &json!({"username": "browser-user", "password": PASSWORD}),
    )
    .await;
    // A brand colour, which reaches the page only through the nonce'd <style> (under the CSP).
    let branding = json!({"settings": {"branding": {"primary_color": "#0a6b3c"}}});
    assert!(app.admin_patch(&op, "/admin/v1/tenants/default", &branding).await.status().is_success());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (id, _) = client(&app, &op, json!({
        "name": "Browser app", "client_type": "public", "redirect_uris": [format!("http://127.0.0.1:{port}/callback")],
        "grant_types": ["authorization_code"], "scopes": ["openid", "profile"],
    }))
    .await;
    let env = [
        ("ISSUER", format!("{}/t/default", app.settings.public_url())),
        ("CLIENT_ID", id),
        ("CALLBACK_PORT", port.to_string()),
        ("USERNAME", "browser-user".into()),
        ("PASSWORD", PASSWORD.into()),
        ("TENANT_NAME", "Default".into()),
        ("BRAND_RGB", "rgb(10, 107, 60)".into()),
    ];
    tokio::task::spawn_blocking(move || run_node("browser.mjs", &env)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_resets_a_forgotten_password_through_the_hosted_pages() {
    let smtp = crate::email::SmtpServer::start().await;
    let app = crate::email::app_with_smtp(Backend::PostgresRedis, &smtp).await;
    let op = app.operator().await;
    let user = json!({"username": "forgetful", "password": PASSWORD, "email": "forgetful@example.test"});
    assert_eq!(
        app.admin_post(&op, "/admin/v1/tenants/default/users", &user).await.status(),
        StatusCode::CREATED
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (id, _) = client(&app, &op, json!({
        "name": "Browser app", "client_type": "public", "redirect_uris": [format!("http://127.0.0.1:{port}/callback")],
        "grant_types": ["authorization_code"], "scopes": ["openid", "profile"],
    }))
    .await;
    let env = [
        ("ISSUER", format!("{}/t/default", app.settings.public_url())),
        ("CLIENT_ID", id),
        ("CALLBACK_PORT", port.to_string()),
        ("USERNAME", "forgetful".into()),
        ("EMAIL", "forgetful@example.test".into()),
        ("NEW_PASSWORD", "a brand new passphrase".into()),
        ("MAILDIR", smtp.dir.display().to_string()),
    ];
    tokio::task::spawn_blocking(move || run_node("recovery.mjs", &env)).await.unwrap();
    assert_eq!(app.login_raw("default", "forgetful", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_enrols_an_authenticator_app_and_passes_the_second_step() {
    let app = TestApp::spawn(Backend::PostgresRedis).await;
    let op = app.operator().await;
    let required = json!({"settings": {"second_factor": {"mode": "required"}}});
    assert!(app.admin_patch(&op, "/admin/v1/tenants/default", &required).await.status().is_success());
    app.admin_post(
        &op,
        "/admin/v1/tenants/default/users",
        &json!({"username": "two-step", "password": PASSWORD}),
    )
    .await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (id, _) = client(&app, &op, json!({
        "name": "Browser app", "client_type": "public", "redirect_uris": [format!("http://127.0.0.1:{port}/callback")],
        "grant_types": ["authorization_code"], "scopes": ["openid"],
    }))
    .await;
    // Screenshots go to the target directory (not committed), for people to look at.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let env = [
        ("ISSUER", format!("{}/t/default", app.settings.public_url())),
        ("CLIENT_ID", id),
        ("CALLBACK_PORT", port.to_string()),
        ("USERNAME", "two-step".into()),
        ("PASSWORD", PASSWORD.into()),
        ("TENANT_NAME", "Default".into()),
        ("SCREENSHOT_DIR", shots.display().to_string()),
    ];
    tokio::task::spawn_blocking(move || run_node("second_factor.mjs", &env)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_asks_for_a_second_factor_and_checks_acr_and_amr() {
    let app = TestApp::spawn(Backend::PostgresRedis).await;
    let op = app.operator().await;
    app.admin_post(
        &op,
        "/admin/v1/tenants/default/users",
        &json!({"username": "rp-mfa", "password": PASSWORD}),
    )
    .await;
    let access = app.login("default", "rp-mfa").await.access;
    let s = crate::second_factor::fresh_step().await;
    let (secret, _) = crate::second_factor::enrol(&app, &access, s - 1).await;
    let redirect = "http://127.0.0.1/rp/callback";
    let (id, client_secret) = client(&app, &op, json!({
        "name": "step-up RP", "client_type": "confidential", "redirect_uris": [redirect],
        "grant_types": ["authorization_code", "refresh_token"], "scopes": ["openid", "profile", "offline_access"],
    }))
    .await;
    let env = [
        ("ISSUER", format!("{}/t/default", app.settings.public_url())),
        ("CLIENT_ID", id),
        ("CLIENT_SECRET", client_secret.unwrap()),
        ("REDIRECT_URI", redirect.into()),
        ("USERNAME", "rp-mfa".into()),
        ("PASSWORD", PASSWORD.into()),
        ("TOTP_SECRET", secret),
    ];
    tokio::task::spawn_blocking(move || run_node("step_up.mjs", &env)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_walks_the_console_and_the_account_page() {
    for backend in [Backend::PostgresRedis, Backend::SqliteMemory] {
        let app = TestApp::spawn(backend).await;
        assert_eq!(app.register("default", "ada").await.status(), StatusCode::CREATED);
        // Screenshots go to the target directory (not committed), for people to look at.
        let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        let env = [
            ("BASE", app.settings.public_url()),
            ("OPERATOR_PASSWORD", crate::helpers::BOOTSTRAP_ADMIN_PASSWORD.into()),
            ("USERNAME", "ada".into()),
            ("PASSWORD", PASSWORD.into()),
            ("SCREENSHOT_DIR", shots.display().to_string()),
        ];
        tokio::task::spawn_blocking(move || run_node("console.mjs", &env)).await.unwrap();
        let op = app.operator().await;
        let shop = app.admin_get(&op, "/admin/v1/tenants/acme/clients").await.text().await.unwrap();
        assert!(shop.contains("\"Shop\""), "the console created the client: {shop}");
    }
}
