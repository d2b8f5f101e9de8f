//! The committed spec is the contract: it must equal what the code generates.

#[test]
fn the_committed_spec_matches_the_code() {
    let generated = gatehouse::api::spec_yaml(&gatehouse::api::api_service("http://127.0.0.1:8080"));
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.yaml");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        generated == committed,
        "openapi/openapi.yaml is out of date: run `cargo run -- openapi > openapi/openapi.yaml`"
    );
}

#[test]
fn every_operation_has_an_id_a_tag_and_documented_errors() {
    let spec: serde_json::Value =
        serde_json::from_str(&gatehouse::api::api_service("http://127.0.0.1:8080").spec()).unwrap();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(op["operationId"].is_string(), "{method} {path} has no operationId");
            assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()), "{method} {path} has no tag");
            let responses = op["responses"].as_object().unwrap();
            if path.starts_with("/t/") {
                assert!(responses.contains_key("400") && responses.contains_key("503"), "{method} {path}");
            }
        }
    }
}

#[test]
fn the_docs_list_what_app_developers_need_before_the_admin_api() {
    let api = gatehouse::api::api_service("http://127.0.0.1:8080");
    let spec: serde_json::Value = serde_json::from_str(&gatehouse::api::spec_json(&api)).unwrap();
    let yaml = gatehouse::api::spec_yaml(&api);
    let listed: Vec<&str> = yaml.lines().filter_map(|l| l.strip_prefix("- name: ")).collect();
    assert_eq!(listed[..4], ["Auth", "Me", "OIDC", "WellKnown"], "{listed:?}");
    assert!(
        gatehouse::api::api_service("http://127.0.0.1:8080").swagger_ui_html().contains("swagger"),
        "the docs page exists"
    );
    let tags: Vec<&str> =
        spec["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(tags[..4], ["Auth", "Me", "OIDC", "WellKnown"], "{tags:?}");
    let first_admin = tags.iter().position(|t| t.starts_with("Admin")).unwrap();
    assert!(tags[first_admin..].iter().all(|t| t.starts_with("Admin")), "{tags:?}");
    assert!(spec["paths"].get("/").is_none(), "the landing page is no API operation");
}

mod landing {
    use reqwest::{StatusCode, header};
    use serde_json::Value;

    use crate::helpers::backend_tests;

    backend_tests! {
        async fn the_root_shows_browsers_a_page_with_where_to_start(app: TestApp) {
            let accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
            let resp = app.client.get(app.url("/")).header(header::ACCEPT, accept).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            assert!(resp.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
            let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_string();
            assert!(csp.starts_with("default-src 'none'; style-src 'self' 'nonce-"), "{csp}");
            let html = resp.text().await.unwrap();
            assert!(html.contains("<title>Gatehouse is running · Gatehouse</title>"), "{html}");
            assert!(!html.contains(" style=") && !html.contains("<script"), "{html}");
            for link in ["/docs", "/openapi.json", "/t/default/.well-known/openid-configuration", "/t/default/.well-known/jwks.json", "/console", "/t/default/account"] {
                assert!(html.contains(&format!(r#"href="{link}""#)), "{link} in {html}");
                let target = app.client.get(app.url(link)).send().await.unwrap();
                assert!(target.status().is_success() || target.status().is_redirection(), "{link}: {}", target.status());
            }
        }

        async fn the_root_answers_programs_with_a_small_json_index(app: TestApp) {
            for accept in [Some("application/json"), Some("application/json, text/html;q=0.5"), None] {
                let mut req = app.client.get(app.url("/"));
                if let Some(a) = accept {
                    req = req.header(header::ACCEPT, a);
                }
                let resp = req.send().await.unwrap();
                assert_eq!(resp.status(), StatusCode::OK, "{accept:?}");
                assert!(resp.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("application/json"));
                assert_eq!(resp.headers()[header::VARY], "accept");
                let index: Value = resp.json().await.unwrap();
                let base = app.settings.public_url();
                assert_eq!(index["docs"], format!("{base}/docs"));
                assert_eq!(index["console"], format!("{base}/console"));
                assert_eq!(index["default_tenant"]["account"], format!("{base}/t/default/account"));
                let discovery = index["default_tenant"]["openid_configuration"].as_str().unwrap();
                assert_eq!(discovery, format!("{base}/t/default/.well-known/openid-configuration"));
                let doc: Value = app.client.get(discovery).send().await.unwrap().json().await.unwrap();
                assert_eq!(doc["issuer"], index["default_tenant"]["issuer"]);
            }
            let post = app.client.post(app.url("/")).send().await.unwrap();
            assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(post.headers()[header::ALLOW], "GET, HEAD");
        }
    }
}
