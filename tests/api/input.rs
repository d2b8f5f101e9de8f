//! Request hygiene (issue 14): control characters, duplicate JSON keys and numbers sent for
//! strings are refused before any handler with 400 naming the field, the same on both
//! backends, and nothing is stored; OAuth endpoints answer every error in the RFC 6749 shape;
//! 405s carry `Allow`.
use gatehouse::store::entities::{clients, providers, tenants};
use reqwest::{Method, StatusCode};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, backend_tests, problem};

/// Every tenant, client and provider row, to prove a refused request changed nothing.
async fn admin_rows(app: &TestApp) -> String {
    let db = &app.state.db;
    let t = tenants::Entity::find().order_by_asc(tenants::Column::Id).all(db).await.unwrap();
    let c = clients::Entity::find().order_by_asc(clients::Column::Id).all(db).await.unwrap();
    let p = providers::Entity::find().order_by_asc(providers::Column::Id).all(db).await.unwrap();
    format!("{t:?}\n{c:?}\n{p:?}\n{}", app.stored_state().await)
}

/// A 400 problem document with `code` about `field`.
async fn refused(resp: reqwest::Response, code: &str, field: &str) {
    let body = problem(resp, StatusCode::BAD_REQUEST).await;
    assert_eq!((body["code"].as_str(), body["field"].as_str()), (Some(code), Some(field)), "{body}");
}

/// An RFC 6749 section 5.2 error with `status` and `error`.
async fn oauth_error(resp: reqwest::Response, status: StatusCode, error: &str) -> Value {
    assert_eq!(resp.status(), status);
    assert_eq!(resp.headers()["content-type"], "application/json; charset=utf-8");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    body
}

async fn raw_json(app: &TestApp, method: Method, token: &str, path: &str, body: &str) -> reqwest::Response {
    let req = app.client.request(method, app.url(path)).bearer_auth(token);
    req.header("content-type", "application/json").body(body.to_string()).send().await.unwrap()
}

