//! The OpenID Connect provider: discovery, the code flow with PKCE through the hosted login
//! form, SSO, the token endpoint's grants and errors, userinfo, introspection, revocation and
//! RP-initiated logout.
use std::collections::HashMap;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_invalid_token, backend_tests};

pub(crate) const CB: &str = "https://app.example.com/cb";
pub(crate) const VERIFIER: &str = "a-long-enough-pkce-code-verifier-with-43-or-more-chars-0123456789";

/// A browser: keeps cookies, never follows redirects.
pub(crate) struct Browser<'a> {
    app: &'a TestApp,
    cookies: HashMap<String, String>,
}

impl<'a> Browser<'a> {
    pub(crate) fn new(app: &'a TestApp) -> Self {
        Self { app, cookies: HashMap::new() }
    }

    pub(crate) fn app_url(&self) -> String {
        self.app.url("")
    }

    fn keep(&mut self, resp: &Response) {
        for v in resp.headers().get_all("set-cookie") {
            let first = v.to_str().unwrap().split(';').next().unwrap();
            let (k, val) = first.split_once('=').unwrap();
            if val.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.into(), val.into());
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    pub(crate) async fn get(&mut self, url: &str) -> Response {
        let resp = self.app.client.get(url).header("cookie", self.cookie_header()).send().await.unwrap();
        self.keep(&resp);
        resp
    }

    pub(crate) async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Response {
        let resp =
            self.app.client.post(url).header("cookie", self.cookie_header()).form(form).send().await.unwrap();
        self.keep(&resp);
        resp
    }

    /// A form post carrying extra headers, as a browser adds `Origin` and `Sec-Fetch-Site`.
    pub(crate) async fn post_with(
        &mut self,
        url: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Response {
        let mut req = self.app.client.post(url).header("cookie", self.cookie_header()).form(form);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        self.keep(&resp);
        resp
    }

    /// Fills the hosted form shown by an authorization request; returns the response.
    pub(crate) async fn sign_in(&mut self, login_page: Response, username: &str, password: &str) -> Response {
        assert_eq!(login_page.status(), StatusCode::OK);
        let html = login_page.text().await.unwrap();
        let field = |name: &str| {
            let marker = format!(r#"name="{name}" value=""#);
            let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} in {html}")) + marker.len();
            html[start..].split('"').next().unwrap().to_string()
        };
        let (request, csrf) = (field("request"), field("csrf"));
        let url = self.app.url("/t/default/login");
        self.post(
            &url,
            &[("request", &request), ("csrf", &csrf), ("username", username), ("password", password)],
        )
        .await
    }
}

pub(crate) fn location(resp: &Response) -> String {
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "expected a redirect");
    resp.headers()["location"].to_str().unwrap().to_string()
}

pub(crate) fn query_of(url: &str) -> HashMap<String, String> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

pub(crate) fn challenge() -> String {
    gatehouse::crypto::sha256_b64(VERIFIER)
}

impl TestApp {
    /// Registers a client; returns (client_id, secret).
    pub(crate) async fn oidc_client(
        &self,
        op: &str,
        tenant: &str,
        kind: &str,
        grants: &[&str],
        extra: Value,
    ) -> (String, Option<String>) {
        let mut body = json!({
            "name": "Test app", "client_type": kind, "redirect_uris": [CB, "http://127.0.0.1/native"],
            "post_logout_redirect_uris": ["https://app.example.com/bye"], "grant_types": grants,
            "scopes": ["openid", "profile", "email", "offline_access", "orders:read"],
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let resp = self.admin_post(op, &format!("/admin/v1/tenants/{tenant}/clients"), &body).await;
        assert_eq!(resp.status(), StatusCode::CREATED, "{}", resp.text().await.unwrap());
        let v: Value = resp.json().await.unwrap();
        (v["client_id"].as_str().unwrap().to_string(), v["client_secret"].as_str().map(str::to_string))
    }

    pub(crate) fn authorize_url(&self, client_id: &str, extra: &[(&str, &str)]) -> String {
        let challenge = challenge();
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", CB),
            ("scope", "openid profile email"),
            ("state", "st-123"),
            ("nonce", "n-456"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in extra {
            params.retain(|(pk, _)| pk != k);
            if !v.is_empty() {
                params.push((k, v));
            }
        }
        let q: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
        self.url(&format!("/t/default/oauth2/authorize?{q}"))
    }

    pub(crate) async fn token_request(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Response {
        let mut req = self.client.post(self.url("/t/default/oauth2/token")).form(form);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        req.send().await.unwrap()
    }

    pub(crate) async fn redeem(&self, client_id: &str, code: &str) -> Response {
        self.token_request(
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", CB),
                ("code_verifier", VERIFIER),
                ("client_id", client_id),
            ],
            None,
        )
        .await
    }

    /// A code for `user`, signing in through the hosted form unless the browser's SSO
    /// session makes that unnecessary.
    pub(crate) async fn code_for(&self, browser: &mut Browser<'_>, client_id: &str, user: &str) -> String {
        let page = browser.get(&self.authorize_url(client_id, &[])).await;
        let resp = if page.status() == StatusCode::SEE_OTHER {
            page
        } else {
            browser.sign_in(page, user, PASSWORD).await
        };
        query_of(&location(&resp))["code"].clone()
    }
}

pub(crate) async fn oauth_error(resp: Response, status: StatusCode, error: &str) -> Value {
    assert_eq!(resp.status(), status);
    if status == StatusCode::BAD_REQUEST {
        assert_eq!(resp.headers()["cache-control"], "no-store");
    }
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string());
    body
}

pub(crate) async fn verify_id_token(app: &TestApp, id_token: &str, client_id: &str) -> Value {
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let jwks: jsonwebtoken::jwk::JwkSet = app
        .client
        .get(app.url("/t/default/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[client_id]);
    v.set_issuer(&[format!("{}/t/default", app.settings.public_url())]);
    jsonwebtoken::decode::<Value>(id_token, &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(), &v)
        .unwrap()
        .claims
}

backend_tests! {
    async fn discovery_lists_every_endpoint(app: TestApp) {
        let d: Value = app.client.get(app.url("/t/default/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        let iss = format!("{}/t/default", app.settings.public_url());
        assert_eq!(d["issuer"], iss);
        for (key, path) in [("authorization_endpoint", "/oauth2/authorize"), ("token_endpoint", "/oauth2/token"),
            ("userinfo_endpoint", "/oauth2/userinfo"), ("jwks_uri", "/.well-known/jwks.json"),
            ("introspection_endpoint", "/oauth2/introspect"), ("revocation_endpoint", "/oauth2/revoke"),
            ("end_session_endpoint", "/oauth2/logout")] {
            assert_eq!(d[key], format!("{iss}{path}"));
        }
        assert_eq!(d["id_token_signing_alg_values_supported"], json!(["RS256"]));
        assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(d["response_types_supported"], json!(["code"]));
        assert_eq!(d["scopes_supported"], json!(["openid", "profile", "email", "offline_access"]));
        assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    }

    async fn the_code_flow_with_pkce_issues_verifiable_tokens(app: TestApp) {
        let op = app.operator().await;
        app.admin_post(&op, "/admin/v1/tenants/default/users", &json!({"username": "ann", "password": PASSWORD, "email": "ann@example.com", "email_verified": true})).await;
        let (client, _) = app.oidc_client(&op, "default", "public", &["authorization_code", "refresh_token"], json!({})).await;
        let mut browser = Browser::new(&app);

        // The hosted login page: no JavaScript needed, locked down by headers.
        let page = browser.get(&app.authorize_url(&client, &[])).await;
        let h = page.headers().clone();
        assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        let resp = browser.sign_in(page, "ann", PASSWORD).await;
        let back = location(&resp);
        assert!(back.starts_with(&format!("{CB}?")));
        let q = query_of(&back);
        assert_eq!(q["state"], "st-123");
        assert_eq!(q["iss"], format!("{}/t/default", app.settings.public_url()));

        let resp = app.redeem(&client, &q["code"]).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let tokens: Value = resp.json().await.unwrap();
        assert_eq!(tokens["token_type"], "Bearer");
        let access = tokens["access_token"].as_str().unwrap();
        let claims = verify_id_token(&app, tokens["id_token"].as_str().unwrap(), &client).await;
        assert_eq!(claims["nonce"], "n-456");
        assert_eq!(claims["at_hash"], gatehouse::oidc::at_hash(access));
        assert_eq!(claims["email"], "ann@example.com");
        assert_eq!(claims["email_verified"], true);
        assert_eq!(claims["preferred_username"], "ann");
        assert!(claims["auth_time"].as_i64().unwrap() <= chrono::Utc::now().timestamp());
        assert!(claims["sid"].is_string());

        let info: Value = app.client.get(app.url("/t/default/oauth2/userinfo")).bearer_auth(access).send().await.unwrap().json().await.unwrap();
        assert_eq!(info["sub"], claims["sub"]);
        assert_eq!(info["email"], "ann@example.com");
        assert_eq!(app.me("default", access).await.status(), StatusCode::OK);
        assert_eq!(TestApp::claims_of(access).client_id.as_deref(), Some(client.as_str()));

        // Refresh rotates, keeps the session, and a replay revokes it.
        let rt = tokens["refresh_token"].as_str().unwrap();
        let refreshed: Value = app.token_request(&[("grant_type", "refresh_token"), ("refresh_token", rt), ("client_id", &client)], None).await.json().await.unwrap();
        let again = verify_id_token(&app, refreshed["id_token"].as_str().unwrap(), &client).await;
        assert_eq!((again["sid"].clone(), again["auth_time"].clone()), (claims["sid"].clone(), claims["auth_time"].clone()));
        tokio::time::sleep(crate::helpers::REUSE_GRACE).await;
        let replay = app.token_request(&[("grant_type", "refresh_token"), ("refresh_token", rt), ("client_id", &client)], None).await;
        oauth_error(replay, StatusCode::BAD_REQUEST, "invalid_grant").await;
        assert_invalid_token(app.me("default", refreshed["access_token"].as_str().unwrap()).await).await;
        // A client's refresh token is not accepted by the first-party endpoint either.
        assert_eq!(app.refresh("default", refreshed["refresh_token"].as_str().unwrap()).await.status(), StatusCode::UNAUTHORIZED);
    }

    async fn a_second_client_of_the_tenant_skips_the_form(app: TestApp) {
        let op = app.operator().await;
        app.user("ann").await;
        let (a, _) = app.oidc_client(&op, "default", "public", &["authorization_code"], json!({})).await;
        let (b, _) = app.oidc_client(&op, "default", "public", &["authorization_code"], json!({})).await;
        let mut browser = Browser::new(&app);
        app.code_for(&mut browser, &a, "ann").await;
        let resp = browser.get(&app.authorize_url(&b, &[])).await;
        let code = query_of(&location(&resp))["code"].clone();
        assert_eq!(app.redeem(&b, &code).await.status(), StatusCode::OK);
        // prompt=login and max_age=0 ask again; prompt=none without a session is an error.
        assert_eq!(browser.get(&app.authorize_url(&b, &[("prompt", "login")])).await.status(), StatusCode::OK);
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(browser.get(&app.authorize_url(&b, &[("max_age", "0")])).await.status(), StatusCode::OK);
        let resp = Browser::new(&app).get(&app.authorize_url(&b, &[("prompt", "none")])).await;
        let q = query_of(&location(&resp));
        assert_eq!((q["error"].as_str(), q["state"].as_str()), ("login_required", "st-123"));
        assert!(q.contains_key("iss"));
    }

    async fn requests_that_cannot_be_trusted_are_shown_as_a_page(app: TestApp) {
        let op = app.operator().await;
        let (client, _) = app.oidc_client(&op, "default", "public", &["authorization_code"], json!({})).await;
        let mut browser = Browser::new(&app);
        let cases = [
            app.authorize_url("no-such-client", &[]),
            app.authorize_url(&client, &[("redirect_uri", "")]),
            app.authorize_url(&client, &[("redirect_uri", "https://app.example.com/cb/extra")]),
            app.authorize_url(&client, &[("redirect_uri", "https://app.example.com/c")]),
            app.authorize_url(&client, &[("redirect_uri", "https://app.example.com:444/cb")]),
            app.authorize_url(&client, &[("redirect_uri", "https://app.example.com/cb#x")]),
            app.authorize_url(&client, &[("redirect_uri", "https://evil@app.example.com/cb")]),
            app.authorize_url(&client, &[("redirect_uri", "https://app.example.com.evil.org/cb")]),
            format!("{}&client_id=again", app.authorize_url(&client, &[])),
        ];
        for url in cases {
            let resp = browser.get(&url).await;
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{url}");
            assert!(resp.headers().get("location").is_none());
            assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        }
        // The loopback rule: any port for a registered loopback IP redirect.
        let native = app.authorize_url(&client, &[("redirect_uri", "http://127.0.0.1:51234/native")]);
        assert_eq!(browser.get(&native).await.status(), StatusCode::OK);
    }

    async fn pages_link_one_served_stylesheet_under_a_strict_csp(app: TestApp) {
        let page = app.client.get(app.url("/t/default/oauth2/logout")).send().await.unwrap();
        let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
        assert!(csp.starts_with("default-src 'none'; style-src 'self' 'nonce-"), "{csp}");
        let html = page.text().await.unwrap();
        assert!(!html.contains(" style=") && !html.contains("<script"), "{html}");
        let href = html.split(r#"<link rel="stylesheet" href=""#).nth(1).unwrap().split('"').next().unwrap();
        let css = app.client.get(app.url(href)).send().await.unwrap();
        assert_eq!(css.status(), StatusCode::OK);
        assert!(css.headers()["content-type"].to_str().unwrap().starts_with("text/css"));
        assert!(css.text().await.unwrap().contains("var(--brand)"));
    }

    async fn later_errors_go_back_to_the_client_with_state_and_iss(app: TestApp) {
        let op = app.operator().await;
        let (public, _) = app.oidc_client(&op, "default", "public", &["authorization_code"], json!({})).await;
        let (service, _) = app.oidc_client(&op, "default", "confidential", &["client_credentials"], json!({})).await;
        let mut browser = Browser::new(&app);
        for (client, extra, error) in [
            (&public, vec![("response_type", "token")], "unsupported_response_type"),
            (&public, vec![("response_type", "")], "invalid_request"),
            (&public, vec![("scope", "openid admin")], "invalid_scope"),
            (&public, vec![("scope", "")], "invalid_scope"),
            (&public, vec![("code_challenge", ""), ("code_challenge_method", "")], "invalid_request"),
            (&public, vec![("code_challenge_method", "plain")], "invalid_request"),
            (&public, vec![("max_age", "soon")], "invalid_request"),
            (&public, vec![("prompt", "none login")], "invalid_request"),
            (&public, vec![("request", "eyJ...")], "request_not_supported"),
            (&service, vec![], "unauthorized_client"),
        ] {
            let resp = browser.get(&app.authorize_url(client, &extra)).await;
            let q = query_of(&location(&resp));
            assert_eq!(q["error"], error, "{extra:?}");
            assert_eq!(q["state"], "st-123");
            assert_eq!(q["iss"], format!("{}/t/default", app.settings.public_url()));
        }
    }

    async fn token_endpoint_errors_follow_rfc_6749(app: TestApp) {
        let op = app.operator().await;
        app.user("ann").await;
        let (public, _) = app.oidc_client(&op, "default", "public", &["authorization_code", "refresh_token"], json!({})).await;
        let (other, _) = app.oidc_client(&op, "default", "public", &["authorization_code"], json!({})).await;
        let (conf, secret) = app.oidc_client(&op, "default", "confidential", &["authorization_code"], json!({})).await;
        let secret = secret.unwrap();
        let mut browser = Browser::new(&app);

        oauth_error(app.token_request(&[("client_id", &public)], None).await, StatusCode::BAD_REQUEST, "invalid_request").await;
        oauth_error(app.token_request(&[("grant_type", "password"), ("client_id", &public)], None).await, StatusCode::BAD_REQUEST, "unsupported_grant_type").await;
        oauth_error(app.token_request(&[("grant_type", "client_credentials"), ("client_id", &public)], None).await, StatusCode::BAD_REQUEST, "unauthorized_client").await;
        let bad = app.token_request(&[("grant_type", "authorization_code"), ("code", "x")], Some((&conf, "wrong"))).await;
        assert!(bad.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
        oauth_error(bad, StatusCode::UNAUTHORIZED, "invalid_client").await;
        let both = app.token_request(&[("grant_type", "authorization_code"), ("code", "x"), ("client_secret", &secret)], Some((&conf, &secret))).await;
        oauth_error(both, StatusCode::BAD_REQUEST, "invalid_request").await;
        oauth_error(app.redeem(&public, "ghc_not-a-real-code").await, StatusCode::BAD_REQUEST, "invalid_grant").await;

        // Wrong verifier, missing verifier, other redirect_uri: each burns the code. Another
        // client's attempt changes nothing (tests/api/oauth_refusals.rs).
        let code = app.code_for(&mut browser, &public, "ann").await;
        let wrong = app.token_request(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB),
            ("code_verifier", &format!("{VERIFIER}x")), ("client_id", &public)], None).await;
        oauth_error(wrong, StatusCode::BAD_REQUEST, "invalid_grant").await;
        let code = app.code_for(&mut browser, &public, "ann").await;
        let missing = app.token_request(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB), ("client_id", &public)], None).await;
        oauth_error(missing, StatusCode::BAD_REQUEST, "invalid_grant").await;
        let code = app.code_for(&mut browser, &public, "ann").await;
        let elsewhere = app.token_request(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", "http://127.0.0.1/native"),
            ("code_verifier", VERIFIER), ("client_id", &public)], None).await;
        oauth_error(elsewhere, StatusCode::BAD_REQUEST, "invalid_grant").await;
        let code = app.code_for(&mut browser, &public, "ann").await;
        oauth_error(app.redeem(&other, &code).await, StatusCode::BAD_REQUEST, "invalid_grant").await;
        assert_eq!(app.redeem(&public, &code).await.status(), StatusCode::OK);

        // A reused code fails and revokes what the first redemption got.
        let code = app.code_for(&mut browser, &public, "ann").await;
        let first: Value = app.redeem(&public, &code).await.json().await.unwrap();
        oauth_error(app.redeem(&public, &code).await, StatusCode::BAD_REQUEST, "invalid_grant").await;
        assert_invalid_token(app.me("default", first["access_token"].as_str().unwrap()).await).await;
        let rt = first["refresh_token"].as_str().unwrap();
        oauth_error(app.token_request(&[("grant_type", "refresh_token"), ("refresh_token", rt), ("client_id", &public)], None).await, StatusCode::BAD_REQUEST, "invalid_grant").await;

        // A confidential client authenticates with client_secret_basic or client_secret_post.
        let page = browser.get(&app.authorize_url(&conf, &[])).await;
        let code = query_of(&location(&page))["code"].clone();
        let ok = app.token_request(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB), ("code_verifier", VERIFIER)], Some((&conf, &secret))).await;
        assert_eq!(ok.status(), StatusCode::OK);
        let page = browser.get(&app.authorize_url(&conf, &[])).await;
        let code = query_of(&location(&page))["code"].clone();
        let ok = app.token_request(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB), ("code_verifier", VERIFIER),
            ("client_id", &conf), ("client_secret", &secret)], None).await;
        assert_eq!(ok.status(), StatusCode::OK);
    }

