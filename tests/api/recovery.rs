//! Password reset and email verification end to end, against a real SMTP server (aiosmtpd):
//! the mail arrives, its link or code works once, and nothing tells an unknown address from a
//! known one.
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    email::{SmtpServer, code_in, link_in},
    helpers::*,
    oidc::{Browser, location},
};

const NEW_PASSWORD: &str = "a brand new passphrase";

async fn app_with(
    backend: Backend,
    smtp: &SmtpServer,
    tune: impl FnOnce(&mut gatehouse::config::Settings),
) -> TestApp {
    let url = smtp.url();
    TestApp::spawn_tuned(backend, move |s| {
        s.email.smtp_url = Some(gatehouse::config::Secret::new(url));
        s.email.from = "no-reply@gatehouse.test".into();
        s.email.poll_interval_ms = 100;
        s.email.retry_base_ms = 200;
        s.email.smtp_timeout_secs = 5;
        tune(s);
    })
    .await
}

/// The first message to `to` whose subject starts with `subject`, waiting up to 10 s.
pub async fn mail_to(smtp: &SmtpServer, to: &str, subject: &str) -> String {
    for _ in 0..100 {
        let found = smtp
            .messages()
            .into_iter()
            .find(|m| m.contains(&format!("To: {to}")) && m.contains(&format!("Subject: {subject}")));
        if let Some(m) = found {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no mail {subject:?} to {to}; have {:?}", smtp.messages());
}

async fn register(app: &TestApp, name: &str) -> String {
    let email = format!("{name}@example.test");
    let resp = app
        .post_json(
            "/t/default/auth/register",
            &json!({"username": name, "password": PASSWORD, "email": email}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    email
}

async fn me(app: &TestApp, name: &str, password: &str) -> Value {
    let resp = app.login_raw("default", name, password).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let access = resp.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    app.me("default", &access).await.json().await.unwrap()
}

/// The CSRF cookie (`name=value`) and form token of a hosted recovery page.
async fn page_csrf(resp: reqwest::Response) -> (String, String, String) {
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.contains("gh_acsrf_"))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let html = resp.text().await.unwrap();
    let at = html.find(r#"name="csrf" value=""#).unwrap() + 19;
    let csrf = html[at..].split('"').next().unwrap().to_string();
    (cookie, csrf, html)
}

fn field(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} in {html}")) + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

async fn post_form(app: &TestApp, path: &str, cookie: &str, form: &[(&str, &str)]) -> reqwest::Response {
    app.client.post(app.url(path)).header("cookie", cookie).form(form).send().await.unwrap()
}

backend_tests! {
    async fn registration_mails_a_link_that_verifies_the_address(app: TestApp) {
        let smtp = SmtpServer::start().await;
        let app = app_with(app.backend, &smtp, |_| {}).await;
        let email = register(&app, "ann").await;
        let mail = mail_to(&smtp, &email, "Confirm your email address for Default").await;
        let (url, token) = link_in(&mail, "account/verify-email");
        assert!(url.starts_with(&app.settings.public_url()));
        assert_eq!(me(&app, "ann", PASSWORD).await["email_verified"], false);
        // A mail scanner fetching the link twice spends nothing.
        for _ in 0..2 {
            let page = app.client.get(&url).send().await.unwrap();
            assert_eq!(page.status(), StatusCode::OK);
            assert_eq!(page.headers()["referrer-policy"], "no-referrer");
            assert!(page.text().await.unwrap().contains("Confirm email address"));
        }
        let resp = app.post_json("/t/default/auth/email/verify", &json!({"token": token})).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        assert_eq!(me(&app, "ann", PASSWORD).await["email_verified"], true);
        let again = app.post_json("/t/default/auth/email/verify", &json!({"token": token})).await;
        assert_eq!(problem(again, StatusCode::BAD_REQUEST).await["code"], "invalid_action_token");
    }

    async fn the_required_policy_holds_tokens_until_the_address_is_verified(app: TestApp) {
        let smtp = SmtpServer::start().await;
        let app = app_with(app.backend, &smtp, |_| {}).await;
        let op = app.operator().await;
        let patch = json!({"settings": {"email": {"verification": "required"}}});
        let resp = app.admin_patch(&op, "/admin/v1/tenants/default", &patch).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.json::<Value>().await.unwrap()["settings"]["email"]["verification"], "required");
        let email = register(&app, "bob").await;
        let refused = app.login_raw("default", "bob", PASSWORD).await;
        assert_eq!(problem(refused, StatusCode::FORBIDDEN).await["code"], "email_not_verified");
        // A wrong password still says only that.
        let wrong = app.login_raw("default", "bob", "not the password at all").await;
        assert_eq!(problem(wrong, StatusCode::UNAUTHORIZED).await["code"], "invalid_credentials");
        let mail = mail_to(&smtp, &email, "Confirm your email address").await;
        let code = code_in(&mail);
        let bad = app.post_json("/t/default/auth/email/verify", &json!({"email": email, "code": "0000-000"})).await;
        assert_eq!(problem(bad, StatusCode::BAD_REQUEST).await["code"], "invalid_action_token");
        let ok = app.post_json("/t/default/auth/email/verify", &json!({"email": email, "code": code})).await;
        assert_eq!(ok.status(), StatusCode::NO_CONTENT);
        assert_eq!(me(&app, "bob", PASSWORD).await["email_verified"], true);
    }

    async fn a_forgotten_password_is_reset_by_link_and_the_old_one_stops_working(app: TestApp) {
        let smtp = SmtpServer::start().await;
        let app = app_with(app.backend, &smtp, |_| {}).await;
        let email = register(&app, "carol").await;
        let old_session = app.login("default", "carol").await;
        for _ in 0..5 {
            app.login_raw("default", "carol", "wrong guess of a password").await;
        }
        assert_eq!(app.login_raw("default", "carol", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
        let resp = app.post_json("/t/default/auth/password/forgot", &json!({"email": email})).await;
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        let mail = mail_to(&smtp, &email, "Reset your Default password").await;
        let (url, token) = link_in(&mail, "account/reset-password");
        // Fetching the link (a scanner) shows the form and spends nothing.
        let page = app.client.get(&url).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.text().await.unwrap().contains(r#"name="token""#));
        // The policy applies and a refused password leaves the token usable.
        let short = app.post_json("/t/default/auth/password/reset", &json!({"token": token, "password": "short"})).await;
        assert_eq!(short.status(), StatusCode::BAD_REQUEST);
        let done = app.post_json("/t/default/auth/password/reset", &json!({"token": token, "password": NEW_PASSWORD})).await;
        assert_eq!(done.status(), StatusCode::NO_CONTENT);
        assert_eq!(app.login_raw("default", "carol", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
        // The lock is lifted and the reset verified the address it went to.
        assert_eq!(me(&app, "carol", NEW_PASSWORD).await["email_verified"], true);
        assert_eq!(app.refresh("default", &old_session.refresh).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.me("default", &old_session.access).await.status(), StatusCode::UNAUTHORIZED);
        mail_to(&smtp, &email, "Your Default password was changed").await;
        let reused = app.post_json("/t/default/auth/password/reset", &json!({"token": token, "password": "yet another passphrase"})).await;
        assert_eq!(problem(reused, StatusCode::BAD_REQUEST).await["code"], "invalid_action_token");
        // The audit log has the request, the mail, the reset and the refused reuse.
        let op = app.operator().await;
        let log = |kind: &'static str| {
            let (app, op) = (&app, &op);
            async move {
                let path = format!("/admin/v1/tenants/default/audit-events?type={kind}");
                let v: Value = app.admin_get(op, &path).await.json().await.unwrap();
                v["items"].as_array().unwrap().iter().map(|e| e["outcome"].as_str().unwrap().to_string()).collect::<Vec<_>>()
            }
        };
        assert_eq!(log("password_reset.requested").await, ["success"]);
        assert_eq!(log("password_reset.sent").await, ["success"]);
        let mut completed = log("password_reset.completed").await;
        completed.sort();
        assert_eq!(completed, ["failure", "success"]);
    }

    async fn unknown_addresses_get_the_same_answer_and_no_mail(app: TestApp) {
        let smtp = SmtpServer::start().await;
        let app = app_with(app.backend, &smtp, |s| s.email.poll_interval_ms = 50).await;
        let email = register(&app, "dan").await;
        mail_to(&smtp, &email, "Confirm your email address").await;
        for path in ["/t/default/auth/password/forgot", "/t/default/auth/email/resend"] {
            let known = app.post_json(path, &json!({"email": email})).await;
            let unknown = app.post_json(path, &json!({"email": "nobody@example.test"})).await;
            assert_eq!((known.status(), unknown.status()), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
            assert_eq!(known.headers().get("content-type"), unknown.headers().get("content-type"));
            assert_eq!(known.bytes().await.unwrap(), unknown.bytes().await.unwrap(), "{path}");
        }
        mail_to(&smtp, &email, "Reset your Default password").await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let all = smtp.messages();
        assert_eq!(all.len(), 3, "verification, reset and a second verification: {all:?}");
        assert!(all.iter().all(|m| !m.contains("nobody@example.test")));
    }

    async fn a_code_resets_once_and_wrong_or_expired_secrets_fail(app: TestApp) {
        let smtp = SmtpServer::start().await;
        let app = app_with(app.backend, &smtp, |s| s.email.reset_ttl_secs = 3).await;
        let email = register(&app, "erin").await;
        app.post_json("/t/default/auth/password/forgot", &json!({"email": email})).await;
        let mail = mail_to(&smtp, &email, "Reset your Default password").await;
        let code = code_in(&mail);
        let wrong = if code == "1111-1111" { "2222-2222" } else { "1111-1111" };
        let bad = app.post_json("/t/default/auth/password/reset", &json!({"email": email, "code": wrong, "password": NEW_PASSWORD})).await;
        assert_eq!(problem(bad, StatusCode::BAD_REQUEST).await["code"], "invalid_action_token");
        let ok = app.post_json("/t/default/auth/password/reset", &json!({"email": email, "code": code, "password": NEW_PASSWORD})).await;
        assert_eq!(ok.status(), StatusCode::NO_CONTENT);
        let reused = app.post_json("/t/default/auth/password/reset", &json!({"email": email, "code": code, "password": PASSWORD})).await;
        assert_eq!(reused.status(), StatusCode::BAD_REQUEST);
        assert_eq!(app.login_raw("default", "erin", NEW_PASSWORD).await.status(), StatusCode::OK);
        // A second request; its link and code expire unused.
        app.post_json("/t/default/auth/password/forgot", &json!({"email": email})).await;
        let mut second = None;
        for _ in 0..100 {
            second = smtp.messages().into_iter().find(|m| m.contains("Subject: Reset your") && *m != mail);
            if second.is_some() { break; }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let second = &second.expect("a second reset mail");
        let (_, token) = link_in(second, "account/reset-password");
        tokio::time::sleep(Duration::from_millis(3200)).await;
        let late = app.post_json("/t/default/auth/password/reset", &json!({"token": token, "password": PASSWORD})).await;
        assert_eq!(late.status(), StatusCode::BAD_REQUEST);
        let late = app.post_json("/t/default/auth/password/reset", &json!({"email": email, "code": code_in(second), "password": PASSWORD})).await;
        assert_eq!(late.status(), StatusCode::BAD_REQUEST);
        assert_eq!(app.login_raw("default", "erin", NEW_PASSWORD).await.status(), StatusCode::OK);
    }

    async fn the_hosted_reset_pages_work_with_the_link_and_refuse_forms_without_csrf(app: TestApp) {
        let smtp = SmtpServer::start().await;
        let app = app_with(app.backend, &smtp, |_| {}).await;
        let email = register(&app, "fay").await;
        let form = app.client.get(app.url("/t/default/account/forgot-password")).send().await.unwrap();
        assert_eq!(form.headers()["referrer-policy"], "no-referrer");
        let (cookie, csrf, _) = page_csrf(form).await;
        let missing = post_form(&app, "/t/default/account/forgot-password", &cookie, &[("email", &email)]).await;
        assert_eq!(missing.status(), StatusCode::FORBIDDEN);
        let asked = post_form(&app, "/t/default/account/forgot-password", &cookie, &[("csrf", &csrf), ("email", &email)]).await;
        assert_eq!(asked.status(), StatusCode::OK);
        assert!(asked.text().await.unwrap().contains("Code from the email"));
        let mail = mail_to(&smtp, &email, "Reset your Default password").await;
        let (url, token) = link_in(&mail, "account/reset-password");
        let page = app.client.get(&url).send().await.unwrap();
        let (cookie, csrf, html) = page_csrf(page).await;
        assert!(html.contains("New password"));
        let done = post_form(&app, "/t/default/account/reset-password", &cookie, &[("csrf", &csrf), ("token", &token), ("password", NEW_PASSWORD)]).await;
        assert_eq!(done.status(), StatusCode::OK);
        assert!(done.text().await.unwrap().contains("Your password was changed."));
        let spent = app.client.get(&url).send().await.unwrap();
        assert_eq!(spent.status(), StatusCode::BAD_REQUEST);
        assert!(spent.text().await.unwrap().contains("Send a new link"));
        assert_eq!(app.login_raw("default", "fay", NEW_PASSWORD).await.status(), StatusCode::OK);
    }

    async fn admins_send_mail_mark_addresses_verified_and_see_the_outbox(app: TestApp) {
        let smtp = SmtpServer::start().await;
        let app = app_with(app.backend, &smtp, |s| s.limits.mail_per_address_per_hour = 2).await;
        let op = app.operator().await;
        let email = register(&app, "gus").await;
        let users: Value = app.admin_get(&op, "/admin/v1/tenants/default/users?username=gus").await.json().await.unwrap();
        let id = users["items"][0]["id"].as_str().unwrap().to_string();
        let base = format!("/admin/v1/tenants/default/users/{id}");
        let sent = app.admin_post(&op, &format!("{base}/send-verification"), &json!({})).await;
        assert_eq!(sent.status(), StatusCode::ACCEPTED);
        // Registration and this mail used the address's verification budget of two.
        let over = app.admin_post(&op, &format!("{base}/send-verification"), &json!({})).await;
        assert_eq!(problem(over, StatusCode::TOO_MANY_REQUESTS).await["code"], "mail_throttled");
        // Each kind of mail has its own budget: a reset still goes out.
        let sent = app.admin_post(&op, &format!("{base}/send-password-reset"), &json!({})).await;
        assert_eq!(sent.status(), StatusCode::ACCEPTED);
        mail_to(&smtp, &email, "Reset your Default password").await;
        let marked = app.admin_post(&op, &format!("{base}/verify-email"), &json!({})).await;
        assert_eq!(marked.json::<Value>().await.unwrap()["email_verified"], true);
        let again = app.admin_post(&op, &format!("{base}/send-verification"), &json!({})).await;
        assert_eq!(problem(again, StatusCode::CONFLICT).await["code"], "email_already_verified");
        let mut listed = Value::Null;
        for _ in 0..50 {
            listed = app.admin_get(&op, "/admin/v1/tenants/default/outbox").await.json().await.unwrap();
            if listed["items"].as_array().unwrap().iter().all(|m| m["status"] == "sent") { break; }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let items = listed["items"].as_array().unwrap();
        let kinds: Vec<&str> = items.iter().map(|m| m["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["reset_password", "verify_email", "verify_email"], "{listed}");
        assert!(items.iter().all(|m| m["status"] == "sent" && m["recipient"] == email.as_str() && m["attempts"] == 1));
        let text = listed.to_string();
        assert!(!text.contains("token=") && !text.contains("body"), "{text}");
        // A tenant admin of another tenant sees none of it.
        app.api_tenant(&op, "other").await;
        let stranger = app.tenant_admin(&op, "other", "olga").await;
        let refused = app.admin_get(&stranger, "/admin/v1/tenants/default/outbox").await;
        assert!(matches!(refused.status(), StatusCode::FORBIDDEN | StatusCode::NOT_FOUND), "{}", refused.status());
        let refused = app.admin_post(&stranger, &format!("{base}/send-password-reset"), &json!({})).await;
        assert!(matches!(refused.status(), StatusCode::FORBIDDEN | StatusCode::NOT_FOUND));
    }

    async fn a_hosted_sign_in_waits_for_the_address_then_continues(app: TestApp) {
        let smtp = SmtpServer::start().await;
        let app = app_with(app.backend, &smtp, |_| {}).await;
        let op = app.operator().await;
        let patch = json!({"settings": {"email": {"verification": "required"}}});
        assert_eq!(app.admin_patch(&op, "/admin/v1/tenants/default", &patch).await.status(), StatusCode::OK);
        let email = register(&app, "hal").await;
        let first = mail_to(&smtp, &email, "Confirm your email address").await;
        let (client, _) = app.oidc_client(&op, "default", "public", &["authorization_code"], json!({})).await;
        let mut browser = Browser::new(&app);
        let form = browser.get(&app.authorize_url(&client, &[])).await;
        let held = browser.sign_in(form, "hal", PASSWORD).await;
        assert_eq!(held.status(), StatusCode::FORBIDDEN);
        let html = held.text().await.unwrap();
        assert!(html.contains("<h1>Check your inbox</h1>") && html.contains("Send a new email"), "{html}");
        let (request, csrf) = (field(&html, "request"), field(&html, "csrf"));
        let resend = app.url("/t/default/account/verify-email/resend");
        // Pages reached from mail send no referrer, so browsers post with `Origin: null`:
        // Sec-Fetch-Site decides, and another site is refused.
        let cross = [("sec-fetch-site", "cross-site"), ("origin", "null")];
        let refused = browser.post_with(&resend, &[("csrf", &csrf), ("request", &request)], &cross).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let ours = [("sec-fetch-site", "same-origin"), ("origin", "null")];
        let sent = browser.post_with(&resend, &[("csrf", &csrf), ("request", &request)], &ours).await;
        assert_eq!(sent.status(), StatusCode::OK);
        assert!(sent.text().await.unwrap().contains("We sent you a new email"));
        let all = smtp.wait_for(2).await;
        let code = code_in(all.iter().find(|m| **m != first).unwrap());
        let verify = app.url("/t/default/account/verify-email");
        let wrong = browser.post_with(&verify, &[("csrf", &csrf), ("request", &request), ("email", &email), ("code", "0000 0000")], &ours).await;
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
        let done = browser.post_with(&verify, &[("csrf", &csrf), ("request", &request), ("email", &email), ("code", &code)], &ours).await;
        assert_eq!(done.status(), StatusCode::OK);
        let html = done.text().await.unwrap();
        let back = format!("/t/default/login?request={request}");
        assert!(html.contains(&format!(r#"href="{back}""#)), "{html}");
        let again = browser.get(&app.url(&back)).await;
        let signed_in = browser.sign_in(again, "hal", PASSWORD).await;
        assert!(location(&signed_in).contains("code="));
    }

    async fn mail_requests_are_limited_per_ip_across_the_api_and_the_pages(app: TestApp) {
        let app = TestApp::spawn_tuned(app.backend, |s| s.limits.mail_per_ip = 2).await;
        for _ in 0..2 {
            let resp = app.post_json("/t/default/auth/password/forgot", &json!({"email": "nobody@example.test"})).await;
            assert_eq!(resp.status(), StatusCode::ACCEPTED);
        }
        let over = app.post_json("/t/default/auth/email/resend", &json!({"email": "nobody@example.test"})).await;
        assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(over.headers().contains_key("retry-after"));
        let page = post_form(&app, "/t/default/account/forgot-password", "", &[("email", "nobody@example.test")]).await;
        assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
        // Using a mailed link or code is limited apart from asking for mail.
        let reset = app.post_json("/t/default/auth/password/reset", &json!({"token": "gha_x", "password": NEW_PASSWORD})).await;
        assert_eq!(reset.status(), StatusCode::BAD_REQUEST);
    }
}
