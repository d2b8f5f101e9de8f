//! Passwordless sign-in by a mailed link or code through the hosted OIDC flow, against a
//! real SMTP server: bound to the browser that asked, spent only by a POST, enumeration-safe,
//! and the tokens say `amr: ["email"]`.
use std::time::Duration;

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    email::{SmtpServer, app_without_verification_mail, code_in, link_in},
    helpers::*,
    oidc::{Browser, location, query_of},
};

/// An app whose `default` tenant offers email sign-in, a public client, and `ann` with an address.
pub(crate) async fn setup(smtp: &SmtpServer, backend: Backend) -> (TestApp, String) {
    let app = app_without_verification_mail(backend, smtp).await;
    let op = app.operator().await;
    let resp = app
        .admin_post(
            &op,
            "/admin/v1/tenants/default/providers",
            &json!({ "provider_id": "email", "kind": "email", "display_name": "Email", "configuration": {} }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED, "{}", resp.text().await.unwrap());
    let (client, _) = app.oidc_client(&op, "default", "public", &["authorization_code"], json!({})).await;
    let resp = app
        .post_json(
            "/t/default/auth/register",
            &json!({ "username": "ann", "password": PASSWORD, "email": "ann@example.test" }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    (app, client)
}

pub(crate) fn hidden(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} in {html}")) + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// Opens the client's authorization request and asks for a sign-in mail to `email`; returns
/// the "check your inbox" page and the form fields.
pub(crate) async fn ask_for_mail(
    app: &TestApp,
    browser: &mut Browser<'_>,
    client: &str,
    email: &str,
) -> (String, String, String) {
    let page = browser.get(&app.authorize_url(client, &[])).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<label for="email">Email address</label>"#), "{html}");
    assert!(html.contains("Email me a sign-in link and code"));
    let (request, csrf) = (hidden(&html, "request"), hidden(&html, "csrf"));
    let resp = browser
        .post_with(
            &app.url("/t/default/login/email"),
            &[("request", &request), ("csrf", &csrf), ("email", email)],
            &[],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    (resp.text().await.unwrap(), request, csrf)
}

fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Redeems the code of a redirect and returns the ID token's and access token's claims.
async fn tokens_of(app: &TestApp, client: &str, redirect: &reqwest::Response) -> (Value, Value) {
    let to = location(redirect);
    assert!(to.starts_with(crate::oidc::CB), "{to}");
    let params = query_of(&to);
    assert_eq!(params["state"], "st-123");
    let resp = app.redeem(client, &params["code"]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    (payload(body["id_token"].as_str().unwrap()), payload(body["access_token"].as_str().unwrap()))
}

backend_tests! {
    async fn a_magic_link_signs_in_the_asking_browser_only_and_only_by_post(app: TestApp) {
        let smtp = SmtpServer::start().await;
        let (app, client) = setup(&smtp, app.backend).await;
        let mut browser = Browser::new(&app);
        let (page, _, _) = ask_for_mail(&app, &mut browser, &client, "ANN@example.test").await;
        assert!(page.contains("Check your inbox") && page.contains(r#"<label for="code">Code from the email</label>"#));
        let mail = smtp.wait_for(1).await;
        assert!(mail[0].contains("Subject: Sign in to Default"), "{}", mail[0]);
        let (url, token) = link_in(&mail[0], "account/email-sign-in");

        // Another browser (no binding cookie): a clear page, no sign-in, nothing spent.
        let mut other = Browser::new(&app);
        let seen = other.get(&url).await;
        assert_eq!(seen.status(), StatusCode::FORBIDDEN);
        assert!(seen.text().await.unwrap().contains("Open the link where you asked for it"));
        let posted = other.post_with(&app.url("/t/default/account/email-sign-in"), &[("token", &token)], &[]).await;
        assert_eq!(posted.status(), StatusCode::FORBIDDEN);
        assert!(posted.headers().get("location").is_none());

        // GETs (a mail scanner, the user reloading) show a button and spend nothing.
        for _ in 0..2 {
            let shown = browser.get(&url).await;
            assert_eq!(shown.status(), StatusCode::OK);
            let html = shown.text().await.unwrap();
            assert!(html.contains(r#"<button type="submit">Sign in</button>"#), "{html}");
            assert!(html.contains(r#"action="/t/default/account/email-sign-in""#));
        }
        let signed_in = browser.post_with(&app.url("/t/default/account/email-sign-in"), &[("token", &token)], &[]).await;
        let (id, access) = tokens_of(&app, &client, &signed_in).await;
        assert_eq!(id["amr"], json!(["email"]), "{id}");
        assert_eq!(access["amr"], json!(["email"]), "{access}");
        assert!(!id.to_string().contains("mfa"));
        assert_eq!(id["nonce"], "n-456");

        // Spent: the same link fails, and the browser's SSO session now skips the form.
        let again = browser.post_with(&app.url("/t/default/account/email-sign-in"), &[("token", &token)], &[]).await;
        assert_eq!(again.status(), StatusCode::BAD_REQUEST);
        assert!(again.text().await.unwrap().contains("This link does not work any more"));
        let sso = browser.get(&app.authorize_url(&client, &[])).await;
        assert_eq!(sso.status(), StatusCode::SEE_OTHER);

        // Signing in by mail proved the address.
        let user = app.login("default", "ann").await;
        let me: Value = app.me("default", &user.access).await.json().await.unwrap();
        assert_eq!(me["email_verified"], true);
    }

    async fn a_mailed_code_signs_in_where_it_was_asked_for(app: TestApp) {
        let smtp = SmtpServer::start().await;
        let (app, client) = setup(&smtp, app.backend).await;
        let mut browser = Browser::new(&app);
        let (_, request, csrf) = ask_for_mail(&app, &mut browser, &client, "ann@example.test").await;
        let mail = smtp.wait_for(1).await;
        let code = code_in(&mail[0]);
        let url = app.url("/t/default/login/email/code");
        let form = |c: &str| vec![("request", request.clone()), ("csrf", csrf.clone()), ("email", "ann@example.test".to_string()), ("code", c.to_string())];
        let wrong = if code.starts_with('0') { "1111-1111" } else { "0000-0000" };
        let refused = browser.post_with(&url, &form(wrong).iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>(), &[]).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert!(refused.text().await.unwrap().contains("That code is wrong, used or expired"));
        let ok = browser.post_with(&url, &form(&code).iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>(), &[]).await;
        let (id, _) = tokens_of(&app, &client, &ok).await;
        assert_eq!(id["amr"], json!(["email"]));
        // The password sign-in says `pwd`.
        let mut second = Browser::new(&app);
        let page = second.get(&app.authorize_url(&client, &[])).await;
        let resp = second.sign_in(page, "ann", PASSWORD).await;
        let (id, _) = tokens_of(&app, &client, &resp).await;
        assert_eq!(id["amr"], json!(["pwd"]));
    }

    async fn unknown_addresses_get_the_same_page_and_no_mail(app: TestApp) {
        let smtp = SmtpServer::start().await;
        let (app, client) = setup(&smtp, app.backend).await;
        let mut browser = Browser::new(&app);
        let (known, _, _) = ask_for_mail(&app, &mut browser, &client, "ann@example.test").await;
        smtp.wait_for(1).await;
        let (unknown, _, _) = ask_for_mail(&app, &mut Browser::new(&app), &client, "nobody@example.test").await;
        let strip = |html: &str| {
            html.replace(&hidden(html, "request"), "").replace(&hidden(html, "csrf"), "").replace("nobody@example.test", "ann@example.test")
        };
        let nonce = |html: &str| html.split("nonce=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
        assert_eq!(strip(&known).replace(&nonce(&known), ""), strip(&unknown).replace(&nonce(&unknown), ""));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(smtp.messages().len(), 1, "no mail for an unknown address");
    }

    async fn without_the_email_strategy_the_page_offers_no_mail(app: TestApp) {
        let op = app.operator().await;
        let (client, _) = app.oidc_client(&op, "default", "public", &["authorization_code"], json!({})).await;
        let mut browser = Browser::new(&app);
        let html = browser.get(&app.authorize_url(&client, &[])).await.text().await.unwrap();
        assert!(!html.contains("Email me a sign-in link"));
        let options: Value = app.client.get(app.url("/t/default/providers")).send().await.unwrap().json().await.unwrap();
        assert_eq!(options["email"], false, "{options}");
        let resp = browser
            .post_with(&app.url("/t/default/login/email"), &[("request", &hidden(&html, "request")), ("csrf", &hidden(&html, "csrf")), ("email", "a@b.test")], &[])
            .await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
}

/// Chromium through the whole flow, with axe-core on every page (`tests/interop/email_sign_in.mjs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_signs_in_by_a_mailed_link() {
    let smtp = SmtpServer::start().await;
    let (app, _) = setup(&smtp, Backend::PostgresRedis).await;
    let op = app.operator().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let body = json!({
        "name": "Browser app", "client_type": "public", "redirect_uris": [format!("http://127.0.0.1:{port}/callback")],
        "grant_types": ["authorization_code"], "scopes": ["openid"],
    });
    let created: Value =
        app.admin_post(&op, "/admin/v1/tenants/default/clients", &body).await.json().await.unwrap();
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let link_file = std::env::temp_dir().join(format!("gatehouse-link-{}", uuid::Uuid::new_v4().simple()));
    let env = [
        ("ISSUER", format!("{}/t/default", app.settings.public_url())),
        ("CLIENT_ID", created["client_id"].as_str().unwrap().to_string()),
        ("CALLBACK_PORT", port.to_string()),
        ("EMAIL", "ann@example.test".into()),
        ("TENANT_NAME", "Default".into()),
        ("SCREENSHOT_DIR", shots.display().to_string()),
        ("LINK_FILE", link_file.display().to_string()),
    ];
    let node = tokio::task::spawn_blocking(move || crate::interop::run_node("email_sign_in.mjs", &env));
    let mail = smtp.wait_for(1).await;
    let (url, _) = link_in(&mail[0], "account/email-sign-in");
    std::fs::write(&link_file, url).unwrap();
    node.await.unwrap();
    let _ = std::fs::remove_file(&link_file);
}
