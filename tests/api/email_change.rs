//! Changing the email address through the JSON API and the mailed pages, against a real SMTP
//! server: nothing changes until the new address confirms, the old address can undo it, and
//! undoing ends every session.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    email::{SmtpServer, app_without_verification_mail, code_in, link_in, plain_text},
    helpers::*,
    oidc::Browser,
};

async fn register(app: &TestApp, name: &str, email: &str) -> Tokens {
    let resp = app
        .post_json(
            "/t/default/auth/register",
            &json!({ "username": name, "password": PASSWORD, "email": email }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    app.login("default", name).await
}

async fn change(app: &TestApp, access: &str, email: &str) -> reqwest::Response {
    app.client
        .post(app.url("/t/default/me/email"))
        .bearer_auth(access)
        .json(&json!({ "email": email }))
        .send()
        .await
        .unwrap()
}

async fn me(app: &TestApp, access: &str) -> Value {
    let resp = app.me("default", access).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

fn mail_to<'a>(mail: &'a [String], to: &str) -> &'a String {
    mail.iter()
        .find(|m| m.contains(&format!("To: {to}")))
        .unwrap_or_else(|| panic!("no mail to {to} in {mail:?}"))
}

backend_tests! {
    async fn a_change_waits_for_the_new_address_and_the_old_one_can_undo_it(app: TestApp) {
        let smtp = SmtpServer::start().await;
        let app = app_without_verification_mail(app.backend, &smtp).await;
        let ann = register(&app, "ann", "ann@old.test").await;
        let resp = change(&app, &ann.access, "Ann@New.test").await;
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["status"], "confirmation_sent");
        let mail = smtp.wait_for(1).await;
        let confirm = mail_to(&mail, "ann@new.test");
        assert!(confirm.contains("Subject: Confirm your new email address"), "{confirm}");
        let (url, token) = link_in(confirm, "account/confirm-email");

        // Opening the link (a scanner, twice) shows what it does and changes nothing.
        let mut browser = Browser::new(&app);
        for _ in 0..2 {
            let page = browser.get(&url).await;
            assert_eq!(page.status(), StatusCode::OK);
            let html = page.text().await.unwrap();
            assert!(html.contains("Use ann@new.test as the email address of your account?"), "{html}");
        }
        assert_eq!(me(&app, &ann.access).await["email"], "ann@old.test");
        let done = browser.post_with(&app.url("/t/default/account/confirm-email"), &[("token", &token)], &[]).await;
        assert_eq!(done.status(), StatusCode::OK);
        assert!(done.text().await.unwrap().contains("Your email address is changed"));
        let now = me(&app, &ann.access).await;
        assert_eq!((now["email"].as_str(), now["email_verified"].as_bool()), (Some("ann@new.test"), Some(true)));
        // Spent.
        let again = browser.post_with(&app.url("/t/default/account/confirm-email"), &[("token", &token)], &[]).await;
        assert_eq!(again.status(), StatusCode::BAD_REQUEST);

        // The old address is told, with an undo link; another change waits for it.
        let mail = smtp.wait_for(2).await;
        let notice = mail_to(&mail, "ann@old.test");
        assert!(notice.contains("Subject: Your Default email address was changed"), "{notice}");
        assert!(plain_text(notice).contains("ann@new.test"));
        let refused = change(&app, &ann.access, "ann@third.test").await;
        assert_eq!(problem(refused, StatusCode::CONFLICT).await["code"], "email_recently_changed");
        let (undo_url, undo_token) = link_in(notice, "account/undo-email-change");
        let page = browser.get(&undo_url).await;
        assert!(page.text().await.unwrap().contains("back to ann@old.test"));
        let undone = browser.post_with(&app.url("/t/default/account/undo-email-change"), &[("token", &undo_token)], &[]).await;
        assert_eq!(undone.status(), StatusCode::OK);
        assert!(undone.text().await.unwrap().contains("The change is undone"));

        // Every session ended: the access and refresh tokens of before are dead.
        assert_eq!(app.me("default", &ann.access).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.refresh("default", &ann.refresh).await.status(), StatusCode::UNAUTHORIZED);
        let fresh = app.login("default", "ann").await;
        let restored = me(&app, &fresh.access).await;
        assert_eq!((restored["email"].as_str(), restored["email_verified"].as_bool()), (Some("ann@old.test"), Some(false)));
        let tenant = app.state.tenants.get("default").await.unwrap().unwrap();
        let filter = gatehouse::store::audit::AuditFilter::default();
        let rows = gatehouse::store::audit::list(&app.state.db, tenant.id, &filter, None, 200).await.unwrap();
        let events: Vec<String> = rows.into_iter().map(|r| r.event_type).collect();
        for kind in ["user.email_change_requested", "user.email_changed", "user.email_change_undone"] {
            assert!(events.iter().any(|e| e == kind), "{kind} not audited: {events:?}");
        }
    }

    async fn an_address_of_another_account_is_refused_when_confirming(app: TestApp) {
        let smtp = SmtpServer::start().await;
        let app = app_without_verification_mail(app.backend, &smtp).await;
        let ann = register(&app, "ann", "ann@example.test").await;
        register(&app, "bob", "bob@example.test").await;
        // The request is answered as for a free address: it tells a signed-in user nothing.
        assert_eq!(change(&app, &ann.access, "bob@example.test").await.status(), StatusCode::ACCEPTED);
        assert_eq!(problem(change(&app, &ann.access, "ann@example.test").await, StatusCode::BAD_REQUEST).await["code"], "email_unchanged");
        let mail = smtp.wait_for(1).await;
        let code = code_in(&mail[0]);
        let resp = app.client.post(app.url("/t/default/me/email/confirm")).bearer_auth(&ann.access).json(&json!({ "code": code })).send().await.unwrap();
        assert_eq!(problem(resp, StatusCode::CONFLICT).await["code"], "email_taken");
        let (_, token) = link_in(&mail[0], "account/confirm-email");
        let page = Browser::new(&app).post_with(&app.url("/t/default/account/confirm-email"), &[("token", &token)], &[]).await;
        assert_eq!(page.status(), StatusCode::CONFLICT);
        assert!(page.text().await.unwrap().contains("Another account here uses this address"));
        assert_eq!(me(&app, &ann.access).await["email"], "ann@example.test");
        // A wrong code is refused plainly.
        let resp = app.client.post(app.url("/t/default/me/email/confirm")).bearer_auth(&ann.access).json(&json!({ "code": "0000-000" })).send().await.unwrap();
        assert_eq!(problem(resp, StatusCode::BAD_REQUEST).await["code"], "invalid_code");
    }

    async fn a_confirmation_code_changes_the_address(app: TestApp) {
        let smtp = SmtpServer::start().await;
        let app = app_without_verification_mail(app.backend, &smtp).await;
        let cat = register(&app, "cat", "cat@example.test").await;
        assert_eq!(change(&app, &cat.access, "cat@new.test").await.status(), StatusCode::ACCEPTED);
        let mail = smtp.wait_for(1).await;
        let resp = app.client.post(app.url("/t/default/me/email/confirm")).bearer_auth(&cat.access).json(&json!({ "code": code_in(&mail[0]) })).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let user: Value = resp.json().await.unwrap();
        assert_eq!(user["email"], "cat@new.test");
        smtp.wait_for(2).await;
    }

    async fn one_address_is_sent_few_confirmations_an_hour(app: TestApp) {
        let smtp = SmtpServer::start().await;
        let app = app_without_verification_mail(app.backend, &smtp).await;
        let dan = register(&app, "dan", "dan@example.test").await;
        for _ in 0..5 {
            assert_eq!(change(&app, &dan.access, "target@example.test").await.status(), StatusCode::ACCEPTED);
        }
        let p = problem(change(&app, &dan.access, "target@example.test").await, StatusCode::TOO_MANY_REQUESTS).await;
        assert_eq!(p["code"], "email_throttled");
        // Another address is not affected.
        assert_eq!(change(&app, &dan.access, "other@example.test").await.status(), StatusCode::ACCEPTED);
        assert_eq!(smtp.wait_for(6).await.len(), 6);
    }
}
