//! Property tests through the running server: arbitrary bodies, content types and credentials
//! at the endpoints that parse untrusted JSON and forms are answered with a 2xx, 3xx or 4xx,
//! never a 5xx. Cases are sent one at a time and shrunk on failure. `PROPTEST_CASES` sets
//! the number of cases per backend (default 64 here).
use proptest::{
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};
use reqwest::StatusCode;
use serde_json::{Map, Value};

use crate::helpers::{Backend, TestApp};

const JSON_PATHS: &[&str] = &["auth/login", "auth/register", "auth/refresh"];
const FORM_PATHS: &[&str] =
    &["oauth2/token", "oauth2/introspect", "oauth2/revoke", "oauth2/authorize", "login"];
const FIELDS: &[&str] = &[
    "username",
    "password",
    "email",
    "refresh_token",
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "scope",
    "client_id",
    "client_secret",
    "token",
    "token_type_hint",
    "request",
    "csrf",
    "response_type",
    "extra",
];

#[derive(Debug, Clone)]
struct Case {
    path: String,
    content_type: Option<String>,
    authorization: Option<String>,
    body: Vec<u8>,
}

/// Short text that is sometimes plausible and sometimes hostile (NUL, controls, huge numbers).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}",
        "[a-z0-9_]{1,12}",
        ".{0,20}",
        Just("\0".to_string()),
        Just("authorization_code".to_string()),
        Just("refresh_token".to_string()),
        Just("client_credentials".to_string()),
        Just("ghr_".to_string()),
        Just("correct horse battery staple".to_string()),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        text().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::vec((text(), inner), 0..3)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn json_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec((proptest::sample::select(FIELDS), json_value()), 0..5).prop_map(|kv| {
            let map: Map<String, Value> = kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            serde_json::to_vec(&Value::Object(map)).unwrap()
        }),
        json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        proptest::collection::vec(any::<u8>(), 0..300),
    ]
}

fn form_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec((proptest::sample::select(FIELDS), text()), 0..6).prop_map(|kv| {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in kv {
                form.append_pair(k, &v);
            }
            form.finish().into_bytes()
        }),
        // Hand-written forms: bad escapes, empty keys, repeated keys.
        "([a-z_%&=+]|%[0-9A-Fa-fZz]{0,2}|grant_type=|client_id=){0,30}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..300),
    ]
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("application/json".to_string())),
        Just(Some("application/x-www-form-urlencoded".to_string())),
        Just(Some("application/json; charset=utf-16".to_string())),
        Just(Some("text/plain".to_string())),
        Just(Some("multipart/form-data; boundary=x".to_string())),
        "[ -~]{0,30}".prop_map(Some),
    ]
}

fn authorization() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        2 => Just(None),
        1 => "Basic [A-Za-z0-9+/=]{0,40}".prop_map(Some),
        1 => (text(), text()).prop_map(|(u, p)| {
            use base64::Engine;
            Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))))
        }),
        1 => "Bearer [A-Za-z0-9._-]{0,60}".prop_map(Some),
    ]
}

/// Mostly the real tenant, sometimes a percent-encoded arbitrary one.
fn tenant() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("default".to_string()),
        1 => text().prop_map(|t| url::form_urlencoded::byte_serialize(t.as_bytes()).collect()),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let json = (proptest::sample::select(JSON_PATHS), json_body());
    let form = (proptest::sample::select(FORM_PATHS), form_body());
    (tenant(), prop_oneof![json, form], content_type(), authorization()).prop_map(
        |(tenant, (endpoint, body), content_type, authorization)| Case {
            path: format!("/t/{tenant}/{endpoint}"),
            content_type,
            authorization,
            body,
        },
    )
}

async fn send(app: &TestApp, case: &Case) -> Result<StatusCode, String> {
    let mut req = app.client.post(app.url(&case.path)).body(case.body.clone());
    if let Some(ct) = &case.content_type {
        req = req.header("content-type", ct);
    }
    if let Some(auth) = &case.authorization {
        req = req.header("authorization", auth);
    }
    req.send().await.map(|r| r.status()).map_err(|e| e.to_string())
}

async fn arbitrary_bodies_never_get_a_server_error(backend: Backend) {
    let app = TestApp::spawn_tuned(backend, |s| {
        s.limits.refresh_per_ip = u64::MAX / 1000;
        s.limits.token_per_ip = u64::MAX / 1000;
    })
    .await;
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::block_in_place(|| {
        runner.run(&case(), |case| {
            let status = handle.block_on(send(&app, &case)).map_err(TestCaseError::fail)?;
            prop_assert!(
                status.is_success() || status.is_redirection() || status.is_client_error(),
                "{status} for {case:?} ({:?})",
                String::from_utf8_lossy(&case.body)
            );
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let ready = app.client.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arbitrary_bodies_never_get_a_server_error_postgres_redis() {
    arbitrary_bodies_never_get_a_server_error(Backend::PostgresRedis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arbitrary_bodies_never_get_a_server_error_sqlite_memory() {
    arbitrary_bodies_never_get_a_server_error(Backend::SqliteMemory).await;
}
