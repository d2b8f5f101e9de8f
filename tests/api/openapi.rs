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

fn served_spec() -> serde_json::Value {
    serde_json::from_str(&gatehouse::api::spec_json(&gatehouse::api::api_service("http://127.0.0.1:8080")))
        .unwrap()
}

fn operations(spec: &serde_json::Value) -> impl Iterator<Item = (String, &serde_json::Value)> {
    spec["paths"].as_object().unwrap().iter().flat_map(|(path, item)| {
        item.as_object().unwrap().iter().map(move |(method, op)| (format!("{method} {path}"), op))
    })
}

/// Names that generators put beside the operations: @hey-api/openapi-ts exports its client
/// factory and helpers from the same index as the SDK functions, and derives
/// `<OperationId>Data|Error|Errors|Response|Responses` types that share a namespace with the
/// schemas; openapi-python-client makes a module per operation and a class per schema, in snake
/// and Pascal case. A clash makes them rename one side (`TokenResponse2`) or shadow it.
#[test]
fn operation_ids_and_schema_names_generate_clients_without_renames() {
    const HEY_API_EXPORTS: [&str; 16] = [
        "client",
        "createClient",
        "createConfig",
        "createClientConfig",
        "mergeHeaders",
        "buildClientParams",
        "serializeQueryKeyValue",
        "formDataBodySerializer",
        "jsonBodySerializer",
        "urlSearchParamsBodySerializer",
        "Options",
        "ClientOptions",
        "Client",
        "Config",
        "Auth",
        "RequestResult",
    ];
    let spec = served_spec();
    let ids: Vec<String> =
        operations(&spec).map(|(_, op)| op["operationId"].as_str().unwrap().to_string()).collect();
    let schemas: Vec<&String> = spec["components"]["schemas"].as_object().unwrap().keys().collect();
    let fold = |s: &str| s.to_ascii_lowercase().replace('_', "");
    let mut seen = std::collections::HashSet::new();
    for id in &ids {
        assert!(seen.insert(fold(id)), "operationId {id} is not unique (ignoring case and `_`)");
        assert!(
            !HEY_API_EXPORTS.iter().any(|r| r.eq_ignore_ascii_case(id)),
            "operationId {id} collides with @hey-api/openapi-ts' own export"
        );
        let pascal = format!("{}{}", id[..1].to_ascii_uppercase(), &id[1..]);
        for suffix in ["Data", "Error", "Errors", "Response", "Responses"] {
            let derived = format!("{pascal}{suffix}");
            assert!(!schemas.iter().any(|s| fold(s) == fold(&derived)), "schema {derived} clashes with {id}");
        }
    }
    let mut seen = std::collections::HashSet::new();
    for name in &schemas {
        assert!(seen.insert(fold(name)), "schema {name} is not unique (ignoring case and `_`)");
        assert!(!HEY_API_EXPORTS.iter().any(|r| r.eq_ignore_ascii_case(name)), "schema {name}");
    }
    let admin = operations(&spec).filter(|(path, _)| path.contains(" /admin/"));
    for (path, op) in admin {
        assert!(op["operationId"].as_str().unwrap().starts_with("admin"), "{path}: admin operations say so");
    }
}

#[test]
fn client_apps_and_the_two_kinds_of_bearer_token_have_their_own_security_schemes() {
    let spec = served_spec();
    let schemes = spec["components"]["securitySchemes"].as_object().unwrap();
    let names: Vec<&str> = schemes.keys().map(String::as_str).collect();
    assert_eq!(names, ["AdminBearer", "ClientSecretBasic", "UserBearer"]);
    assert_eq!(schemes["ClientSecretBasic"]["scheme"], "basic");
    let says = |scheme: &str, text: &str| {
        let d = schemes[scheme]["description"].as_str().unwrap();
        assert!(d.contains(text), "{scheme}: {d}");
    };
    says("AdminBearer", "gatehouse token");
    says("AdminBearer", "`UserBearer`");
    says("UserBearer", "/t/{tenant}/auth/login");
    says("UserBearer", "`AdminBearer`");
    says("ClientSecretBasic", "client_secret_post");
    for (path, op) in operations(&spec) {
        let security = &op["security"];
        if ["token", "introspect", "revoke"].iter().any(|e| path.ends_with(&format!("/oauth2/{e}"))) {
            // Basic, or nothing: public clients send only `client_id` in the form.
            assert_eq!(security, &serde_json::json!([{"ClientSecretBasic": []}, {}]), "{path}");
        } else if path.contains(" /admin/") {
            assert_eq!(security, &serde_json::json!([{"AdminBearer": []}]), "{path}");
        } else if let Some(s) = security.as_array() {
            assert_eq!(s, &[serde_json::json!({"UserBearer": []})], "{path}");
        }
    }
    let token_form = &spec["components"]["schemas"]["TokenForm"];
    assert_eq!(token_form["required"], serde_json::json!(["grant_type"]));
    for form in ["IntrospectForm", "RevokeForm"] {
        assert_eq!(spec["components"]["schemas"][form]["required"], serde_json::json!(["token"]), "{form}");
    }
}

