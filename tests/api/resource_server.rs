//! The resource-server snippets of `docs/resource-server.md`, run against the real server: the
//! Rust verifier (compiled into this binary from `examples/resource-server/verify.rs`) and the
//! Python one (`examples/resource-server/verify.py`, PyJWT). Both accept a live token, and both
//! show the trade-off the guide describes: after logout the token still verifies locally until it
//! expires, while introspection reports it inactive at once. (The Node version is the middleware
//! of `examples/express-passport/`, tested in `express_passport.rs`.)
use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    clients::run_tool,
    helpers::{Backend, TestApp},
};

#[path = "../../examples/resource-server/verify.rs"]
mod verify;

/// A confidential client the API uses to call introspection.
async fn api_client(app: &TestApp) -> (String, String) {
    let op = app.operator().await;
    let resp = app
        .admin_post(
            &op,
            "/admin/v1/tenants/default/clients",
            &json!({
                "name": "Orders API", "client_type": "confidential", "grant_types": ["client_credentials"],
            }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let v: Value = resp.json().await.unwrap();
    (v["client_id"].as_str().unwrap().into(), v["client_secret"].as_str().unwrap().into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_verifier_accepts_live_tokens_and_only_introspection_sees_logout() {
    let app = TestApp::spawn(Backend::PostgresRedis).await;
    let (id, secret) = api_client(&app).await;
    let issuer = format!("{}/t/default", app.settings.public_url());
    let verifier = verify::Verifier::new(&issuer).await.unwrap();
    let tokens = app.user("rs-user").await;

    let claims = verifier.verify(&tokens.access).await.unwrap();
    assert_eq!(claims.sub, TestApp::claims_of(&tokens.access).sub);
    // A one-factor token is valid but weaker than an operation needing two: the RFC 9470 answer.
    assert_eq!(claims.acr.as_deref(), Some("urn:gatehouse:loa:1fa"));
    let challenge = verify::step_up_challenge(&claims, "urn:gatehouse:loa:2fa").unwrap();
    assert!(challenge.starts_with(r#"Bearer error="insufficient_user_authentication""#), "{challenge}");
    assert!(challenge.ends_with(r#"acr_values="urn:gatehouse:loa:2fa""#), "{challenge}");
    assert_eq!(verify::step_up_challenge(&claims, "urn:gatehouse:loa:1fa"), None);
    let raw = TestApp::claims_of(&tokens.access);
    assert_eq!((claims.jti, claims.exp, claims.scope), (raw.jti, raw.exp, raw.scope));
    assert_eq!(claims.client_id, None, "a password login is not a client app's token");
    assert!(verifier.is_active(&tokens.access, &id, &secret).await.unwrap());

    // An operator's token is signed by tenant `system`: wrong issuer, wrong audience, unknown key.
    assert!(verifier.verify(&app.operator().await).await.is_err());
    assert!(verifier.verify(&tokens.refresh).await.is_err(), "a refresh token is no JWT");

    assert_eq!(app.logout("default", &tokens.access, false).await.status(), StatusCode::NO_CONTENT);
    assert!(verifier.verify(&tokens.access).await.is_ok(), "local verification cannot see logout");
    assert!(!verifier.is_active(&tokens.access, &id, &secret).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_verifier_accepts_live_tokens_and_only_introspection_sees_logout() {
    let app = TestApp::spawn(Backend::PostgresRedis).await;
    let (id, secret) = api_client(&app).await;
    let issuer = format!("{}/t/default", app.settings.public_url());
    let tokens = app.user("py-rs-user").await;
    let sub = TestApp::claims_of(&tokens.access).sub;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/resource-server/verify.py");
    let run = move |token: String| {
        let (script, issuer, id, secret) = (script.clone(), issuer.clone(), id.clone(), secret.clone());
        tokio::task::spawn_blocking(move || {
            run_tool(
                "verify.py (scripts/test installs it into .venv)",
                Command::new("python3")
                    .arg(script)
                    .env("ISSUER", issuer)
                    .env("TOKEN", token)
                    .env("CLIENT_ID", id)
                    .env("CLIENT_SECRET", secret),
            )
        })
    };

    let out = run(tokens.access.clone()).await.unwrap();
    assert_eq!(out, format!("local: valid sub={sub}\nintrospection: active\n"));
    let out = run(app.operator().await).await.unwrap();
    assert!(out.starts_with("local: rejected"), "{out}");

    assert_eq!(app.logout("default", &tokens.access, false).await.status(), StatusCode::NO_CONTENT);
    let out = run(tokens.access.clone()).await.unwrap();
    assert_eq!(out, format!("local: valid sub={sub}\nintrospection: inactive\n"));
}

#[test]
fn the_resource_server_guide_quotes_the_tested_files_verbatim() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let guide = std::fs::read_to_string(root.join("docs/resource-server.md")).unwrap();
    let mut quoted = 0;
    for part in guide.split("<!-- file: ").skip(1) {
        let (file, rest) = part.split_once(" -->").unwrap();
        let block = rest.split("```").nth(1).unwrap();
        let code = block.split_once('\n').unwrap().1;
        let source = std::fs::read_to_string(root.join(file)).unwrap();
        assert!(source.contains(code.trim_end()), "docs/resource-server.md quotes {file}, which has changed");
        quoted += 1;
    }
    assert_eq!(quoted, 3);
}
