//! Defences on the calls Gatehouse makes to external providers (issue 14): answers are
//! bounded in size, and provider URLs never reach internal addresses, neither when an admin
//! configures them nor when a call is made. The upstream here is a local fake that can
//! misbehave in ways a real provider will not.
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    helpers::{backend_tests, problem},
    oidc::{Browser, query_of},
    providers::{add_provider, error_page, start_url, to_callback, tokens_from, with_corp_provider},
};

/// Ten megabytes: far beyond the default `upstream.max_response_bytes` (256 KiB).
const HUGE: usize = 10 * 1024 * 1024;

/// How the fake misbehaves.
#[derive(Clone, Default)]
pub(crate) struct Misbehave {
    /// The endpoint whose answer is padded to [`HUGE`] bytes: `discovery`, `jwks`, `token`,
    /// `user` or `emails`.
    pub bloat: Option<&'static str>,
    /// A `jwks_uri` to publish instead of its own.
    pub jwks_uri: Option<String>,
}

/// A provider speaking enough OpenID Connect discovery and OAuth2 (GitHub-style user and
/// email APIs) for Gatehouse to call every kind of endpoint it calls.
pub(crate) struct FakeIdp {
    pub url: String,
}

impl FakeIdp {
    pub(crate) async fn start(misbehave: Misbehave) -> Self {
        use poem::{
            EndpointExt, IntoResponse, Route, get, handler,
            http::StatusCode as S,
            listener::{Acceptor, Listener, TcpListener},
            post,
            web::{Data, Query},
        };
        struct Fake {
            url: String,
            misbehave: Misbehave,
        }
        impl Fake {
            fn answer(&self, endpoint: &str, mut body: Value) -> poem::Response {
                if self.misbehave.bloat == Some(endpoint) {
                    let padding = Value::String("x".repeat(HUGE));
                    match &mut body {
                        Value::Object(m) => {
                            m.insert("padding".into(), padding);
                        }
                        Value::Array(a) => a.push(json!({ "padding": padding })),
                        _ => {}
                    }
                }
                poem::web::Json(body).into_response()
            }
        }
        type Shared = Arc<Fake>;

        #[handler]
        fn discovery(Data(f): Data<&Shared>) -> poem::Response {
            let u = &f.url;
            let jwks_uri = f.misbehave.jwks_uri.clone().unwrap_or(format!("{u}/jwks"));
            f.answer(
                "discovery",
                json!({"issuer": u, "authorization_endpoint": format!("{u}/authorize"),
                "token_endpoint": format!("{u}/token"), "userinfo_endpoint": format!("{u}/user"),
                "jwks_uri": jwks_uri, "response_types_supported": ["code"],
                "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"]}),
            )
        }

        #[handler]
        fn jwks(Data(f): Data<&Shared>) -> poem::Response {
            f.answer("jwks", json!({"keys": []}))
        }

        #[handler]
        fn authorize(Query(q): Query<std::collections::HashMap<String, String>>) -> poem::Response {
            let back = format!("{}?code=fake-code&state={}", q["redirect_uri"], q["state"]);
            poem::Response::builder().status(S::FOUND).header("location", back).finish()
        }

        #[handler]
        fn token(Data(f): Data<&Shared>) -> poem::Response {
            f.answer("token", json!({"access_token": "fake-access", "token_type": "bearer"}))
        }

        #[handler]
        fn user(Data(f): Data<&Shared>) -> poem::Response {
            f.answer("user", json!({"id": 4242, "login": "fay"}))
        }

        #[handler]
        fn emails(Data(f): Data<&Shared>) -> poem::Response {
            f.answer("emails", json!([{"email": "fay@example.com", "primary": true, "verified": true}]))
        }

        let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
        let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
        let url = format!("http://{addr}");
        let shared: Shared = Arc::new(Fake { url: url.clone(), misbehave });
        let routes = Route::new()
            .at("/.well-known/openid-configuration", get(discovery))
            .at("/jwks", get(jwks))
            .at("/authorize", get(authorize))
            .at("/token", post(token))
            .at("/user", get(user))
            .at("/emails", get(emails))
            .data(shared);
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(routes));
        Self { url }
    }

    /// An `oauth2` provider configuration for this fake.
    pub(crate) fn oauth2(&self, provider_id: &str) -> Value {
        let u = &self.url;
        json!({"provider_id": provider_id, "kind": "oauth2", "display_name": format!("{provider_id} IdP"),
            "configuration": {"client_id": "c", "authorization_url": format!("{u}/authorize"),
                "token_url": format!("{u}/token"), "userinfo_url": format!("{u}/user"),
                "emails_url": format!("{u}/emails"), "claims": {"subject": "id", "username": "login"}},
            "secrets": {"client_secret": "s"}})
    }

    /// An `oidc` provider configuration for this fake.
    pub(crate) fn oidc(&self, provider_id: &str) -> Value {
        json!({"provider_id": provider_id, "kind": "oidc", "display_name": format!("{provider_id} IdP"),
            "configuration": {"issuer": self.url, "client_id": "c"}})
    }
}