    async fn concurrent_redemptions_of_one_code_give_one_success(app: TestApp) {
        let op = app.operator().await;
        app.user("ann").await;
        let (client, _) = app.oidc_client(&op, "default", "public", &["authorization_code", "refresh_token"], json!({})).await;
        let mut browser = Browser::new(&app);
        // Several rounds: a race that is lost only sometimes must still be caught.
        for round in 0..4 {
            let code = app.code_for(&mut browser, &client, "ann").await;
            let results = futures::future::join_all((0..8).map(|_| app.redeem(&client, &code))).await;
            let ok = results.iter().filter(|r| r.status() == StatusCode::OK).count();
            assert_eq!(ok, 1, "round {round}");
            for lost in results.into_iter().filter(|r| r.status() != StatusCode::OK) {
                oauth_error(lost, StatusCode::BAD_REQUEST, "invalid_grant").await;
            }
        }
    }

    async fn client_credentials_gives_service_tokens_without_refresh(app: TestApp) {
        let op = app.operator().await;
        let (svc, secret) = app.oidc_client(&op, "default", "confidential", &["client_credentials"], json!({})).await;
        let secret = secret.unwrap();
        let resp = app.token_request(&[("grant_type", "client_credentials"), ("scope", "orders:read")], Some((&svc, &secret))).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value = resp.json().await.unwrap();
        assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
        assert_eq!(body["scope"], "orders:read");
        let access = body["access_token"].as_str().unwrap();
        assert_eq!(TestApp::claims_of(access).sub, svc);
        assert_invalid_token(app.me("default", access).await).await;
        let bad = app.token_request(&[("grant_type", "client_credentials"), ("scope", "openid")], Some((&svc, &secret))).await;
        oauth_error(bad, StatusCode::BAD_REQUEST, "invalid_scope").await;
        let intro: Value = app.client.post(app.url("/t/default/oauth2/introspect")).basic_auth(&svc, Some(&secret))
            .form(&[("token", access)]).send().await.unwrap().json().await.unwrap();
        assert_eq!((intro["active"].as_bool(), intro["client_id"].as_str()), (Some(true), Some(svc.as_str())));
    }

