//! The embedded default (SQLite, no Redis) keeps what matters across a restart of the real
//! binary: a logged-out token stays refused and a locked account stays locked.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    helpers::{BOOTSTRAP_ADMIN_PASSWORD, PASSWORD},
    scale::Instance,
};

/// A `gatehouse serve` process on its own SQLite file and no Redis, like `cargo run`.
async fn embedded(dir: &std::path::Path) -> Instance {
    let env: Vec<(String, String)> = [
        ("GATEHOUSE__DATABASE__URL", format!("sqlite://{}/gatehouse.db?mode=rwc", dir.display())),
        ("GATEHOUSE__SECRETS__MASTER_KEY_FILE", format!("{}/master.key", dir.display())),
        ("GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD", BOOTSTRAP_ADMIN_PASSWORD.into()),
        ("GATEHOUSE__LIMITS__LOGIN_PER_IP", "10000".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Instance::start(&env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logouts_and_lockouts_survive_a_restart_of_the_embedded_default() {
    let dir = std::env::temp_dir().join(format!("gh-restart-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();

    // Arrange: a logged-out token and a locked account.
    let first = embedded(&dir).await;
    for name in ["rita", "lena"] {
        let resp = first
            .post("/t/default/auth/register", None, json!({"username": name, "password": PASSWORD}))
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED, "register {name}");
    }
    let tokens = first.login("default", "rita", PASSWORD).await;
    let access = tokens["access_token"].clone();
    assert_eq!(first.me_status("default", &access).await, StatusCode::OK);
    let out = first.post("/t/default/auth/logout", access.as_str(), json!({})).await;
    assert!(out.status().is_success(), "logout: {}", out.status());
    assert_eq!(first.me_status("default", &access).await, StatusCode::UNAUTHORIZED);
    let wrong = json!({"username": "lena", "password": "not the password at all"});
    let mut locked = false;
    for _ in 0..10 {
        if first.post("/t/default/auth/login", None, wrong.clone()).await.status()
            == StatusCode::TOO_MANY_REQUESTS
        {
            locked = true;
            break;
        }
    }
    assert!(locked, "repeated wrong passwords lock the account");
    drop(first);

    // Act: the same deployment starts again.
    let second = embedded(&dir).await;

    // Assert
    assert_eq!(
        second.me_status("default", &access).await,
        StatusCode::UNAUTHORIZED,
        "the logged-out token is still refused after the restart"
    );
    let refresh =
        second.post("/t/default/auth/refresh", None, json!({"refresh_token": tokens["refresh_token"]})).await;
    assert_eq!(refresh.status(), StatusCode::UNAUTHORIZED, "its refresh token died with the session");
    let right = json!({"username": "lena", "password": PASSWORD});
    let resp = second.post("/t/default/auth/login", None, right).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "the lock is still in force");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "login_locked");
    let fresh = second.login("default", "rita", PASSWORD).await;
    assert_eq!(second.me_status("default", &fresh["access_token"]).await, StatusCode::OK);
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}
