//! Refresh-token rotation and reuse detection.
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, assert_invalid_token, backend_tests, problem};

backend_tests! {
    async fn refresh_rotates_and_the_presented_token_stops_working(app: TestApp) {
        let t = app.user("alice").await;
        let resp = app.refresh("default", &t.refresh).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let next: Value = resp.json().await.unwrap();
        let new_refresh = next["refresh_token"].as_str().unwrap();
        assert_ne!(new_refresh, t.refresh);
        let new_access = next["access_token"].as_str().unwrap();
        assert_eq!(app.me("default", new_access).await.status(), StatusCode::OK);
        // The same session continues.
        assert_eq!(TestApp::claims_of(new_access).sid, TestApp::claims_of(&t.access).sid);
        assert_eq!(app.refresh("default", new_refresh).await.status(), StatusCode::OK);
    }

    async fn reusing_a_rotated_token_revokes_the_whole_family_and_its_access_tokens(app: TestApp) {
        // Arrange: an attacker holds the first refresh token, the user has rotated it.
        let t = app.user("bob").await;
        let rotated: Value = app.refresh("default", &t.refresh).await.json().await.unwrap();
        let current_refresh = rotated["refresh_token"].as_str().unwrap();
        let current_access = rotated["access_token"].as_str().unwrap();

        // Act: the old token is presented again, after the grace window for concurrent requests.
        tokio::time::sleep(crate::helpers::REUSE_GRACE).await;
        let replay = app.refresh("default", &t.refresh).await;

        // Assert
        assert_eq!(problem(replay, StatusCode::UNAUTHORIZED).await["code"], "invalid_refresh_token");
        assert_eq!(app.refresh("default", current_refresh).await.status(), StatusCode::UNAUTHORIZED);
        assert_invalid_token(app.me("default", current_access).await).await;
        assert_invalid_token(app.me("default", &t.access).await).await;
        // Other sessions of the same user are untouched.
        let other = app.login("default", "bob").await;
        assert_eq!(app.me("default", &other.access).await.status(), StatusCode::OK);
    }

    async fn concurrent_refreshes_with_one_token_give_exactly_one_success(app: TestApp) {
        for round in 0..3 {
            let t = app.login_or_create(&format!("carol{round}")).await;
            let results = join_all((0..12).map(|_| app.refresh("default", &t.refresh))).await;
            let refused = results.iter().filter(|r| r.status() == StatusCode::UNAUTHORIZED).count();
            let ok: Vec<_> = results.into_iter().filter(|r| r.status() == StatusCode::OK).collect();
            assert_eq!((ok.len(), refused), (1, 11), "round {round}");
            // The winner's tokens are good: losing the race revoked nothing.
            let won: Value = ok.into_iter().next().unwrap().json().await.unwrap();
            assert_eq!(app.me("default", won["access_token"].as_str().unwrap()).await.status(), StatusCode::OK);
            assert_eq!(app.refresh("default", won["refresh_token"].as_str().unwrap()).await.status(), StatusCode::OK);
        }
    }

    async fn an_unknown_or_malformed_refresh_token_changes_nothing(app: TestApp) {
        let t = app.user("dave").await;
        let before = app.stored_state().await;
        for bad in ["", "ghr_", "not-a-token", &format!("{}x", t.refresh), &t.refresh.replace("ghr_", "ghx_")] {
            assert_eq!(app.refresh("default", bad).await.status(), StatusCode::UNAUTHORIZED, "{bad}");
        }
        assert_eq!(app.stored_state().await, before);
        assert_eq!(app.refresh("default", &t.refresh).await.status(), StatusCode::OK);
    }

    async fn a_refresh_token_of_one_tenant_is_refused_by_another(app: TestApp) {
        app.create_tenant("acme").await;
        let t = app.user("erin").await;
        let before = app.stored_state().await;
        assert_eq!(app.refresh("acme", &t.refresh).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.stored_state().await, before);
        assert_eq!(app.refresh("default", &t.refresh).await.status(), StatusCode::OK);
    }
}

impl TestApp {
    async fn login_or_create(&self, name: &str) -> crate::helpers::Tokens {
        self.user(name).await
    }
}
