//! Logout: revocation that takes effect at once, on every instance.
use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp, assert_invalid_token, backend_tests};

backend_tests! {
    async fn a_logged_out_access_token_and_its_refresh_token_stop_working_at_once(app: TestApp) {
        let t = app.user("alice").await;
        assert_eq!(app.me("default", &t.access).await.status(), StatusCode::OK);
        assert_eq!(app.logout("default", &t.access, false).await.status(), StatusCode::NO_CONTENT);
        assert_invalid_token(app.me("default", &t.access).await).await;
        assert_eq!(app.refresh("default", &t.refresh).await.status(), StatusCode::UNAUTHORIZED);
        // Logging out again with the dead token is refused, not a server error.
        assert_invalid_token(app.logout("default", &t.access, false).await).await;
    }

    async fn logout_ends_only_its_own_session(app: TestApp) {
        let phone = app.user("bob").await;
        let laptop = app.login("default", "bob").await;
        app.logout("default", &phone.access, false).await;
        assert_eq!(app.me("default", &laptop.access).await.status(), StatusCode::OK);
        assert_eq!(app.refresh("default", &laptop.refresh).await.status(), StatusCode::OK);
    }

    async fn logout_everywhere_ends_every_session_but_allows_a_new_login(app: TestApp) {
        let phone = app.user("carol").await;
        let laptop = app.login("default", "carol").await;
        let resp = app.logout("default", &phone.access, true).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        for t in [&phone, &laptop] {
            assert_invalid_token(app.me("default", &t.access).await).await;
            assert_eq!(app.refresh("default", &t.refresh).await.status(), StatusCode::UNAUTHORIZED);
        }
        let fresh = app.login("default", "carol").await;
        assert_eq!(app.me("default", &fresh.access).await.status(), StatusCode::OK);
    }

    async fn a_bodyless_logout_is_accepted(app: TestApp) {
        let t = app.user("dora").await;
        let resp = app.client.post(app.url("/t/default/auth/logout")).bearer_auth(&t.access).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        assert_invalid_token(app.me("default", &t.access).await).await;
    }
}

/// Two instances on one PostgreSQL and one Redis: a logout at A is honoured by B on the next
/// request, with no cache in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_at_one_instance_is_honoured_by_another_at_once() {
    let a = TestApp::spawn(Backend::PostgresRedis).await;
    let b = a.spawn_sibling().await;
    let t = a.user("erin").await;
    assert_eq!(b.me("default", &t.access).await.status(), StatusCode::OK);
    assert_eq!(a.logout("default", &t.access, false).await.status(), StatusCode::NO_CONTENT);
    assert_invalid_token(b.me("default", &t.access).await).await;
    assert_eq!(b.refresh("default", &t.refresh).await.status(), StatusCode::UNAUTHORIZED);
}
