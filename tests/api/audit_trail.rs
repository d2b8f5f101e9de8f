//! What an investigator finds in the audit log: self-registration, logout and refresh-token
//! reuse, each with the user, the session and where the request came from.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, REUSE_GRACE, TestApp, backend_tests};

const AGENT: &str = "audit-trail-test/1.0";

async fn events(app: &TestApp, kind: &str) -> Vec<Value> {
    let op = app.operator().await;
    let path = format!("/admin/v1/tenants/default/audit-events?type={kind}");
    let log: Value = app.admin_get(&op, &path).await.json().await.unwrap();
    log["items"].as_array().unwrap().clone()
}

backend_tests! {
    async fn self_registration_is_audited_with_the_new_user_and_the_client(app: TestApp) {
        let resp = app.client.post(app.url("/t/default/auth/register")).header("user-agent", AGENT)
            .json(&json!({"username": "ann", "password": PASSWORD})).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        let id = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
        let registered = events(&app, "user.registered").await;
        assert_eq!(registered.len(), 1);
        let e = &registered[0];
        assert_eq!(e["user_id"], id.as_str());
        assert_eq!(e["target"], "ann");
        assert_eq!(e["ip"], "127.0.0.1");
        assert_eq!(e["user_agent"], AGENT);
        assert!(e.get("actor_id").is_none(), "nobody acted for the user");
    }

    async fn logout_is_audited_with_the_session(app: TestApp) {
        let tokens = app.user("ann").await;
        let claims = TestApp::claims_of(&tokens.access);
        let resp = app.client.post(app.url("/t/default/auth/logout")).bearer_auth(&tokens.access)
            .header("user-agent", AGENT).json(&json!({"everywhere": true})).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let logouts = events(&app, "logout").await;
        assert_eq!(logouts.len(), 1);
        let e = &logouts[0];
        assert_eq!(e["user_id"], claims.sub.as_str());
        assert_eq!(e["details"]["session_id"], claims.sid.as_deref().unwrap());
        assert_eq!(e["details"]["everywhere"], true);
        assert_eq!(e["user_agent"], AGENT);
    }

    async fn refresh_token_reuse_is_audited_with_the_revoked_session(app: TestApp) {
        let tokens = app.user("ann").await;
        let claims = TestApp::claims_of(&tokens.access);
        assert_eq!(app.refresh("default", &tokens.refresh).await.status(), StatusCode::OK);
        tokio::time::sleep(REUSE_GRACE).await;
        let replay = app.client.post(app.url("/t/default/auth/refresh")).header("user-agent", AGENT)
            .json(&json!({"refresh_token": tokens.refresh})).send().await.unwrap();
        assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
        let reused = events(&app, "refresh_token.reused").await;
        assert_eq!(reused.len(), 1);
        let e = &reused[0];
        assert_eq!(e["outcome"], "failure");
        assert_eq!(e["user_id"], claims.sub.as_str());
        assert_eq!(e["details"]["session_id"], claims.sid.as_deref().unwrap());
        assert_eq!(e["user_agent"], AGENT);
        assert_eq!(e["ip"], "127.0.0.1");
    }
}
