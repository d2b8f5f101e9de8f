//! The deployment always keeps an active operator: the last one cannot be disabled, deleted or
//! demoted, not even by itself.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, backend_tests, problem};

async fn operator_id(app: &TestApp, op: &str, username: &str) -> String {
    let list: Value = app
        .admin_get(op, &format!("/admin/v1/tenants/system/users?username={username}"))
        .await
        .json()
        .await
        .unwrap();
    list["items"][0]["id"].as_str().unwrap().to_string()
}

backend_tests! {
    async fn the_last_operator_cannot_disable_delete_or_demote_itself(app: TestApp) {
        let op = app.operator().await;
        let me = format!("/admin/v1/tenants/system/users/{}", operator_id(&app, &op, "admin").await);

        let disable = app.admin_patch(&op, &me, &json!({"status": "disabled"})).await;
        assert_eq!(problem(disable, StatusCode::CONFLICT).await["code"], "last_operator");
        let demote = app.admin_put(&op, &format!("{me}/roles"), &json!({"roles": ["billing:read"]})).await;
        assert_eq!(problem(demote, StatusCode::CONFLICT).await["code"], "last_operator");
        let delete = app.admin_delete(&op, &me).await;
        assert_eq!(problem(delete, StatusCode::CONFLICT).await["code"], "last_operator");

        // Nothing changed: the operator still works.
        assert_eq!(app.admin_get(&op, &me).await.status(), StatusCode::OK);
        let user: Value = app.admin_get(&op, &me).await.json().await.unwrap();
        assert_eq!(user["status"], "active");
        assert_eq!(user["roles"], json!(["admin"]));
        // Keeping the role while changing others is fine.
        let keep = app.admin_put(&op, &format!("{me}/roles"), &json!({"roles": ["admin", "billing:read"]})).await;
        assert_eq!(keep.status(), StatusCode::OK);
    }

    async fn an_operator_can_step_down_once_another_exists(app: TestApp) {
        let op = app.operator().await;
        let me = format!("/admin/v1/tenants/system/users/{}", operator_id(&app, &op, "admin").await);
        let body = json!({"username": "second", "password": PASSWORD, "roles": ["admin"]});
        assert_eq!(app.admin_post(&op, "/admin/v1/tenants/system/users", &body).await.status(), StatusCode::CREATED);
        let second = app.login("system", "second").await.access;

        let disable = app.admin_patch(&op, &me, &json!({"status": "disabled"})).await;
        assert_eq!(disable.status(), StatusCode::OK);
        // Now `second` is the last one.
        let other = format!("/admin/v1/tenants/system/users/{}", operator_id(&app, &second, "second").await);
        let resp = app.admin_patch(&second, &other, &json!({"status": "disabled"})).await;
        assert_eq!(problem(resp, StatusCode::CONFLICT).await["code"], "last_operator");
        // Disabled operators do not count, but re-enabling one makes it count again.
        assert_eq!(app.admin_patch(&second, &me, &json!({"status": "active"})).await.status(), StatusCode::OK);
        assert_eq!(app.admin_delete(&second, &other).await.status(), StatusCode::NO_CONTENT);
    }

    async fn ordinary_users_of_system_are_not_protected(app: TestApp) {
        let op = app.operator().await;
        let body = json!({"username": "helper", "password": PASSWORD, "roles": ["billing:read"]});
        let created: Value = app.admin_post(&op, "/admin/v1/tenants/system/users", &body).await.json().await.unwrap();
        let path = format!("/admin/v1/tenants/system/users/{}", created["id"].as_str().unwrap());
        assert_eq!(app.admin_patch(&op, &path, &json!({"status": "disabled"})).await.status(), StatusCode::OK);
        assert_eq!(app.admin_delete(&op, &path).await.status(), StatusCode::NO_CONTENT);
    }
}