/// Every JSON body the server parses refuses unknown fields, and every request string refuses
/// control characters (`http_guard`): both are in the schema.
#[test]
fn request_bodies_are_closed_and_request_text_declares_the_control_character_rule() {
    let spec = served_spec();
    let schemas = &spec["components"]["schemas"];
    // Every request string's pattern refuses C0, DEL and C1 (tab, CR and LF only where PEM
    // may go), whatever else it says.
    let refuses_controls = |at: &str, schema: &serde_json::Value| {
        let pattern = schema["pattern"].as_str().unwrap_or_else(|| panic!("{at}: no pattern in {schema}"));
        let re = regex::Regex::new(pattern).unwrap();
        for c in ['\0', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}'] {
            assert!(!re.is_match(&format!("a{c}b")), "{at}: {pattern} lets U+{:04X} through", u32::from(c));
        }
    };
    for (path, op) in operations(&spec) {
        for (media, body) in op["requestBody"]["content"].as_object().into_iter().flatten() {
            let name = body["schema"]["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
            let schema = &schemas[name];
            let closed = schema["additionalProperties"] == serde_json::json!(false);
            // OAuth forms stay open: RFC 6749 section 3.2 says unknown parameters are ignored.
            assert_eq!(closed, media.starts_with("application/json"), "{path} {name}");
            for (field, prop) in schema["properties"].as_object().unwrap() {
                for s in [prop, &prop["items"], &prop["additionalProperties"]] {
                    if s["type"] == "string" && s.get("format").is_none() && s.get("enum").is_none() {
                        refuses_controls(&format!("{path} {name}.{field}"), s);
                    }
                }
                if prop["format"].as_str().is_some_and(|f| f.starts_with("uint")) {
                    assert!(prop["minimum"].as_f64().is_some_and(|m| m >= 0.0), "{path} {name}.{field}");
                }
            }
        }
        for p in op["parameters"].as_array().into_iter().flatten() {
            if p["schema"]["type"] == "string" && p["schema"].get("format").is_none() {
                refuses_controls(&format!("{path} {}", p["name"]), &p["schema"]);
            }
        }
    }
    for nested in ["TenantSettingsInput", "BrandingInput", "LockoutInput", "PasswordPolicyInput"] {
        assert_eq!(schemas[nested]["additionalProperties"], serde_json::json!(false), "{nested}");
    }
    let secrets = &schemas["CreateProviderRequest"]["properties"]["secrets"]["additionalProperties"];
    assert!(secrets["pattern"].as_str().unwrap().contains(r"\u000E-"), "PEM may hold line breaks: {secrets}");
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

    /// The first `null` in `v`, as a path.
    fn null_in(v: &Value, path: &str) -> Option<String> {
        match v {
            Value::Null => Some(path.to_string()),
            Value::Array(items) => {
                items.iter().enumerate().find_map(|(i, x)| null_in(x, &format!("{path}[{i}]")))
            }
            Value::Object(m) => m.iter().find_map(|(k, x)| null_in(x, &format!("{path}.{k}"))),
            _ => None,
        }
    }

    backend_tests! {
        async fn absent_optional_fields_are_left_out_not_null(app: TestApp) {
            let discovery: Value = app.client.get(app.url("/t/default/.well-known/openid-configuration"))
                .send().await.unwrap().json().await.unwrap();
            assert_eq!(null_in(&discovery, ""), None, "{discovery}");
            // No dynamic client registration (RFC 7591): the member is absent, not null.
            assert!(discovery.get("registration_endpoint").is_none(), "{discovery}");
            for endpoint in ["authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
                "introspection_endpoint", "revocation_endpoint", "end_session_endpoint"] {
                assert!(discovery[endpoint].as_str().is_some_and(|u| u.starts_with("http")), "{endpoint}");
            }
            let op = app.operator().await;
            app.api_open_tenant(&op, "acme").await;
            let spa = serde_json::json!({"name": "SPA", "client_type": "public",
                "redirect_uris": ["https://spa.example/cb"], "grant_types": ["authorization_code"]});
            let created = app.admin_post(&op, "/admin/v1/tenants/acme/clients", &spa).await;
            assert_eq!(created.status(), StatusCode::CREATED);
            let user = app.admin_post(&op, "/admin/v1/tenants/acme/users", &serde_json::json!({"username": "nomail"})).await;
            assert_eq!(user.status(), StatusCode::CREATED);
            let tokens: Value = app.client.post(app.url("/t/system/auth/login")).json(&serde_json::json!({
                "username": "admin", "password": crate::helpers::BOOTSTRAP_ADMIN_PASSWORD})).send().await.unwrap().json().await.unwrap();
            let mut answers = vec![("created client".to_string(), created.json::<Value>().await.unwrap()), ("login".into(), tokens)];
            for path in ["/admin/v1/tenants/acme", "/admin/v1/tenants/acme/clients", "/admin/v1/tenants/acme/users",
                "/admin/v1/tenants/acme/providers", "/admin/v1/tenants/acme/keys", "/admin/v1/tenants/acme/audit-events",
                "/admin/v1/tenants"] {
                let resp = app.admin_get(&op, path).await;
                assert_eq!(resp.status(), StatusCode::OK, "{path}");
                answers.push((path.to_string(), resp.json().await.unwrap()));
            }
            for (what, body) in answers {
                assert_eq!(null_in(&body, ""), None, "{what}: {body}");
            }
        }
    }
}
