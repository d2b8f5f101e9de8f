//! Client mistakes get problem documents with a stable code, never a 500, and store nothing.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{backend_tests, problem};

backend_tests! {
    async fn malformed_requests_get_problem_documents_and_store_nothing(app: TestApp) {
        app.user("alice").await;
        let before = app.stored_state().await;
        let url = app.url("/t/default/auth/register");
        let post = |body: &'static str, ct: &'static str| app.client.post(&url).header("content-type", ct).body(body).send();

        problem(post("{not json", "application/json").await.unwrap(), StatusCode::BAD_REQUEST).await;
        problem(post(r#"{"username": 5, "password": "x"}"#, "application/json").await.unwrap(), StatusCode::BAD_REQUEST).await;
        problem(post(r#"{"username":"a","password":"correct horse battery","admin":true}"#, "application/json").await.unwrap(), StatusCode::BAD_REQUEST).await;
        problem(post("[]", "application/json").await.unwrap(), StatusCode::BAD_REQUEST).await;
        problem(post("username=a", "application/x-www-form-urlencoded").await.unwrap(), StatusCode::UNSUPPORTED_MEDIA_TYPE).await;

        let big = json!({"username": "bob", "password": "y".repeat(70_000)});
        problem(app.post_json("/t/default/auth/register", &big).await, StatusCode::PAYLOAD_TOO_LARGE).await;
        // Without Content-Length (chunked) the limit still holds.
        let stream = futures::stream::iter(vec![Ok::<_, std::io::Error>(vec![b' '; 70_000])]);
        // The server answers 413 as soon as the limit is passed and stops reading; the client may
        // still be writing and see the connection reset instead. Either way nothing is stored.
        match app.client.post(&url).header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(stream)).send().await {
            Ok(resp) => { problem(resp, StatusCode::PAYLOAD_TOO_LARGE).await; }
            Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
        }

        problem(app.client.delete(&url).send().await.unwrap(), StatusCode::METHOD_NOT_ALLOWED).await;
        problem(app.client.get(app.url("/no/such/route")).send().await.unwrap(), StatusCode::NOT_FOUND).await;
        // Slugs are bounded in length (400) and otherwise simply not found (no regex per request).
        let long = format!("/t/{}/.well-known/jwks.json", "a".repeat(64));
        problem(app.client.get(app.url(&long)).send().await.unwrap(), StatusCode::BAD_REQUEST).await;
        problem(app.client.get(app.url("/t/Not_A_Slug/.well-known/jwks.json")).send().await.unwrap(), StatusCode::NOT_FOUND).await;
        assert_eq!(app.stored_state().await, before);
    }

    /// PostgreSQL cannot store NUL (found by the fuzz tests: both were 500s); since issue 14
    /// control characters are refused before any lookup, naming the field.
    async fn a_nul_in_a_tenant_or_client_id_is_refused_naming_the_field(app: TestApp) {
        let resp = app.client.get(app.url("/t/%00/.well-known/jwks.json")).send().await.unwrap();
        assert_eq!(problem(resp, StatusCode::BAD_REQUEST).await["field"], "tenant");
        let resp = app.client.post(app.url("/t/default/oauth2/token")).basic_auth("\0", Some(""))
            .form(&[("grant_type", "client_credentials")]).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_request");
    }

    /// Header limits are hyper's (about 400 KB of head, 100 headers): over them 431, never a
    /// 500; a bearer token over 8 KiB is refused before parsing.
    async fn oversized_heads_get_431_and_oversized_tokens_401(app: TestApp) {
        let me = app.url("/t/default/me");
        let big = app.client.get(&me).header("x-big", "a".repeat(1_000_000)).send().await.unwrap();
        assert_eq!(big.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        let mut many = app.client.get(&me);
        for i in 0..150 {
            many = many.header(format!("x-h{i}"), "v");
        }
        assert_eq!(many.send().await.unwrap().status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        let long_token = app.client.get(&me).bearer_auth("a".repeat(64_000)).send().await.unwrap();
        crate::helpers::assert_invalid_token(long_token).await;
    }

    async fn health_and_docs_are_served(app: TestApp) {
        let live = app.client.get(app.url("/health/live")).send().await.unwrap();
        assert_eq!(live.status(), StatusCode::OK);
        let ready: Value = app.client.get(app.url("/health/ready")).send().await.unwrap().json().await.unwrap();
        assert_eq!(ready, json!({"status": "ok", "database": "ok", "token_store": "ok"}));
        let docs = app.client.get(app.url("/docs")).send().await.unwrap();
        assert_eq!(docs.status(), StatusCode::OK);
        let spec: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
        assert!(spec["paths"]["/t/{tenant}/me"]["get"].is_object());
    }

    async fn every_response_carries_a_request_id(app: TestApp) {
        let made = app.client.get(app.url("/health/live")).send().await.unwrap();
        let id = made.headers()["x-request-id"].to_str().unwrap().to_string();
        assert!(id.len() >= 16);
        let kept = app.client.get(app.url("/no/such")).header("X-Request-Id", "trace-42.a_b").send().await.unwrap();
        assert_eq!(kept.headers()["x-request-id"], "trace-42.a_b");
        let forged = app.client.get(app.url("/health/live")).header("X-Request-Id", "x\"} injected").send().await.unwrap();
        assert_ne!(forged.headers()["x-request-id"], "x\"} injected");
    }
}
