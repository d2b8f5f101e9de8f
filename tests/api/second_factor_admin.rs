//! Second factors around the sign-in: the notices mailed to the user (a real SMTP server,
//! aiosmtpd), what administrators see of a user's factors and their demand to enrol again, and
//! RFC 9470's `insufficient_user_authentication` answer of the routes that need a second factor.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    email::{SmtpServer, app_with_smtp},
    helpers::{PASSWORD, TestApp, backend_tests, problem},
    recovery::mail_to,
    second_factor::{challenged, enrol, fresh_step, pyotp_code},
};

async fn register_with_email(app: &TestApp, name: &str) -> String {
    let email = format!("{name}@example.test");
    let body = json!({"username": name, "password": PASSWORD, "email": email});
    assert_eq!(app.post_json("/t/default/auth/register", &body).await.status(), StatusCode::CREATED);
    email
}

fn sub(access: &str) -> String {
    use base64::Engine as _;
    let payload = access.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap())
            .unwrap();
    claims["sub"].as_str().unwrap().to_string()
}

backend_tests! {
    async fn users_are_mailed_when_a_method_is_added_a_recovery_code_used_or_an_admin_resets(app: TestApp) {
        let smtp = SmtpServer::start().await;
        let app = app_with_smtp(app.backend, &smtp).await;
        let email = register_with_email(&app, "nia").await;
        let first = app.login("default", "nia").await;
        let s = fresh_step().await;
        let (_secret, codes) = enrol(&app, &first.access, s).await;
        let added = mail_to(&smtp, &email, "A new sign-in method was added to your Default account").await;
        assert!(added.contains("nia"), "{added}");
        let token = challenged(&app, "default", "nia").await["mfa_token"].as_str().unwrap().to_string();
        let body = json!({"mfa_token": token, "method": "recovery_code", "code": codes[0]});
        assert_eq!(app.post_json("/t/default/auth/mfa/verify", &body).await.status(), StatusCode::OK);
        mail_to(&smtp, &email, "A recovery code was used to sign in to Default").await;
        let op = app.operator().await;
        let reset = app.admin_delete(&op, &format!("/admin/v1/tenants/default/users/{}/second-factors", sub(&first.access))).await;
        assert_eq!(reset.status(), StatusCode::NO_CONTENT);
        mail_to(&smtp, &email, "Your Default second factors were removed").await;
        // One notice each, besides the registration's address check.
        let to_nia = smtp.messages().into_iter().filter(|m| m.contains(&format!("To: {email}")) && !m.contains("Subject: Confirm")).count();
        assert_eq!(to_nia, 3);
    }

    async fn admins_list_a_users_factors_without_secrets_and_require_a_new_enrolment(app: TestApp) {
        let first = app.user("olga").await;
        let id = sub(&first.access);
        let op = app.operator().await;
        let path = format!("/admin/v1/tenants/default/users/{id}/second-factors");
        let none: Value = app.admin_get(&op, &path).await.json().await.unwrap();
        assert_eq!(none, json!({"factors": [], "recovery_codes_left": 0, "enrolment_required": false}));
        let s = fresh_step().await;
        let (secret, _codes) = enrol(&app, &first.access, s).await;
        let resp = app.admin_get(&op, &path).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let text = resp.text().await.unwrap();
        assert!(!text.contains(&secret) && !text.contains("secret"), "{text}");
        let listed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(listed["recovery_codes_left"], 10);
        let factors = listed["factors"].as_array().unwrap();
        assert_eq!(factors.len(), 1);
        assert_eq!(factors[0]["kind"], "totp");
        assert!(factors[0]["created_at"].is_string());
        // Used at sign-in: the listing shows when.
        let token = challenged(&app, "default", "olga").await["mfa_token"].as_str().unwrap().to_string();
        let body = json!({"mfa_token": token, "method": "totp", "code": pyotp_code(&secret, s + 1)});
        assert_eq!(app.post_json("/t/default/auth/mfa/verify", &body).await.status(), StatusCode::OK);
        let listed: Value = app.admin_get(&op, &path).await.json().await.unwrap();
        assert!(listed["factors"][0]["last_used_at"].is_string(), "{listed}");

        // A tenant user cannot see it; an unknown user is 404.
        let denied = app.admin_get(&first.access, &path).await;
        assert_eq!(denied.status(), StatusCode::FORBIDDEN);
        let unknown = app.admin_get(&op, &format!("/admin/v1/tenants/default/users/{}/second-factors", uuid::Uuid::new_v4())).await;
        assert_eq!(problem(unknown, StatusCode::NOT_FOUND).await["code"], "user_not_found");

        // Require re-enrolment: the factors go, and under the default `optional` policy the
        // next sign-in must enrol one.
        let req = app.admin_post(&op, &format!("{path}/require-enrolment"), &json!({})).await;
        assert_eq!(req.status(), StatusCode::NO_CONTENT);
        let listed: Value = app.admin_get(&op, &path).await.json().await.unwrap();
        assert_eq!(listed, json!({"factors": [], "recovery_codes_left": 0, "enrolment_required": true}));
        let log: Value = app.admin_get(&op, "/admin/v1/tenants/default/audit-events?type=user.second_factor_enrolment_required").await.json().await.unwrap();
        assert_eq!(log["items"].as_array().unwrap().len(), 1);
        let answer = challenged(&app, "default", "olga").await;
        assert_eq!(answer["code"], "second_factor_enrolment_required");
        let token = answer["enrolment_token"].as_str().unwrap();
        let setup: Value = app.post_json("/t/default/auth/mfa/enrol/totp", &json!({"enrolment_token": token})).await.json().await.unwrap();
        let s = fresh_step().await;
        let code = pyotp_code(setup["secret"].as_str().unwrap(), s);
        let done = app.post_json("/t/default/auth/mfa/enrol/totp/confirm", &json!({"enrolment_token": token, "code": code})).await;
        assert_eq!(done.status(), StatusCode::OK);
        // Enrolling met the demand.
        let listed: Value = app.admin_get(&op, &path).await.json().await.unwrap();
        assert_eq!(listed["enrolment_required"], false);
        assert_eq!(listed["factors"].as_array().unwrap().len(), 1);
    }

    async fn routes_needing_a_second_factor_answer_with_rfc_9470_step_up(app: TestApp) {
        let first = app.user("pia").await;
        let s = fresh_step().await;
        let (secret, _) = enrol(&app, &first.access, s).await;
        // A one-factor token asking for new recovery codes: 401 with the acr to step up to.
        let resp = app.client.post(app.url("/t/default/me/second-factors/recovery-codes")).bearer_auth(&first.access).json(&json!({})).send().await.unwrap();
        let challenge = resp.headers()["www-authenticate"].to_str().unwrap().to_string();
        assert!(challenge.starts_with("Bearer error=\"insufficient_user_authentication\""), "{challenge}");
        assert!(challenge.contains("acr_values=\"urn:gatehouse:loa:2fa\""), "{challenge}");
        assert_eq!(problem(resp, StatusCode::UNAUTHORIZED).await["code"], "mfa_session_required");
        // After stepping up (the second factor), the same request passes.
        let token = challenged(&app, "default", "pia").await["mfa_token"].as_str().unwrap().to_string();
        let body = json!({"mfa_token": token, "method": "totp", "code": pyotp_code(&secret, s + 1)});
        let tokens: Value = app.post_json("/t/default/auth/mfa/verify", &body).await.json().await.unwrap();
        let access = tokens["access_token"].as_str().unwrap();
        let ok = app.client.post(app.url("/t/default/me/second-factors/recovery-codes")).bearer_auth(access).json(&json!({})).send().await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
    }
}