backend_tests! {
    async fn a_ten_megabyte_jwks_fails_the_sign_in_with_the_provider_error_page(app: TestApp) {
        let op = app.operator().await;
        let idp = FakeIdp::start(Misbehave { bloat: Some("jwks"), ..Misbehave::default() }).await;
        add_provider(&app, &op, idp.oidc("big")).await;
        let (client_id, _) = app.oidc_client(&op, "default", "public", &["authorization_code"], json!({})).await;
        let before = app.stored_state().await;
        let resp = Browser::new(&app).get(&start_url(&app, "big", &client_id)).await;
        error_page(resp, StatusCode::BAD_GATEWAY, "big IdP cannot be reached").await;
        assert_eq!(app.stored_state().await, before);
    }

    async fn oversized_discovery_token_user_and_email_answers_are_refused(app: TestApp) {
        let op = app.operator().await;
        let (client_id, _) = app.oidc_client(&op, "default", "public", &["authorization_code"], json!({})).await;
        let idp = FakeIdp::start(Misbehave { bloat: Some("discovery"), ..Misbehave::default() }).await;
        add_provider(&app, &op, idp.oidc("disco")).await;
        let resp = Browser::new(&app).get(&start_url(&app, "disco", &client_id)).await;
        error_page(resp, StatusCode::BAD_GATEWAY, "disco IdP cannot be reached").await;

        // The same fake, well-behaved: the sign-in works, so only the size makes the difference.
        let fine = FakeIdp::start(Misbehave::default()).await;
        add_provider(&app, &op, fine.oauth2("fine")).await;
        let mut browser = Browser::new(&app);
        let callback = to_callback(&mut browser, &start_url(&app, "fine", &client_id), |u| u).await;
        tokens_from(&app, &client_id, browser.get(&callback).await).await;

        for endpoint in ["token", "user", "emails"] {
            let idp = FakeIdp::start(Misbehave { bloat: Some(endpoint), ..Misbehave::default() }).await;
            add_provider(&app, &op, idp.oauth2(endpoint)).await;
            let before = app.stored_state().await;
            let mut browser = Browser::new(&app);
            let callback = to_callback(&mut browser, &start_url(&app, endpoint, &client_id), |u| u).await;
            let says = format!("{endpoint} IdP did not answer in time or answered with an error");
            error_page(browser.get(&callback).await, StatusCode::BAD_GATEWAY, &says).await;
            assert_eq!(app.stored_state().await, before, "{endpoint}: nothing stored");
        }
    }
}

