//! External providers as strategies, against real upstreams: the certified `oidc-provider`
//! npm package (tests/interop/op.mjs, a real OpenID provider on loopback) and a local server
//! that behaves like GitHub's OAuth2 and user API. Each test drives the browser's side with
//! plain HTTP requests, so it can tamper with what a browser carries.
use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
};

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::{
    helpers::{Backend, PASSWORD, TestApp, backend_tests, problem},
    oidc::{Browser, CB, challenge, location, query_of},
};

const OP_CLIENT: &str = "gatehouse";
const OP_SECRET: &str = "upstream-client-secret-for-the-tests-0123456789";

/// A real OpenID provider in a Node process, killed when dropped.
pub(crate) struct OpenIdProvider {
    child: Child,
    pub(crate) issuer: String,
}

impl Drop for OpenIdProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OpenIdProvider {
    async fn start(redirect_uri: &str) -> Self {
        Self::start_on(redirect_uri, 0).await
    }

    /// On a given port (0: any), e.g. to restart the issuer with new keys.
    async fn start_on(redirect_uri: &str, port: u16) -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "tests/interop has no node_modules: run `npm ci --prefix tests/interop` (scripts/test does)"
        );
        let redirect = redirect_uri.to_string();
        tokio::task::spawn_blocking(move || {
            let mut child = Command::new("node")
                .arg(dir.join("op.mjs"))
                .env("CLIENT_ID", OP_CLIENT)
                .env("CLIENT_SECRET", OP_SECRET)
                .env("REDIRECT_URIS", redirect)
                .env("PORT", port.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run node (Node.js 20+ is required): {e}"));
            let mut line = String::new();
            let mut out = BufReader::new(child.stdout.take().unwrap());
            out.read_line(&mut line).unwrap();
            // Keep draining, or the provider dies of EPIPE on its next write.
            std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
            let port = line.strip_prefix("READY ").unwrap_or_else(|| panic!("op.mjs said {line:?}")).trim();
            Self { issuer: format!("http://127.0.0.1:{port}"), child }
        })
        .await
        .unwrap()
    }

    /// The account the next sign-in at the provider will be.
    pub(crate) async fn next_account(&self, claims: Value) {
        let resp = reqwest::Client::new()
            .post(format!("{}/_test/next-account", self.issuer))
            .json(&claims)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    }
}

pub(crate) fn callback_of(app: &TestApp, provider: &str) -> String {
    format!("{}/t/default/auth/{provider}/callback", app.settings.public_url())
}

pub(crate) async fn add_provider(app: &TestApp, op: &str, body: Value) -> Value {
    let resp = app.admin_post(op, "/admin/v1/tenants/default/providers", &body).await;
    assert_eq!(resp.status(), StatusCode::CREATED, "{}", resp.text().await.unwrap());
    resp.json().await.unwrap()
}

/// Gatehouse with a public client app and an `oidc` provider `corp` pointing at a fresh
/// upstream. Returns (operator token, client id, upstream).
pub(crate) async fn with_corp_provider(app: &TestApp) -> (String, String, OpenIdProvider) {
    let op = app.operator().await;
    let upstream = OpenIdProvider::start(&callback_of(app, "corp")).await;
    let created = add_provider(
        app,
        &op,
        json!({
            "provider_id": "corp", "kind": "oidc", "display_name": "Corp SSO",
            "configuration": {"issuer": upstream.issuer, "client_id": OP_CLIENT},
            "secrets": {"client_secret": OP_SECRET},
        }),
    )
    .await;
    assert_eq!(created["callback_url"], callback_of(app, "corp"));
    assert_eq!(created["secret_keys"], json!(["client_secret"]));
    let (client_id, _) = app.oidc_client(&op, "default", "public", &["authorization_code"], json!({})).await;
    (op, client_id, upstream)
}

