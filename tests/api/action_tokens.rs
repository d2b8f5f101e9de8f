//! The action-token foundation (`account::action`) against a real SMTP server: what a mail
//! carries works once, by link or code, and nothing else does.
use std::time::Duration;

use gatehouse::{
    account::action::{self, NewAction, Purpose},
    store::{self, entities::users, users::NewUser},
    tenancy::TenantContext,
};

use crate::{
    email::{SmtpServer, app_with_smtp, code_in, link_in},
    helpers::*,
};

async fn user(app: &TestApp, name: &str) -> (std::sync::Arc<TenantContext>, users::Model) {
    let tenant = app.state.tenants.get("default").await.unwrap().unwrap();
    let new = NewUser {
        username: name.into(),
        email: Some(format!("{name}@example.test")),
        password_hash: None,
        roles: vec![],
    };
    let user = store::users::insert(&app.state.db, tenant.id, new, chrono::Utc::now()).await.ok().unwrap();
    (tenant, user)
}

async fn issue(app: &TestApp, tenant: &TenantContext, user: &users::Model, purpose: Purpose) {
    let new = NewAction {
        purpose,
        user,
        to: user.email.as_deref().unwrap(),
        payload: Some(serde_json::json!({ "x": 1 })),
        ttl: Duration::from_secs(1800),
        address: None,
    };
    action::issue(&app.state, &app.state.db, tenant, new, chrono::Utc::now()).await.unwrap();
}

backend_tests! {
    async fn a_mailed_link_survives_peeks_and_works_once(app: TestApp) {
        let smtp = SmtpServer::start().await;
        let app = app_with_smtp(app.backend, &smtp).await;
        let (tenant, ann) = user(&app, "ann").await;
        issue(&app, &tenant, &ann, Purpose::ResetPassword).await;
        let mail = smtp.wait_for(1).await;
        assert!(mail[0].contains("Subject: Reset your Default"), "{}", mail[0]);
        let (url, token) = link_in(&mail[0], "account/reset-password");
        assert!(url.starts_with(&format!("{}/t/default/account/reset-password?token=gha_", app.settings.public_url())));
        let now = chrono::Utc::now();
        let s = &app.state;
        for _ in 0..3 {
            let seen = action::peek(s, &s.db, &tenant, Purpose::ResetPassword, &token, now).await.unwrap();
            assert_eq!(seen.unwrap().user_id, ann.id);
        }
        // Another purpose's page does not accept it.
        assert!(action::consume_link(s, &s.db, &tenant, Purpose::VerifyEmail, &token, now).await.unwrap().is_none());
        // Past its lifetime it is refused.
        let later = now + chrono::Duration::minutes(31);
        assert!(action::consume_link(s, &s.db, &tenant, Purpose::ResetPassword, &token, later).await.unwrap().is_none());
        let used = action::consume_link(s, &s.db, &tenant, Purpose::ResetPassword, &token, now).await.unwrap();
        assert_eq!(used.unwrap().payload, Some(serde_json::json!({ "x": 1 })));
        assert!(action::consume_link(s, &s.db, &tenant, Purpose::ResetPassword, &token, now).await.unwrap().is_none());
        assert!(action::peek(s, &s.db, &tenant, Purpose::ResetPassword, &token, now).await.unwrap().is_none());
        // The code of a spent token is spent too.
        let code = code_in(&mail[0]);
        assert!(action::consume_code(s, &s.db, &tenant, Purpose::ResetPassword, ann.id, &code, now).await.unwrap().is_none());
    }

    async fn a_new_token_replaces_the_old_and_codes_admit_few_guesses(app: TestApp) {
        let smtp = SmtpServer::start().await;
        let app = app_with_smtp(app.backend, &smtp).await;
        let (tenant, bob) = user(&app, "bob").await;
        issue(&app, &tenant, &bob, Purpose::VerifyEmail).await;
        let first = smtp.wait_for(1).await.remove(0);
        issue(&app, &tenant, &bob, Purpose::VerifyEmail).await;
        let second = smtp.wait_for(2).await.into_iter().find(|m| *m != first).unwrap();
        let (_, old) = link_in(&first, "account/verify-email");
        let (_, new) = link_in(&second, "account/verify-email");
        let now = chrono::Utc::now();
        let s = &app.state;
        assert!(action::peek(s, &s.db, &tenant, Purpose::VerifyEmail, &old, now).await.unwrap().is_none());
        assert!(action::consume_code(s, &s.db, &tenant, Purpose::VerifyEmail, bob.id, &code_in(&first), now).await.unwrap().is_none()
            || code_in(&first) == code_in(&second));
        // Five wrong codes spend the code; the right one then fails too, the link still works.
        let code = code_in(&second);
        let wrong = if code == "0000-0000" { "1111-1111" } else { "0000-0000" };
        for _ in 0..action::MAX_CODE_ATTEMPTS {
            assert!(action::consume_code(s, &s.db, &tenant, Purpose::VerifyEmail, bob.id, wrong, now).await.unwrap().is_none());
        }
        assert!(action::consume_code(s, &s.db, &tenant, Purpose::VerifyEmail, bob.id, &code, now).await.unwrap().is_none());
        assert!(action::consume_link(s, &s.db, &tenant, Purpose::VerifyEmail, &new, now).await.unwrap().is_some());
    }

    async fn the_right_code_works_once(app: TestApp) {
        let smtp = SmtpServer::start().await;
        let app = app_with_smtp(app.backend, &smtp).await;
        let (tenant, cy) = user(&app, "cy").await;
        issue(&app, &tenant, &cy, Purpose::EmailSignIn).await;
        let mail = smtp.wait_for(1).await.remove(0);
        let code = code_in(&mail);
        let now = chrono::Utc::now();
        let s = &app.state;
        let spaced = code.replace('-', " ");
        assert!(action::consume_code(s, &s.db, &tenant, Purpose::EmailSignIn, cy.id, &spaced, now).await.unwrap().is_some());
        assert!(action::consume_code(s, &s.db, &tenant, Purpose::EmailSignIn, cy.id, &code, now).await.unwrap().is_none());
    }
}