backend_tests! {
    async fn provider_urls_on_internal_addresses_are_refused_naming_the_field_and_nothing_is_stored(app: TestApp) {
        let op = app.operator().await;
        let path = "/admin/v1/tenants/default/providers";
        let oidc = |issuer: &str| json!({"provider_id": "x", "kind": "oidc", "display_name": "X", "configuration": {"issuer": issuer, "client_id": "c"}});
        let fine = FakeIdp::start(Misbehave::default()).await;
        let mut oauth2 = fine.oauth2("y");
        oauth2["configuration"]["token_url"] = json!("https://10.0.0.1/token");
        let mut emails = fine.oauth2("z");
        emails["configuration"]["emails_url"] = json!("https://[::ffff:a9fe:a9fe]/emails");
        let mut cases = vec![(oauth2, "configuration.token_url"), (emails, "configuration.emails_url")];
        for issuer in [
            "https://169.254.169.254/", "https://10.0.0.1/", "https://127.0.0.2:6379/", "https://192.168.1.1/",
            "https://100.64.0.1/", "https://[::1]/", "https://[fd00:ec2::254]/", "https://[fe80::1]/",
            "https://[::ffff:10.0.0.1]/", "https://0.0.0.0/", "https://2852039166/", "https://localhost:6379/",
        ] {
            cases.push((oidc(issuer), "configuration.issuer"));
        }
        let before = app.admin_get(&op, path).await.text().await.unwrap();
        for (body, field) in cases {
            let resp = app.admin_post(&op, path, &body).await;
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
            let p = problem(resp, StatusCode::BAD_REQUEST).await;
            assert_eq!(p["field"], field, "{body}: {p}");
            assert!(p["detail"].as_str().unwrap().contains("internal address"), "{p}");
        }
        assert_eq!(app.admin_get(&op, path).await.text().await.unwrap(), before, "nothing stored");

        // Changing a working provider to an internal URL is refused the same way and leaves it as it was.
        add_provider(&app, &op, fine.oidc("corp")).await;
        let stored = app.admin_get(&op, &format!("{path}/corp")).await.text().await.unwrap();
        let change = json!({"configuration": {"issuer": "https://169.254.169.254/latest/meta-data", "client_id": "c"}});
        let p = problem(app.admin_patch(&op, &format!("{path}/corp"), &change).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(p["field"], "configuration.issuer");
        assert_eq!(app.admin_get(&op, &format!("{path}/corp")).await.text().await.unwrap(), stored);
    }

    async fn an_internal_address_named_by_a_discovery_document_is_never_called(app: TestApp) {
        // 127.0.0.1 is allowed in the tests; 127.0.0.2 is not. The configured issuer passes,
        // the key URL its discovery document names is refused when called.
        let trap = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
        let jwks_uri = format!("http://{}/jwks", trap.local_addr().unwrap());
        let op = app.operator().await;
        let idp = FakeIdp::start(Misbehave { jwks_uri: Some(jwks_uri), ..Misbehave::default() }).await;
        add_provider(&app, &op, idp.oidc("sly")).await;
        let (client_id, _) = app.oidc_client(&op, "default", "public", &["authorization_code"], json!({})).await;
        let resp = Browser::new(&app).get(&start_url(&app, "sly", &client_id)).await;
        error_page(resp, StatusCode::BAD_GATEWAY, "sly IdP cannot be reached").await;
        let called = tokio::time::timeout(std::time::Duration::from_millis(200), trap.accept()).await;
        assert!(called.is_err(), "the internal address was connected to");
    }

    async fn a_tenant_import_with_an_internal_provider_url_is_refused_and_writes_nothing(app: TestApp) {
        let ops = gatehouse::ops::Ops::connect(app.settings.clone()).await.unwrap();
        let doc = |issuer: &str| serde_json::from_value::<gatehouse::ops::TenantExport>(json!({
            "format": "gatehouse.tenant", "version": 1,
            "tenant": {"slug": "imported", "display_name": "Imported"},
            "providers": [{"provider_id": "meta", "kind": "oidc", "display_name": "Meta",
                "config": {"issuer": issuer, "client_id": "c"}}],
        })).unwrap();
        for issuer in ["https://169.254.169.254/", "https://[::ffff:127.0.0.2]/", "https://localhost/"] {
            let Err(e) = ops.import(doc(issuer), false).await else { panic!("{issuer} was imported") };
            let e = e.to_string();
            assert!(e.contains("providers[0] (meta)") && e.contains("configuration.issuer") && e.contains("internal address"), "{e}");
        }
        assert!(ops.export("imported", false).await.is_err(), "no tenant was written");
        let fine = FakeIdp::start(Misbehave::default()).await;
        ops.import(doc(&fine.url), false).await.unwrap();
    }
}

backend_tests! {
    async fn an_authorization_response_naming_another_issuer_or_none_is_rejected(app: TestApp) {
        // oidc-provider publishes authorization_response_iss_parameter_supported: true.
        let (_, client_id, upstream) = with_corp_provider(&app).await;
        for forged in [Some("https://evil.example"), Some(&format!("{}/", upstream.issuer)[..]), None] {
            upstream.next_account(json!({"sub": "u-900", "preferred_username": "mia"})).await;
            let before = app.stored_state().await;
            let mut browser = Browser::new(&app);
            let callback = to_callback(&mut browser, &start_url(&app, "corp", &client_id), |u| u).await;
            assert_eq!(query_of(&callback)["iss"], upstream.issuer, "the provider sends iss");
            let mut url = url::Url::parse(&callback).unwrap();
            let pairs: Vec<(String, String)> = url.query_pairs().into_owned().filter(|(k, _)| k != "iss").collect();
            url.query_pairs_mut().clear().extend_pairs(pairs);
            if let Some(iss) = forged {
                url.query_pairs_mut().append_pair("iss", iss);
            }
            let resp = browser.get(url.as_str()).await;
            error_page(resp, StatusCode::BAD_REQUEST, "could not be verified").await;
            assert_eq!(app.stored_state().await, before, "{forged:?}: nothing stored");
        }
        // The untouched response signs in.
        upstream.next_account(json!({"sub": "u-900", "preferred_username": "mia"})).await;
        let mut browser = Browser::new(&app);
        let callback = to_callback(&mut browser, &start_url(&app, "corp", &client_id), |u| u).await;
        tokens_from(&app, &client_id, browser.get(&callback).await).await;
    }
}