backend_tests! {
    async fn control_characters_in_json_fields_are_refused_naming_the_field_and_nothing_is_stored(app: TestApp) {
        let op = app.operator().await;
        app.api_open_tenant(&op, "acme").await;
        let before = admin_rows(&app).await;
        let tenants = "/admin/v1/tenants";
        refused(app.admin_post(&op, tenants, &json!({"slug": "nul", "display_name": "a\0b"})).await, "validation_failed", "display_name").await;
        refused(app.admin_patch(&op, "/admin/v1/tenants/acme", &json!({"display_name": "x\u{85}"})).await, "validation_failed", "display_name").await;
        refused(app.admin_patch(&op, "/admin/v1/tenants/acme", &json!({"display_name": "two\nlines"})).await, "validation_failed", "display_name").await;
        let clients = "/admin/v1/tenants/acme/clients";
        refused(app.admin_post(&op, clients, &json!({"name": "\0", "client_type": "public"})).await, "validation_failed", "name").await;
        let uris = json!({"name": "a", "client_type": "public", "redirect_uris": ["https://a.example/cb", "https://b\u{7f}"]});
        refused(app.admin_post(&op, clients, &uris).await, "validation_failed", "redirect_uris[1]").await;
        let providers = "/admin/v1/tenants/acme/providers";
        let provider = json!({"provider_id": "corp", "kind": "oidc", "display_name": "Corp\0", "configuration": {}});
        refused(app.admin_post(&op, providers, &provider).await, "validation_failed", "display_name").await;
        let provider = json!({"provider_id": "corp", "kind": "oidc", "display_name": "Corp", "secrets": {"client_secret": "s\0"}});
        refused(app.admin_post(&op, providers, &provider).await, "validation_failed", "secrets.client_secret").await;
        let key = json!({"provider_id": "corp", "kind": "oidc", "display_name": "Corp", "configuration": {"is\0suer": "x"}});
        refused(app.admin_post(&op, providers, &key).await, "validation_failed", "configuration.is\\0suer").await;
        refused(app.post_json("/t/acme/auth/register", &json!({"username": "eve\0", "password": "correct horse battery"})).await, "validation_failed", "username").await;
        refused(app.post_json("/t/acme/auth/login", &json!({"username": "eve", "password": "pass\u{1b}word"})).await, "validation_failed", "password").await;
        assert_eq!(admin_rows(&app).await, before);
        let stored: Value = app.admin_get(&op, "/admin/v1/tenants/acme").await.json().await.unwrap();
        assert_eq!(stored["display_name"], "acme");
        assert_eq!(app.admin_get(&op, "/admin/v1/tenants/nul").await.status(), StatusCode::NOT_FOUND);
    }

    async fn control_characters_in_query_filters_path_parameters_and_headers_are_refused(app: TestApp) {
        let op = app.operator().await;
        for (path, field) in [
            ("/admin/v1/tenants?slug_prefix=a%00", "slug_prefix"),
            ("/admin/v1/tenants/default/users?username=%00", "username"),
            ("/admin/v1/tenants/default/users?email=a%C2%85%40b.example", "email"),
            ("/admin/v1/tenants/default/audit-events?type=%1F", "type"),
            ("/admin/v1/tenants/a%00b", "tenant"),
            ("/admin/v1/tenants/default/clients/x%7F", "client_id"),
        ] {
            refused(app.admin_get(&op, path).await, "validation_failed", field).await;
        }
        let jwks = app.client.get(app.url("/t/%00/.well-known/jwks.json")).send().await.unwrap();
        refused(jwks, "validation_failed", "tenant").await;
        let before = app.stored_state().await;
        let tab = app.client.post(app.url("/t/default/auth/login")).header("user-agent", "agent\twith tab")
            .json(&json!({"username": "alice", "password": "correct horse battery"})).send().await.unwrap();
        refused(tab, "validation_failed", "User-Agent").await;
        assert_eq!(app.stored_state().await, before);
    }

    async fn oauth_parameters_with_control_characters_get_rfc6749_errors(app: TestApp) {
        let token = app.url("/t/default/oauth2/token");
        let form = app.client.post(&token).form(&[("grant_type", "client_credentials"), ("client_id", "a\0")]).send().await.unwrap();
        let body = oauth_error(form, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(body["error_description"].as_str().unwrap().starts_with("client_id:"), "{body}");
        let basic = app.client.post(&token).basic_auth("\0", Some("")).form(&[("grant_type", "client_credentials")]).send().await.unwrap();
        oauth_error(basic, StatusCode::BAD_REQUEST, "invalid_request").await;
        let introspect = app.client.post(app.url("/t/default/oauth2/introspect")).form(&[("token", "\u{9f}")]).send().await.unwrap();
        oauth_error(introspect, StatusCode::BAD_REQUEST, "invalid_request").await;
        let authorize = app.client.get(app.url("/t/default/oauth2/authorize?client_id=a%00&response_type=code")).send().await.unwrap();
        oauth_error(authorize, StatusCode::BAD_REQUEST, "invalid_request").await;
    }

    async fn duplicate_json_keys_are_refused_at_any_depth(app: TestApp) {
        let op = app.operator().await;
        let before = admin_rows(&app).await;
        let register = app.client.post(app.url("/t/default/auth/register")).header("content-type", "application/json")
            .body(r#"{"username": "mallory", "password": "correct horse battery", "username": "admin"}"#).send().await.unwrap();
        refused(register, "invalid_request", "username").await;
        let nested = r#"{"provider_id": "corp", "kind": "oidc", "display_name": "Corp",
            "configuration": {"issuer": "https://a.example", "issuer": "https://b.example"}}"#;
        let resp = raw_json(&app, Method::POST, &op, "/admin/v1/tenants/default/providers", nested).await;
        refused(resp, "invalid_request", "configuration.issuer").await;
        let roles = r#"{"slug": "dup", "display_name": "A", "display_name": "B"}"#;
        refused(raw_json(&app, Method::POST, &op, "/admin/v1/tenants", roles).await, "invalid_request", "display_name").await;
        assert_eq!(admin_rows(&app).await, before);
    }

    async fn numbers_and_booleans_are_not_accepted_for_strings(app: TestApp) {
        let op = app.operator().await;
        app.api_open_tenant(&op, "acme").await;
        let before = admin_rows(&app).await;
        let register = json!({"username": "numbers", "password": 1_234_567_890_123_u64});
        refused(app.post_json("/t/acme/auth/register", &register).await, "validation_failed", "password").await;
        refused(app.post_json("/t/acme/auth/login", &json!({"username": true, "password": "x"})).await, "validation_failed", "username").await;
        refused(app.admin_patch(&op, "/admin/v1/tenants/acme", &json!({"display_name": 42})).await, "validation_failed", "display_name").await;
        let client = json!({"name": "a", "client_type": "public", "redirect_uris": [7]});
        refused(app.admin_post(&op, "/admin/v1/tenants/acme/clients", &client).await, "validation_failed", "redirect_uris[0]").await;
        assert_eq!(admin_rows(&app).await, before);
        // Declared numbers and free-form configuration still take numbers.
        let client = json!({"name": "a", "client_type": "public", "redirect_uris": ["http://127.0.0.1/cb"], "access_token_ttl_secs": 600});
        assert_eq!(app.admin_post(&op, "/admin/v1/tenants/acme/clients", &client).await.status(), StatusCode::CREATED);
        let provider = json!({"provider_id": "corp", "kind": "oidc", "display_name": "Corp", "position": 3,
            "configuration": {"issuer": "https://idp.example", "leeway": 5}, "secrets": {"client_secret": "s"}});
        let resp = app.admin_post(&op, "/admin/v1/tenants/acme/providers", &provider).await;
        let body: Value = resp.json().await.unwrap();
        assert!(!body["detail"].as_str().unwrap_or_default().contains("must be a string"), "{body}");
    }

    async fn every_error_of_the_token_introspection_and_revocation_endpoints_is_an_rfc6749_error(app: TestApp) {
        for endpoint in ["token", "introspect", "revoke"] {
            let url = app.url(&format!("/t/default/oauth2/{endpoint}"));
            let repeated = app.client.post(&url).header("content-type", "application/x-www-form-urlencoded")
                .body("token=a&client_id=x&client_id=y&grant_type=client_credentials").send().await.unwrap();
            let body = oauth_error(repeated, StatusCode::BAD_REQUEST, "invalid_request").await;
            assert!(body["error_description"].as_str().unwrap().contains("client_id"), "{body}");
            let json = app.client.post(&url).json(&json!({"token": "a"})).send().await.unwrap();
            oauth_error(json, StatusCode::UNSUPPORTED_MEDIA_TYPE, "invalid_request").await;
            let big = app.client.post(&url).form(&[("token", "a".repeat(70_000))]).send().await.unwrap();
            oauth_error(big, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request").await;
            let get = app.client.get(&url).send().await.unwrap();
            assert_eq!(get.headers()["allow"], "POST");
            oauth_error(get, StatusCode::METHOD_NOT_ALLOWED, "invalid_request").await;
            let wrong_type = app.client.post(&url).header("content-type", "application/x-www-form-urlencoded")
                .body("token=%FF%FE").send().await.unwrap();
            assert!(wrong_type.status().is_client_error() || wrong_type.status().is_success());
            assert_eq!(wrong_type.headers()["content-type"], "application/json; charset=utf-8");
        }
    }

    async fn method_not_allowed_lists_the_allowed_methods(app: TestApp) {
        for (method, path, allow) in [
            (Method::DELETE, "/t/default/auth/register", "POST"),
            (Method::PUT, "/admin/v1/tenants", "GET, HEAD, POST"),
            (Method::POST, "/admin/v1/tenants/default", "DELETE, GET, HEAD, PATCH"),
            (Method::DELETE, "/t/default/oauth2/userinfo", "GET, HEAD, POST"),
            (Method::OPTIONS, "/t/default/.well-known/openid-configuration", "GET, HEAD"),
            (Method::PUT, "/t/default/login", "GET, HEAD, POST"),
            (Method::POST, "/t/default/auth/github/start", "GET, HEAD"),
            (Method::DELETE, "/t/default/oauth2/logout", "GET, HEAD, POST"),
            (Method::PATCH, "/health/live", "GET, HEAD"),
        ] {
            let resp = app.client.request(method.clone(), app.url(path)).send().await.unwrap();
            assert_eq!(resp.headers().get("allow").map(|v| v.to_str().unwrap()), Some(allow), "{method} {path}");
            assert_eq!(problem(resp, StatusCode::METHOD_NOT_ALLOWED).await["code"], "method_not_allowed");
        }
        // HEAD is served wherever GET is, as before.
        let head = app.client.head(app.url("/t/default/.well-known/jwks.json")).send().await.unwrap();
        assert_eq!(head.status(), StatusCode::OK);
    }
}

async fn the_token_endpoints_rate_limit_answers_in_the_rfc6749_shape(backend: Backend) {
    let app = TestApp::spawn_tuned(backend, |s| s.limits.token_per_ip = 1).await;
    let url = app.url("/t/default/oauth2/token");
    let form = [("grant_type", "client_credentials"), ("client_id", "nobody"), ("client_secret", "x")];
    oauth_error(
        app.client.post(&url).form(&form).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    let limited = app.client.post(&url).form(&form).send().await.unwrap();
    assert!(limited.headers().contains_key("retry-after"));
    oauth_error(limited, StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoints_rate_limit_answers_in_the_rfc6749_shape_postgres_redis() {
    the_token_endpoints_rate_limit_answers_in_the_rfc6749_shape(Backend::PostgresRedis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoints_rate_limit_answers_in_the_rfc6749_shape_sqlite_memory() {
    the_token_endpoints_rate_limit_answers_in_the_rfc6749_shape(Backend::SqliteMemory).await;
}