/// `/t/default/auth/{provider}/start` with a whole authorization request, as an app that
/// draws its own "Continue with..." button sends it.
pub(crate) fn start_url(app: &TestApp, provider: &str, client_id: &str) -> String {
    let challenge = challenge();
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", CB),
            ("scope", "openid profile email"),
            ("state", "app-state"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .finish();
    app.url(&format!("/t/default/auth/{provider}/start?{q}"))
}

/// Follows the browser from `start` through the upstream until it is sent back to our
/// callback, whose URL is returned; `upstream` may rewrite the first upstream URL.
pub(crate) async fn to_callback(
    browser: &mut Browser<'_>,
    start: &str,
    upstream: impl FnOnce(String) -> String,
) -> String {
    let ours = browser.app_url();
    let resp = browser.get(start).await;
    let mut url = upstream(location(&resp));
    for _ in 0..12 {
        if url.contains("/callback?") && url.starts_with(&ours) {
            return url;
        }
        let resp = browser.get(&url).await;
        assert!(resp.status().is_redirection(), "{} at {url}: {}", resp.status(), resp.text().await.unwrap());
        let next = resp.headers()["location"].to_str().unwrap().to_string();
        url = url::Url::parse(&url).unwrap().join(&next).unwrap().to_string();
    }
    panic!("the upstream never sent the browser back");
}

/// The tokens from a callback that sent the browser to the app with a code.
pub(crate) async fn tokens_from(app: &TestApp, client_id: &str, resp: Response) -> Value {
    let back = location(&resp);
    assert!(back.starts_with(CB), "{back}");
    let q = query_of(&back);
    assert_eq!(q["state"], "app-state");
    let resp = app.redeem(client_id, &q["code"]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

async fn me(app: &TestApp, tokens: &Value) -> Value {
    let resp = app.me("default", tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

pub(crate) async fn error_page(resp: Response, status: StatusCode, says: &str) -> String {
    assert_eq!(resp.status(), status);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = resp.text().await.unwrap();
    assert!(html.contains(says), "expected {says:?} in {html}");
    html
}

backend_tests! {
    async fn a_new_user_is_provisioned_then_found_again_by_subject(app: TestApp) {
        let (_, client_id, upstream) = with_corp_provider(&app).await;
        upstream
            .next_account(json!({"sub": "u-100", "email": "Pat@Corp.example", "email_verified": true,
                "preferred_username": "pat", "name": "Pat Doe"}))
            .await;
        // From the hosted login page's button, as a user would.
        let mut browser = Browser::new(&app);
        let page = browser.get(&app.authorize_url(&client_id, &[("state", "app-state")])).await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        let href = html.split("href=\"").skip(1).map(|h| h.split('"').next().unwrap()).find(|h| h.contains("/auth/corp/start")).unwrap_or_else(|| panic!("no Corp SSO button in {html}"));
        assert!(html.contains("Continue with Corp SSO"));
        let callback = to_callback(&mut browser, &app.url(href), |u| u).await;
        let tokens = tokens_from(&app, &client_id, browser.get(&callback).await).await;
        let user = me(&app, &tokens).await;
        assert_eq!(user["username"], "pat");
        assert_eq!(user["email"], "pat@corp.example");
        assert_eq!(user["email_verified"], true);
        let ids: Value = app.client.get(app.url("/t/default/me/identities")).bearer_auth(tokens["access_token"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
        assert_eq!(ids["items"][0]["provider_id"], "corp");
        assert_eq!(ids["items"][0]["subject"], "u-100");
        assert_eq!(ids["items"][0]["provider_name"], "Corp SSO");

        // Later, from another browser, with a changed upstream profile: the same user.
        upstream.next_account(json!({"sub": "u-100", "email": "pat.doe@corp.example", "preferred_username": "patd"})).await;
        let mut other = Browser::new(&app);
        let callback = to_callback(&mut other, &start_url(&app, "corp", &client_id), |u| u).await;
        let again = me(&app, &tokens_from(&app, &client_id, other.get(&callback).await).await).await;
        assert_eq!(again["id"], user["id"]);
        assert_eq!(again["username"], "pat", "the username is ours once provisioned");
    }

    async fn a_verified_email_links_to_the_existing_user_only_when_the_policy_allows(app: TestApp) {
        let (op, client_id, upstream) = with_corp_provider(&app).await;
        let body = json!({"username": "lee", "password": PASSWORD, "email": "lee@corp.example", "email_verified": true});
        let lee: Value = app.admin_post(&op, "/admin/v1/tenants/default/users", &body).await.json().await.unwrap();
        let account = json!({"sub": "u-200", "email": "lee@corp.example", "email_verified": true, "preferred_username": "lee2"});

        // Default policy: explicit linking only, so the match is refused and nothing is created.
        upstream.next_account(account.clone()).await;
        let before = app.stored_state().await;
        let mut browser = Browser::new(&app);
        let callback = to_callback(&mut browser, &start_url(&app, "corp", &client_id), |u| u).await;
        error_page(browser.get(&callback).await, StatusCode::CONFLICT, "already exists").await;
        assert_eq!(app.stored_state().await, before, "no user, session or token was created");

        let resp = app.admin_patch(&op, "/admin/v1/tenants/default", &json!({"settings": {"account_linking": "verified_email"}})).await;
        assert_eq!(resp.status(), StatusCode::OK);
        upstream.next_account(account).await;
        let mut browser = Browser::new(&app);
        let callback = to_callback(&mut browser, &start_url(&app, "corp", &client_id), |u| u).await;
        let user = me(&app, &tokens_from(&app, &client_id, browser.get(&callback).await).await).await;
        assert_eq!(user["id"], lee["id"], "signed in as the existing user");
    }

    async fn an_unverified_email_never_links_and_opens_no_session(app: TestApp) {
        let (op, client_id, upstream) = with_corp_provider(&app).await;
        app.admin_patch(&op, "/admin/v1/tenants/default", &json!({"settings": {"account_linking": "verified_email"}})).await;
        let body = json!({"username": "kim", "password": PASSWORD, "email": "kim@corp.example", "email_verified": true});
        assert_eq!(app.admin_post(&op, "/admin/v1/tenants/default/users", &body).await.status(), StatusCode::CREATED);
        for verified in [json!(false), Value::Null] {
            let mut account = json!({"sub": "attacker", "email": "KIM@corp.example", "preferred_username": "kim"});
            if !verified.is_null() {
                account["email_verified"] = verified;
            }
            upstream.next_account(account).await;
            let before = app.stored_state().await;
            let mut browser = Browser::new(&app);
            let callback = to_callback(&mut browser, &start_url(&app, "corp", &client_id), |u| u).await;
            let resp = browser.get(&callback).await;
            assert!(resp.headers().get_all("set-cookie").iter().all(|c| !c.to_str().unwrap().starts_with("gh_sso_default=") || c.to_str().unwrap().starts_with("gh_sso_default=;")));
            error_page(resp, StatusCode::CONFLICT, "already exists").await;
            assert_eq!(app.stored_state().await, before);
        }
        // The refused upstream account is named in the audit log.
        let log: Value = app.admin_get(&op, "/admin/v1/tenants/default/audit-events?type=login.failed").await.json().await.unwrap();
        let failed = log["items"].as_array().unwrap();
        assert_eq!(failed.len(), 2);
        assert!(failed.iter().all(|e| e["details"]["subject"] == "attacker" && e["details"]["provider"] == "corp"));
    }

    async fn tampered_state_other_browsers_and_replays_are_refused(app: TestApp) {
        let (_, client_id, upstream) = with_corp_provider(&app).await;
        upstream.next_account(json!({"sub": "u-300", "preferred_username": "sam"})).await;
        let mut browser = Browser::new(&app);
        let callback = to_callback(&mut browser, &start_url(&app, "corp", &client_id), |u| u).await;
        let state = query_of(&callback)["state"].clone();
        let before = app.stored_state().await;

        let tampered = callback.replace(&state, &format!("{state}x"));
        error_page(browser.get(&tampered).await, StatusCode::BAD_REQUEST, "expired or was already used").await;
        let mut stranger = Browser::new(&app);
        error_page(stranger.get(&callback).await, StatusCode::FORBIDDEN, "another browser").await;
        assert_eq!(app.stored_state().await, before);

        // The browser that started it still finishes, once.
        let tokens = tokens_from(&app, &client_id, browser.get(&callback).await).await;
        assert_eq!(me(&app, &tokens).await["username"], "sam");
        error_page(browser.get(&callback).await, StatusCode::BAD_REQUEST, "expired or was already used").await;
    }

    async fn a_nonce_changed_on_the_way_is_rejected(app: TestApp) {
        let (_, client_id, upstream) = with_corp_provider(&app).await;
        upstream.next_account(json!({"sub": "u-400", "preferred_username": "nia"})).await;
        let before = app.stored_state().await;
        let mut browser = Browser::new(&app);
        let swap_nonce = |u: String| {
            let mut url = url::Url::parse(&u).unwrap();
            let pairs: Vec<(String, String)> = url.query_pairs().into_owned().map(|(k, v)| if k == "nonce" { (k, "attacker-nonce".into()) } else { (k, v) }).collect();
            url.query_pairs_mut().clear().extend_pairs(pairs);
            url.to_string()
        };
        let callback = to_callback(&mut browser, &start_url(&app, "corp", &client_id), swap_nonce).await;
        error_page(browser.get(&callback).await, StatusCode::BAD_REQUEST, "could not be verified").await;
        assert_eq!(app.stored_state().await, before);
    }

    async fn an_issuer_key_rotation_is_picked_up_from_discovery(app: TestApp) {
        let (_, client_id, upstream) = with_corp_provider(&app).await;
        upstream.next_account(json!({"sub": "u-700", "preferred_username": "kai"})).await;
        let mut browser = Browser::new(&app);
        let callback = to_callback(&mut browser, &start_url(&app, "corp", &client_id), |u| u).await;
        let first = me(&app, &tokens_from(&app, &client_id, browser.get(&callback).await).await).await;

        // The issuer restarts with a new signing key; Gatehouse still holds the old JWKS.
        let port: u16 = upstream.issuer.rsplit(':').next().unwrap().parse().unwrap();
        drop(upstream);
        let upstream = OpenIdProvider::start_on(&callback_of(&app, "corp"), port).await;
        upstream.next_account(json!({"sub": "u-700"})).await;
        let mut browser = Browser::new(&app);
        let callback = to_callback(&mut browser, &start_url(&app, "corp", &client_id), |u| u).await;
        let again = me(&app, &tokens_from(&app, &client_id, browser.get(&callback).await).await).await;
        assert_eq!(again["id"], first["id"], "the ID token under the new key verified after rediscovery");
    }

    async fn disabling_a_provider_mid_flow_stops_the_sign_in(app: TestApp) {
        let (op, client_id, upstream) = with_corp_provider(&app).await;
        upstream.next_account(json!({"sub": "u-500", "preferred_username": "dee"})).await;
        let mut browser = Browser::new(&app);
        let callback = to_callback(&mut browser, &start_url(&app, "corp", &client_id), |u| u).await;
        let resp = app.admin_patch(&op, "/admin/v1/tenants/default/providers/corp", &json!({"enabled": false})).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let before = app.stored_state().await;
        error_page(browser.get(&callback).await, StatusCode::BAD_REQUEST, "not available any more").await;
        assert_eq!(app.stored_state().await, before);
        // Gone from the sign-in options and the login page at once, without a restart.
        let options: Value = app.client.get(app.url("/t/default/providers")).send().await.unwrap().json().await.unwrap();
        assert_eq!(options["providers"], json!([]));
        let resp = browser.get(&start_url(&app, "corp", &client_id)).await;
        error_page(resp, StatusCode::NOT_FOUND, "not available").await;
    }

    async fn explicit_linking_and_unlinking_from_a_signed_in_user(app: TestApp) {
        let (_, client_id, upstream) = with_corp_provider(&app).await;
        app.register("default", "rio").await;
        let local = app.login("default", "rio").await;
        let link_path = "/t/default/me/identities/corp/link";
        let resp = app.client.post(app.url(link_path)).bearer_auth(&local.access).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        let started: Value = resp.json().await.unwrap();
        upstream.next_account(json!({"sub": "u-600", "email": "someone@else.example", "email_verified": true})).await;
        let mut browser = Browser::new(&app);
        let callback = to_callback(&mut browser, started["authorization_url"].as_str().unwrap(), |u| u).await;
        error_page(browser.get(&callback).await, StatusCode::OK, "is now linked").await;
        // The ticket was single use.
        let replay = browser.get(started["authorization_url"].as_str().unwrap()).await;
        error_page(replay, StatusCode::BAD_REQUEST, "expired or was already used").await;

        // Signing in through the provider now gives rio.
        upstream.next_account(json!({"sub": "u-600"})).await;
        let mut other = Browser::new(&app);
        let callback = to_callback(&mut other, &start_url(&app, "corp", &client_id), |u| u).await;
        let user = me(&app, &tokens_from(&app, &client_id, other.get(&callback).await).await).await;
        assert_eq!(user["username"], "rio");

        // Linking a second account of the same provider is refused; unlinking works (rio has a password).
        let resp = app.client.post(app.url(link_path)).bearer_auth(&local.access).send().await.unwrap();
        problem(resp, StatusCode::CONFLICT).await;
        let resp = app.client.delete(app.url("/t/default/me/identities/corp")).bearer_auth(&local.access).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let ids: Value = app.client.get(app.url("/t/default/me/identities")).bearer_auth(&local.access).send().await.unwrap().json().await.unwrap();
        assert_eq!(ids["items"], json!([]));
        let resp = app.client.delete(app.url("/t/default/me/identities/corp")).bearer_auth(&local.access).send().await.unwrap();
        assert_eq!(problem(resp, StatusCode::NOT_FOUND).await["code"], "identity_not_found");
    }

    async fn a_github_style_oauth2_provider_uses_the_primary_verified_email(app: TestApp) {
        let op = app.operator().await;
        let github = FakeGitHub::start().await;
        let created = add_provider(&app, &op, json!({
            "provider_id": "github", "kind": "github", "display_name": "GitHub",
            "configuration": {
                "client_id": "gh-client",
                "authorization_url": format!("{}/login/oauth/authorize", github.url),
                "token_url": format!("{}/login/oauth/access_token", github.url),
                "userinfo_url": format!("{}/user", github.url),
                "emails_url": format!("{}/user/emails", github.url),
            },
            "secrets": {"client_secret": "gh-secret"},
        })).await;
        assert_eq!(created["kind"], "github");
        let (client_id, _) = app.oidc_client(&op, "default", "public", &["authorization_code"], json!({})).await;
        let mut browser = Browser::new(&app);
        let callback = to_callback(&mut browser, &start_url(&app, "github", &client_id), |u| u).await;
        let tokens = tokens_from(&app, &client_id, browser.get(&callback).await).await;
        let user = me(&app, &tokens).await;
        assert_eq!(user["username"], "octo-cat");
        assert_eq!(user["email"], "octo@example.com", "the primary address, not the public one");
        assert_eq!(user["email_verified"], true);
        assert!(github.saw_pkce_and_secret(), "the code exchange carried the PKCE verifier and the client secret");

        // The only way octo-cat can sign in: unlinking it is refused.
        let access = tokens["access_token"].as_str().unwrap();
        let resp = app.client.delete(app.url("/t/default/me/identities/github")).bearer_auth(access).send().await.unwrap();
        assert_eq!(problem(resp, StatusCode::CONFLICT).await["code"], "last_login_method");
    }

    async fn provider_configurations_are_checked_and_changes_apply_at_once(app: TestApp) {
        let op = app.operator().await;
        let path = "/admin/v1/tenants/default/providers";
        for (body, field) in [
            (json!({"provider_id": "x", "kind": "oidc", "display_name": "X", "configuration": {"issuer": "http://idp.example.com", "client_id": "c"}}), "configuration.issuer"),
            (json!({"provider_id": "x", "kind": "oidc", "display_name": "X", "configuration": {"issuer": "https://idp.example.com"}}), "configuration"),
            (json!({"provider_id": "x", "kind": "github", "display_name": "X", "configuration": {"client_id": "c"}}), "secrets"),
            (json!({"provider_id": "x", "kind": "microsoft", "display_name": "X", "configuration": {"client_id": "c"}, "secrets": {"client_secret": "s"}}), "configuration.directory_tenant"),
            (json!({"provider_id": "x", "kind": "oauth2", "display_name": "X", "configuration": {"client_id": "c", "authorization_url": "https://a.example/auth", "token_url": "https://a.example/token", "userinfo_url": "https://a.example/me", "surprise": 1}}), "configuration"),
        ] {
            let before = app.admin_get(&op, path).await.text().await.unwrap();
            let p = problem(app.admin_post(&op, path, &body).await, StatusCode::BAD_REQUEST).await;
            assert_eq!(p["field"], field, "{body}: {p}");
            assert_eq!(app.admin_get(&op, path).await.text().await.unwrap(), before, "nothing stored");
        }
        add_provider(&app, &op, json!({"provider_id": "google", "kind": "google", "display_name": "Google",
            "configuration": {"client_id": "c.apps.googleusercontent.com"}, "secrets": {"client_secret": "s"}})).await;
        let options: Value = app.client.get(app.url("/t/default/providers")).send().await.unwrap().json().await.unwrap();
        assert_eq!(options["password"], true);
        assert_eq!(options["providers"][0]["provider_id"], "google");
        assert_eq!(options["providers"][0]["start_url"], format!("{}/t/default/auth/google/start", app.settings.public_url()));
        // Editing it into something unusable is refused and leaves it as it was.
        let p = problem(app.admin_patch(&op, &format!("{path}/google"), &json!({"secrets": {"client_secret": null}})).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(p["field"], "secrets");
        assert_eq!(app.admin_get(&op, &format!("{path}/google")).await.json::<Value>().await.unwrap()["secret_keys"], json!(["client_secret"]));
        // Turning the password strategy off closes every password path at once.
        app.register("default", "val").await;
        assert_eq!(app.admin_patch(&op, &format!("{path}/local"), &json!({"enabled": false})).await.status(), StatusCode::OK);
        assert_eq!(problem(app.login_raw("default", "val", PASSWORD).await, StatusCode::FORBIDDEN).await["code"], "forbidden");
        let options: Value = app.client.get(app.url("/t/default/providers")).send().await.unwrap().json().await.unwrap();
        assert_eq!(options["password"], false);
        assert_eq!(app.admin_delete(&op, &format!("{path}/google")).await.status(), StatusCode::NO_CONTENT);
        let options: Value = app.client.get(app.url("/t/default/providers")).send().await.unwrap().json().await.unwrap();
        assert_eq!(options["providers"], json!([]));
    }
}

/// An unreachable upstream (nothing listening) and a hanging one (accepts, never answers):
/// both end in a clear page with a way back, bounded by the upstream timeout, and a hanging
/// provider of one tenant does not hold up sign-ins elsewhere.
async fn upstream_outages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let op = app.operator().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let hanging = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hanging_url = format!("http://{}", hanging.local_addr().unwrap());
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = hanging.accept().await {
            keep.lock().unwrap().push(socket);
        }
    });
    for (id, issuer) in [("down", &closed_url), ("slow", &hanging_url)] {
        add_provider(
            &app,
            &op,
            json!({"provider_id": id, "kind": "oidc", "display_name": format!("{id} IdP"),
            "configuration": {"issuer": issuer, "client_id": "c"}}),
        )
        .await;
    }
    let (client_id, _) = app.oidc_client(&op, "default", "public", &["authorization_code"], json!({})).await;
    let mut browser = Browser::new(&app);
    let page = browser.get(&app.authorize_url(&client_id, &[])).await;
    let html = page.text().await.unwrap();
    let request = html.split("request=").nth(1).unwrap().split('"').next().unwrap().to_string();
    let resp = browser.get(&app.url(&format!("/t/default/auth/down/start?request={request}"))).await;
    let html = error_page(resp, StatusCode::BAD_GATEWAY, "down IdP cannot be reached").await;
    assert!(html.contains(&format!("/t/default/login?request={request}")), "a way back: {html}");
    // The way back shows the form again.
    assert_eq!(
        browser.get(&app.url(&format!("/t/default/login?request={request}"))).await.status(),
        StatusCode::OK
    );

    let slow_start = app.url(&format!("/t/default/auth/slow/start?request={request}"));
    let client = app.client.clone();
    let slow = tokio::spawn(async move { client.get(slow_start).send().await.unwrap() });
    app.create_open_tenant("elsewhere").await;
    app.register("elsewhere", "ola").await;
    app.login("elsewhere", "ola").await;
    assert!(!slow.is_finished(), "the other tenant's sign-in finished while the provider still hangs");
    error_page(slow.await.unwrap(), StatusCode::BAD_GATEWAY, "slow IdP cannot be reached").await;
    assert!(!held.lock().unwrap().is_empty(), "the hanging provider was really called");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_outages_give_a_clear_page_postgres_redis() {
    upstream_outages(Backend::PostgresRedis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_outages_give_a_clear_page_sqlite_memory() {
    upstream_outages(Backend::SqliteMemory).await;
}

/// Provider changes reach every instance without a restart (invalidation over Redis).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_changes_reach_other_instances_at_once() {
    let a = TestApp::spawn(Backend::PostgresRedis).await;
    let b = a.spawn_sibling().await;
    let options = |app: &TestApp| {
        let req = app.client.get(app.url("/t/default/providers"));
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(options(&b).await["providers"], json!([]), "b has loaded the tenant");
    let op = a.operator().await;
    add_provider(
        &a,
        &op,
        json!({"provider_id": "google", "kind": "google", "display_name": "Google",
        "configuration": {"client_id": "c"}, "secrets": {"client_secret": "s"}}),
    )
    .await;
    let mut seen = Value::Null;
    for _ in 0..50 {
        seen = options(&b).await["providers"].clone();
        if seen != json!([]) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(seen[0]["provider_id"], "google", "b lists the new provider without a restart");
    assert_eq!(
        a.admin_delete(&op, "/admin/v1/tenants/default/providers/google").await.status(),
        StatusCode::NO_CONTENT
    );
    for _ in 0..50 {
        seen = options(&b).await["providers"].clone();
        if seen == json!([]) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(seen, json!([]), "b forgot the deleted provider");
}

/// GitHub's OAuth2 endpoints and user API as far as Gatehouse uses them: codes bound to the
/// PKCE challenge, a token only for the right secret and verifier, `/user` with a public
/// email that is not the primary one, and `/user/emails`.
struct FakeGitHub {
    url: String,
    seen: Arc<Mutex<bool>>,
}

impl FakeGitHub {
    async fn start() -> Self {
        use poem::{
            EndpointExt, IntoResponse, Route, get, handler,
            http::StatusCode as S,
            listener::{Acceptor, Listener, TcpListener},
            post,
            web::{Data, Form, Query},
        };
        type Codes = Arc<Mutex<std::collections::HashMap<String, String>>>;

        #[handler]
        fn authorize(
            Query(q): Query<std::collections::HashMap<String, String>>,
            Data(codes): Data<&Codes>,
        ) -> poem::Response {
            let code = format!("code-{}", codes.lock().unwrap().len());
            codes.lock().unwrap().insert(code.clone(), q["code_challenge"].clone());
            let back = format!("{}?code={code}&state={}", q["redirect_uri"], q["state"]);
            poem::Response::builder().status(S::FOUND).header("location", back).finish()
        }

        #[handler]
        fn token(
            req: &poem::Request,
            Form(f): Form<std::collections::HashMap<String, String>>,
            Data(codes): Data<&Codes>,
            Data(seen): Data<&Arc<Mutex<bool>>>,
        ) -> poem::Response {
            use base64::Engine;
            let basic = base64::engine::general_purpose::STANDARD.encode("gh-client:gh-secret");
            let auth_ok = req.header("authorization") == Some(&format!("Basic {basic}"))
                || (f.get("client_id").map(String::as_str) == Some("gh-client")
                    && f.get("client_secret").map(String::as_str) == Some("gh-secret"));
            let challenge =
                codes.lock().unwrap().remove(f.get("code").map(String::as_str).unwrap_or_default());
            let pkce_ok = challenge.is_some_and(|c| {
                f.get("code_verifier").is_some_and(|v| gatehouse::crypto::sha256_b64(v) == c)
            });
            if !(auth_ok && pkce_ok) {
                return poem::web::Json(json!({"error": "bad_verification_code"}))
                    .with_status(S::BAD_REQUEST)
                    .into_response();
            }
            *seen.lock().unwrap() = true;
            poem::web::Json(
                json!({"access_token": "gho_test", "token_type": "bearer", "scope": "read:user,user:email"}),
            )
            .into_response()
        }

        fn authorized(req: &poem::Request) -> bool {
            req.header("authorization") == Some("Bearer gho_test")
        }

        #[handler]
        fn user(req: &poem::Request) -> poem::Response {
            if !authorized(req) {
                return S::UNAUTHORIZED.into_response();
            }
            poem::web::Json(json!({"id": 583231, "login": "octo-cat", "name": "The Octocat",
                "avatar_url": "https://avatars.example/u/583231", "email": "public@example.com"}))
            .into_response()
        }

        #[handler]
        fn emails(req: &poem::Request) -> poem::Response {
            if !authorized(req) {
                return S::UNAUTHORIZED.into_response();
            }
            poem::web::Json(json!([
                {"email": "public@example.com", "primary": false, "verified": false},
                {"email": "octo@example.com", "primary": true, "verified": true},
            ]))
            .into_response()
        }

        let codes: Codes = Arc::default();
        let seen = Arc::new(Mutex::new(false));
        let routes = Route::new()
            .at("/login/oauth/authorize", get(authorize))
            .at("/login/oauth/access_token", post(token))
            .at("/user", get(user))
            .at("/user/emails", get(emails))
            .data(codes)
            .data(seen.clone());
        let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
        let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(routes));
        Self { url: format!("http://{addr}"), seen }
    }

    fn saw_pkce_and_secret(&self) -> bool {
        *self.seen.lock().unwrap()
    }
}
