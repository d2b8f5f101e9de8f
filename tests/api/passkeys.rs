//! Passkeys in a real browser: Debian's Chromium (playwright-core) with the DevTools protocol's
//! virtual WebAuthn authenticator (CTAP2, internal transport, resident keys, user
//! verification), against the real server on `http://localhost:<port>` (an IP address cannot
//! be an RP ID), on both backends. The program is `tests/interop/passkey.mjs`: it registers a
//! passkey from the hosted enrolment page, signs in usernameless and as a second step, replays
//! spent ceremonies over HTTP, renames and deletes a passkey, and creates a passkey-only account
//! that a password cannot open. Every page is checked with axe-core and photographed.
use std::path::Path;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp};

async fn on_localhost(backend: Backend) -> TestApp {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    TestApp::spawn_tuned(backend, |s| {
        s.server.bind = format!("127.0.0.1:{port}").parse().unwrap();
        s.server.public_url = format!("http://localhost:{port}");
    })
    .await
}

async fn run(backend: Backend) {
    let app = on_localhost(backend).await;
    let op = app.operator().await;
    app.admin_post(&op, "/admin/v1/tenants/default/users", &json!({"username": "pat", "password": PASSWORD}))
        .await;
    let policy = json!({"settings": {"second_factor": {"mode": "optional", "methods": ["totp", "recovery_code", "passkey"]}}});
    assert!(app.admin_patch(&op, "/admin/v1/tenants/default", &policy).await.status().is_success());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let resp = app
        .admin_post(
            &op,
            "/admin/v1/tenants/default/clients",
            &json!({
                "name": "Passkey app", "client_type": "public",
                "redirect_uris": [format!("http://127.0.0.1:{port}/callback")],
                "grant_types": ["authorization_code"], "scopes": ["openid"],
            }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let client: Value = resp.json().await.unwrap();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let public = app.settings.public_url();
    let env = [
        ("BASE", public.clone()),
        ("ISSUER", format!("{public}/t/default")),
        ("CLIENT_ID", client["client_id"].as_str().unwrap().to_string()),
        ("CALLBACK_PORT", port.to_string()),
        ("USERNAME", "pat".into()),
        ("PASSWORD", PASSWORD.into()),
        ("SCREENSHOT_DIR", shots.display().to_string()),
        ("SHOT_PREFIX", format!("passkey-{backend:?}")),
    ];
    tokio::task::spawn_blocking(move || crate::interop::run_node("passkey.mjs", &env)).await.unwrap();

    // What the browser did, as the server recorded it.
    for wanted in ["mfa.passkey.registered", "mfa.passkey.used", "mfa.passkey.renamed", "mfa.passkey.removed"]
    {
        let path = format!("/admin/v1/tenants/default/audit-events?type={wanted}");
        let log: Value = app.admin_get(&op, &path).await.json().await.unwrap();
        assert!(!log["items"].as_array().unwrap().is_empty(), "no {wanted} event");
    }
    // A password sign-in of the passkey-only account fails like a wrong password.
    let solo = app.login_raw("default", "solo", PASSWORD).await;
    assert_eq!(solo.status(), StatusCode::UNAUTHORIZED);
    let unknown = app.login_raw("default", "nobody-here", PASSWORD).await;
    let (a, b): (Value, Value) = (solo.json().await.unwrap(), unknown.json().await.unwrap());
    assert_eq!(a["code"], b["code"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_registers_and_signs_in_with_passkeys_postgres_redis() {
    run(Backend::PostgresRedis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_registers_and_signs_in_with_passkeys_sqlite_memory() {
    run(Backend::SqliteMemory).await;
}