    async fn client_credentials_tokens_and_their_introspection_leave_out_absent_claims(app: TestApp) {
        let op = app.operator().await;
        let (scoped, scoped_secret) = app.oidc_client(&op, "default", "confidential", &["client_credentials"], json!({})).await;
        // Only standard scopes, none of which a client-credentials token can carry: no scope at all.
        let (bare, bare_secret) = app
            .oidc_client(&op, "default", "confidential", &["client_credentials"], json!({"scopes": ["openid"]}))
            .await;
        for (client, secret, scope) in [(&scoped, scoped_secret.unwrap(), Some("orders:read")), (&bare, bare_secret.unwrap(), None)] {
            let resp = app.token_request(&[("grant_type", "client_credentials")], Some((client, &secret))).await;
            assert_eq!(resp.status(), StatusCode::OK);
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["scope"].as_str(), scope, "{body}");
            let access = body["access_token"].as_str().unwrap();
            let payload: Value = serde_json::from_slice(
                &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, access.split('.').nth(1).unwrap()).unwrap(),
            )
            .unwrap();
            assert!(payload.get("sid").is_none(), "{payload}");
            assert_eq!(payload.get("scope").and_then(Value::as_str), scope, "{payload}");
            assert!(payload.as_object().unwrap().values().all(|v| v != "" && !v.is_null()), "{payload}");
            let intro: Value = app.client.post(app.url("/t/default/oauth2/introspect")).basic_auth(client, Some(&secret))
                .form(&[("token", access)]).send().await.unwrap().json().await.unwrap();
            assert_eq!(intro["active"], true);
            assert!(intro.get("sid").is_none() && intro.get("username").is_none(), "{intro}");
            assert_eq!(intro.get("scope").and_then(Value::as_str), scope, "{intro}");
            assert!(intro.as_object().unwrap().values().all(|v| v != "" && !v.is_null()), "{intro}");
        }
    }

    async fn introspection_reports_only_live_tokens_of_this_tenant(app: TestApp) {
        let op = app.operator().await;
        let (rs, secret) = app.oidc_client(&op, "default", "confidential", &["client_credentials"], json!({})).await;
        let secret = secret.unwrap();
        let introspect = |token: String| {
            app.client.post(app.url("/t/default/oauth2/introspect")).basic_auth(&rs, Some(&secret)).form(&[("token", token)]).send()
        };
        let t = app.user("ann").await;
        let live: Value = introspect(t.access.clone()).await.unwrap().json().await.unwrap();
        assert_eq!((live["active"].as_bool(), live["username"].as_str(), live["token_type"].as_str()), (Some(true), Some("ann"), Some("Bearer")));
        let rt: Value = introspect(t.refresh.clone()).await.unwrap().json().await.unwrap();
        assert_eq!((rt["active"].as_bool(), rt["token_type"].as_str()), (Some(true), Some("refresh_token")));
        app.create_open_tenant("acme").await;
        app.register("acme", "bob").await;
        let foreign = app.login("acme", "bob").await;
        for token in [foreign.access, "garbage".into(), "ghr_nope".into()] {
            let body: Value = introspect(token).await.unwrap().json().await.unwrap();
            assert_eq!(body, json!({"active": false}));
        }
        app.logout("default", &t.access, false).await;
        for token in [t.access, t.refresh] {
            assert_eq!(introspect(token).await.unwrap().json::<Value>().await.unwrap(), json!({"active": false}));
        }
        let anonymous = app.client.post(app.url("/t/default/oauth2/introspect")).form(&[("token", "x"), ("client_id", rs.as_str())]).send().await.unwrap();
        oauth_error(anonymous, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }

    async fn revocation_ends_the_clients_own_tokens_only(app: TestApp) {
        let op = app.operator().await;
        app.user("ann").await;
        let (client, _) = app.oidc_client(&op, "default", "public", &["authorization_code", "refresh_token"], json!({})).await;
        let (other, _) = app.oidc_client(&op, "default", "public", &["authorization_code"], json!({})).await;
        let mut browser = Browser::new(&app);
        let revoke = |token: String, client: String| {
            app.client.post(app.url("/t/default/oauth2/revoke")).form(&[("token", token), ("client_id", client)]).send()
        };
        let code = app.code_for(&mut browser, &client, "ann").await;
        let tokens: Value = app.redeem(&client, &code).await.json().await.unwrap();
        let (access, refresh) = (tokens["access_token"].as_str().unwrap().to_string(), tokens["refresh_token"].as_str().unwrap().to_string());
        oauth_error(revoke(access.clone(), other.clone()).await.unwrap(), StatusCode::BAD_REQUEST, "unauthorized_client").await;
        assert_eq!(app.me("default", &access).await.status(), StatusCode::OK, "another client cannot revoke it");
        assert_eq!(revoke(access.clone(), client.clone()).await.unwrap().status(), StatusCode::OK);
        assert_invalid_token(app.me("default", &access).await).await;
        assert_eq!(revoke(refresh.clone(), client.clone()).await.unwrap().status(), StatusCode::OK);
        let r = app.token_request(&[("grant_type", "refresh_token"), ("refresh_token", &refresh), ("client_id", &client)], None).await;
        oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
        assert_eq!(revoke("unknown-token".into(), client.clone()).await.unwrap().status(), StatusCode::OK);
    }

    async fn logout_ends_the_sso_session_and_its_grants(app: TestApp) {
        let op = app.operator().await;
        app.user("ann").await;
        let (client, _) = app.oidc_client(&op, "default", "public", &["authorization_code", "refresh_token"], json!({})).await;
        let mut browser = Browser::new(&app);
        let code = app.code_for(&mut browser, &client, "ann").await;
        let tokens: Value = app.redeem(&client, &code).await.json().await.unwrap();
        let id_token = tokens["id_token"].as_str().unwrap();

        let unregistered = app.url(&format!("/t/default/oauth2/logout?id_token_hint={id_token}&post_logout_redirect_uri=https://evil.example/x"));
        assert_eq!(browser.get(&unregistered).await.status(), StatusCode::BAD_REQUEST);
        let no_hint = browser.get(&app.url("/t/default/oauth2/logout")).await;
        assert_eq!(no_hint.status(), StatusCode::OK, "asks for confirmation");
        assert!(no_hint.text().await.unwrap().contains("Sign out?"));

        let url = app.url(&format!("/t/default/oauth2/logout?id_token_hint={id_token}&post_logout_redirect_uri=https://app.example.com/bye&state=s9"));
        let resp = browser.get(&url).await;
        assert_eq!(location(&resp), "https://app.example.com/bye?state=s9");
        assert!(browser.cookies.keys().all(|k| !k.starts_with("gh_sso_")), "the SSO cookie is cleared");
        assert_invalid_token(app.me("default", tokens["access_token"].as_str().unwrap()).await).await;
        let log: Value = app.admin_get(&op, "/admin/v1/tenants/default/audit-events?type=logout").await.json().await.unwrap();
        let event = &log["items"][0];
        assert_eq!(event["details"]["via"], "end_session_endpoint", "{log}");
        assert!(event["user_id"].is_string(), "the signed-out user is named: {event}");
        let r = app.token_request(&[("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap()), ("client_id", &client)], None).await;
        oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
        assert_eq!(browser.get(&app.authorize_url(&client, &[])).await.status(), StatusCode::OK, "the form is shown again");
    }

    async fn the_hosted_form_resists_csrf_and_does_not_reveal_usernames(app: TestApp) {
        let op = app.operator().await;
        app.user("ann").await;
        let (client, _) = app.oidc_client(&op, "default", "public", &["authorization_code"], json!({})).await;
        let mut browser = Browser::new(&app);
        let page = browser.get(&app.authorize_url(&client, &[])).await;
        let html = page.text().await.unwrap();
        assert!(html.contains(r#"<form method="POST" action="/t/default/login">"#));
        let grab = |name: &str| {
            let m = format!(r#"name="{name}" value=""#);
            html[html.find(&m).unwrap() + m.len()..].split('"').next().unwrap().to_string()
        };
        let (request, csrf) = (grab("request"), grab("csrf"));
        let login = app.url("/t/default/login");
        // Without the cookie (a cross-site post) or with another token: refused.
        let resp = app.client.post(&login).form(&[("request", request.as_str()), ("csrf", csrf.as_str()), ("username", "ann"), ("password", PASSWORD)]).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let resp = browser.post(&login, &[("request", &request), ("csrf", "forged"), ("username", "ann"), ("password", PASSWORD)]).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        // Wrong password and unknown user: the same page apart from the echoed username.
        let wrong = browser.post(&login, &[("request", &request), ("csrf", &csrf), ("username", "ann"), ("password", "not it at all")]).await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        let wrong = wrong.text().await.unwrap().replace(r#"value="ann""#, r#"value="""#);
        let unknown = browser.post(&login, &[("request", &request), ("csrf", &csrf), ("username", "zed"), ("password", "not it at all")]).await;
        assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
        let unknown = unknown.text().await.unwrap().replace(r#"value="zed""#, r#"value="""#);
        let strip_nonce = |s: &str| s.split("nonce=\"").map(|p| p.split_once('"').map_or(p, |(_, rest)| rest)).collect::<String>();
        assert_eq!(strip_nonce(&wrong), strip_nonce(&unknown));
        assert!(wrong.contains("Invalid username or password."));
        // Markup in the echoed username is escaped.
        let xss = browser.post(&login, &[("request", &request), ("csrf", &csrf), ("username", "<script>x</script>"), ("password", "p")]).await;
        assert!(!xss.text().await.unwrap().contains("<script>x"));
        // The right password still works on the same form.
        let ok = browser.post(&login, &[("request", &request), ("csrf", &csrf), ("username", "ann"), ("password", PASSWORD)]).await;
        assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    }

    async fn clients_and_codes_do_not_cross_tenants(app: TestApp) {
        let op = app.operator().await;
        app.user("ann").await;
        app.api_tenant(&op, "acme").await;
        let (client, _) = app.oidc_client(&op, "default", "public", &["authorization_code"], json!({})).await;
        let mut browser = Browser::new(&app);
        let at_acme = app.authorize_url(&client, &[]).replace("/t/default/", "/t/acme/");
        assert_eq!(browser.get(&at_acme).await.status(), StatusCode::BAD_REQUEST);
        let code = app.code_for(&mut browser, &client, "ann").await;
        let resp = app.client.post(app.url("/t/acme/oauth2/token")).form(&[("grant_type", "authorization_code"), ("code", &code),
            ("redirect_uri", CB), ("code_verifier", VERIFIER), ("client_id", &client)]).send().await.unwrap();
        oauth_error(resp, StatusCode::UNAUTHORIZED, "invalid_client").await;
        assert_eq!(app.redeem(&client, &code).await.status(), StatusCode::OK, "the code still works where it belongs");
    }

    async fn disabling_a_client_kills_its_tokens_at_once(app: TestApp) {
        let op = app.operator().await;
        app.user("ann").await;
        let (client, secret) = app.oidc_client(&op, "default", "confidential", &["authorization_code", "refresh_token", "client_credentials"], json!({})).await;
        let secret = secret.unwrap();
        let mut browser = Browser::new(&app);
        let page = browser.get(&app.authorize_url(&client, &[])).await;
        let code = query_of(&location(&browser.sign_in(page, "ann", PASSWORD).await))["code"].clone();
        let user_tokens: Value = app.token_request(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB), ("code_verifier", VERIFIER)], Some((&client, &secret))).await.json().await.unwrap();
        let service: Value = app.token_request(&[("grant_type", "client_credentials")], Some((&client, &secret))).await.json().await.unwrap();
        let first_party = app.login("default", "ann").await;

        let resp = app.admin_patch(&op, &format!("/admin/v1/tenants/default/clients/{client}"), &json!({"enabled": false})).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_invalid_token(app.me("default", user_tokens["access_token"].as_str().unwrap()).await).await;
        let rt = user_tokens["refresh_token"].as_str().unwrap();
        let r = app.token_request(&[("grant_type", "refresh_token"), ("refresh_token", rt)], Some((&client, &secret))).await;
        oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
        let intro = app.token_request(&[("grant_type", "client_credentials")], Some((&client, &secret))).await;
        oauth_error(intro, StatusCode::UNAUTHORIZED, "invalid_client").await;
        // The user's own first-party session is not the client's to end.
        assert_eq!(app.me("default", &first_party.access).await.status(), StatusCode::OK);
        let (rs, rs_secret) = app.oidc_client(&op, "default", "confidential", &["client_credentials"], json!({})).await;
        let body: Value = app.client.post(app.url("/t/default/oauth2/introspect")).basic_auth(&rs, rs_secret.as_deref())
            .form(&[("token", service["access_token"].as_str().unwrap())]).send().await.unwrap().json().await.unwrap();
        assert_eq!(body, json!({"active": false}));
    }
}
