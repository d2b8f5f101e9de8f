//! Second factors over the JSON API: enrolling an authenticator app, the login's second step,
//! single-use codes, the lockout, recovery codes, the tenant policy and the admin reset. Codes
//! come from pyotp (an independent RFC 6238 implementation), never from the code under test.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, backend_tests, problem};

/// The TOTP code of `secret` for time step `step` (30 s steps), computed by pyotp.
pub(crate) fn pyotp_code(secret: &str, step: i64) -> String {
    let out = std::process::Command::new("python3")
        .args(["-c", "import pyotp, sys; print(pyotp.TOTP(sys.argv[1]).at(int(sys.argv[2]) * 30))", secret])
        .arg(step.to_string())
        .output()
        .expect("python3 with pyotp (scripts/test installs tests/clients/requirements.txt into .venv)");
    assert!(out.status.success(), "pyotp failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The current time step, after waiting out the last 12 s of a step, so that the previous,
/// current and next steps all stay within the server's ±1 step of skew for the next 12 s.
pub(crate) async fn fresh_step() -> i64 {
    let now = chrono::Utc::now().timestamp();
    if now % 30 >= 18 {
        tokio::time::sleep(std::time::Duration::from_secs(u64::try_from(31 - now % 30).unwrap())).await;
    }
    chrono::Utc::now().timestamp() / 30
}

async fn me_post(app: &TestApp, access: &str, path: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/t/default/me/second-factors{path}")))
        .bearer_auth(access)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Enrols an authenticator app for a signed-in user, confirmed with the code of `step`;
/// returns the secret and the recovery codes.
pub(crate) async fn enrol(app: &TestApp, access: &str, step: i64) -> (String, Vec<String>) {
    let resp = me_post(app, access, "/totp", &json!({})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let setup: Value = resp.json().await.unwrap();
    let secret = setup["secret"].as_str().unwrap().to_string();
    let uri = setup["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/") && uri.contains(&format!("secret={secret}")), "{uri}");
    let svg = setup["qr_svg"].as_str().unwrap();
    assert!(svg.contains("<svg") && !svg.contains("<script"), "{svg}");
    let resp = me_post(app, access, "/totp/confirm", &json!({"code": pyotp_code(&secret, step)})).await;
    assert_eq!(resp.status(), StatusCode::OK, "{}", resp.text().await.unwrap());
    let codes: Vec<String> =
        serde_json::from_value(resp.json::<Value>().await.unwrap()["recovery_codes"].clone()).unwrap();
    (secret, codes)
}

/// A login that must answer with a second-step challenge; returns its body.
/// A login that must answer with a second-step challenge (a 403 problem document, no device
/// cookie yet); returns its body.
pub(crate) async fn challenged(app: &TestApp, tenant: &str, user: &str) -> Value {
    let resp = app.login_raw(tenant, user, PASSWORD).await;
    assert!(resp.headers().get("set-cookie").is_none());
    problem(resp, StatusCode::FORBIDDEN).await
}

async fn verify(app: &TestApp, token: &str, method: &str, code: &str) -> reqwest::Response {
    app.post_json("/t/default/auth/mfa/verify", &json!({"mfa_token": token, "method": method, "code": code}))
        .await
}

fn claims(access: &str) -> Value {
    let payload = access.split('.').nth(1).unwrap();
    use base64::Engine as _;
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap())
        .unwrap()
}

async fn events(app: &TestApp, op: &str, kind: &str) -> Vec<Value> {
    let log: Value = app
        .admin_get(op, &format!("/admin/v1/tenants/default/audit-events?type={kind}"))
        .await
        .json()
        .await
        .unwrap();
    log["items"].as_array().unwrap().clone()
}

backend_tests! {
    async fn an_enrolled_user_signs_in_with_a_second_step_and_each_code_works_once(app: TestApp) {
        let first = app.user("ann").await;
        let c = claims(&first.access);
        assert_eq!((c["amr"].clone(), c["acr"].clone()), (json!(["pwd"]), json!("urn:gatehouse:loa:1fa")));
        let s = fresh_step().await;
        // A wrong first code does not confirm anything.
        assert_eq!(me_post(&app, &first.access, "/totp", &json!({})).await.status(), StatusCode::OK);
        let wrong = me_post(&app, &first.access, "/totp/confirm", &json!({"code": "000000"})).await;
        assert_eq!(problem(wrong, StatusCode::UNAUTHORIZED).await["code"], "invalid_mfa_code");
        let (secret, codes) = enrol(&app, &first.access, s - 1).await;
        assert_eq!(codes.len(), 10);
        assert!(codes.iter().all(|c| c.len() == 11 && c.as_bytes()[5] == b'-'));
        let again = me_post(&app, &first.access, "/totp", &json!({})).await;
        assert_eq!(problem(again, StatusCode::CONFLICT).await["code"], "totp_already_enrolled");

        let answer = challenged(&app, "default", "ann").await;
        assert_eq!(answer["code"], "second_factor_required");
        assert_eq!(answer["methods"], json!(["totp", "recovery_code"]));
        let token = answer["mfa_token"].as_str().unwrap();
        assert!(answer.get("access_token").is_none() && answer.get("enrolment_token").is_none());
        let ok = verify(&app, token, "totp", &pyotp_code(&secret, s)).await;
        assert_eq!(ok.status(), StatusCode::OK);
        assert!(ok.headers()["set-cookie"].to_str().unwrap().starts_with("gh_device_"), "the device cookie comes now");
        let tokens: Value = ok.json().await.unwrap();
        let c = claims(tokens["access_token"].as_str().unwrap());
        assert_eq!(c["amr"], json!(["pwd", "otp", "mfa"]));
        assert_eq!(c["acr"], "urn:gatehouse:loa:2fa");
        // The met challenge is spent.
        let spent = verify(&app, token, "totp", &pyotp_code(&secret, s + 1)).await;
        assert_eq!(problem(spent, StatusCode::UNAUTHORIZED).await["code"], "invalid_mfa_token");

        // The same code again, in a new sign-in: refused, as is the step before it.
        let token = challenged(&app, "default", "ann").await["mfa_token"].as_str().unwrap().to_string();
        for step in [s, s - 1] {
            let replay = verify(&app, &token, "totp", &pyotp_code(&secret, step)).await;
            assert_eq!(problem(replay, StatusCode::UNAUTHORIZED).await["code"], "invalid_mfa_code");
        }
        // The challenge survives wrong codes; the next step's code passes.
        assert_eq!(verify(&app, &token, "totp", &pyotp_code(&secret, s + 1)).await.status(), StatusCode::OK);

        // Refreshed tokens keep the amr and acr of the sign-in.
        let refreshed: Value = app.refresh("default", tokens["refresh_token"].as_str().unwrap()).await.json().await.unwrap();
        let c = claims(refreshed["access_token"].as_str().unwrap());
        assert_eq!((c["amr"].clone(), c["acr"].clone()), (json!(["pwd", "otp", "mfa"]), json!("urn:gatehouse:loa:2fa")));
    }

    async fn a_recovery_code_works_once_and_its_use_is_audited(app: TestApp) {
        let first = app.user("bob").await;
        let s = fresh_step().await;
        let (_, codes) = enrol(&app, &first.access, s).await;
        let token = challenged(&app, "default", "bob").await["mfa_token"].as_str().unwrap().to_string();
        // Typed in capitals with a space instead of the hyphen: the same code.
        let typed = codes[3].to_uppercase().replace('-', " ");
        let ok = verify(&app, &token, "recovery_code", &typed).await;
        assert_eq!(ok.status(), StatusCode::OK);
        let access = ok.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
        assert_eq!(claims(&access)["amr"], json!(["pwd", "otp", "mfa"]));
        let token = challenged(&app, "default", "bob").await["mfa_token"].as_str().unwrap().to_string();
        let again = verify(&app, &token, "recovery_code", &codes[3]).await;
        assert_eq!(problem(again, StatusCode::UNAUTHORIZED).await["code"], "invalid_mfa_code");
        let status: Value = app.client.get(app.url("/t/default/me/second-factors")).bearer_auth(&access).send().await
            .unwrap().json().await.unwrap();
        assert_eq!((status["totp"].clone(), status["recovery_codes_left"].clone()), (json!(true), json!(9)));
        let op = app.operator().await;
        let used = events(&app, &op, "mfa.recovery_code.used").await;
        assert_eq!(used.len(), 1);
        assert_eq!(used[0]["details"]["codes_left"], 9);
        // New codes replace the old ones; that needs a session that passed the second factor.
        let denied = me_post(&app, &first.access, "/recovery-codes", &json!({})).await;
        assert_eq!(problem(denied, StatusCode::UNAUTHORIZED).await["code"], "mfa_session_required");
        let fresh = me_post(&app, &access, "/recovery-codes", &json!({})).await;
        assert_eq!(fresh.status(), StatusCode::OK);
        let token = challenged(&app, "default", "bob").await["mfa_token"].as_str().unwrap().to_string();
        let old = verify(&app, &token, "recovery_code", &codes[4]).await;
        assert_eq!(problem(old, StatusCode::UNAUTHORIZED).await["code"], "invalid_mfa_code");
    }

    async fn wrong_codes_lock_the_second_step_until_an_admin_resets_it(app: TestApp) {
        let first = app.user("cat").await;
        let s = fresh_step().await;
        let (secret, _) = enrol(&app, &first.access, s - 1).await;
        let token = challenged(&app, "default", "cat").await["mfa_token"].as_str().unwrap().to_string();
        for _ in 0..5 {
            let wrong = verify(&app, &token, "totp", "123456").await;
            assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        }
        // Locked: even the right code is refused, without being spent.
        let locked = verify(&app, &token, "totp", &pyotp_code(&secret, s)).await;
        assert!(locked.headers().contains_key("retry-after"));
        assert_eq!(problem(locked, StatusCode::TOO_MANY_REQUESTS).await["code"], "mfa_locked");
        let op = app.operator().await;
        assert_eq!(events(&app, &op, "mfa.failed").await.len(), 5);
        assert_eq!(events(&app, &op, "mfa.locked").await.len(), 1);
        // Removing the app needs a session that passed it.
        // RFC 9470: the refusal names the acr to step up to.
        let remove = app.client.delete(app.url("/t/default/me/second-factors/totp")).bearer_auth(&first.access).send().await.unwrap();
        assert_eq!(
            remove.headers()["www-authenticate"].to_str().unwrap(),
            "Bearer error=\"insufficient_user_authentication\", error_description=\"this change needs a session that passed a second factor; sign in again with it\", acr_values=\"urn:gatehouse:loa:2fa\""
        );
        assert_eq!(problem(remove, StatusCode::UNAUTHORIZED).await["code"], "mfa_session_required");
        // The admin resets the user's second factors (a lost phone): the next login needs none.
        let user_id = claims(&first.access)["sub"].as_str().unwrap().to_string();
        let reset = app.admin_delete(&op, &format!("/admin/v1/tenants/default/users/{user_id}/second-factors")).await;
        assert_eq!(reset.status(), StatusCode::NO_CONTENT);
        let audited = events(&app, &op, "user.second_factors_reset").await;
        assert_eq!(audited[0]["details"]["had_factors"], true);
        assert_eq!(app.login_raw("default", "cat", PASSWORD).await.status(), StatusCode::OK);
    }

    async fn a_required_policy_makes_users_enrol_at_sign_in(app: TestApp) {
        let op = app.operator().await;
        let bad = app.admin_patch(&op, "/admin/v1/tenants/default",
            &json!({"settings": {"second_factor": {"mode": "required", "methods": ["recovery_code"]}}})).await;
        assert_eq!(problem(bad, StatusCode::BAD_REQUEST).await["code"], "validation_failed");
        let set = app.admin_patch(&op, "/admin/v1/tenants/default",
            &json!({"settings": {"second_factor": {"mode": "required"}}})).await;
        assert_eq!(set.status(), StatusCode::OK);
        let view: Value = set.json().await.unwrap();
        assert_eq!(view["settings"]["second_factor"], json!({"mode": "required", "methods": ["totp", "recovery_code", "passkey"], "remember_device_days": 0}));
        assert_eq!(app.register("default", "dan").await.status(), StatusCode::CREATED);
        let answer = challenged(&app, "default", "dan").await;
        assert_eq!(answer["code"], "second_factor_enrolment_required");
        assert_eq!(answer["methods"], json!(["totp", "passkey"]));
        let token = answer["enrolment_token"].as_str().unwrap();
        assert!(answer.get("mfa_token").is_none());
        // The enrolment token is no mfa_token.
        let wrong_kind = verify(&app, token, "totp", "123456").await;
        assert_eq!(problem(wrong_kind, StatusCode::UNAUTHORIZED).await["code"], "invalid_mfa_token");
        let setup: Value = app.post_json("/t/default/auth/mfa/enrol/totp", &json!({"enrolment_token": token})).await.json().await.unwrap();
        let secret = setup["secret"].as_str().unwrap();
        let s = fresh_step().await;
        let app = &app;
        let confirm = |code: String| {
            let body = json!({"enrolment_token": token, "code": code});
            async move { app.post_json("/t/default/auth/mfa/enrol/totp/confirm", &body).await }
        };
        assert_eq!(confirm("999999".into()).await.status(), StatusCode::UNAUTHORIZED);
        let done = confirm(pyotp_code(secret, s)).await;
        assert_eq!(done.status(), StatusCode::OK);
        let body: Value = done.json().await.unwrap();
        assert_eq!(body["recovery_codes"].as_array().unwrap().len(), 10);
        assert_eq!(body["token_type"], "Bearer");
        let access = body["access_token"].as_str().unwrap();
        assert_eq!(claims(access)["amr"], json!(["pwd", "otp", "mfa"]));
        // Spent once met.
        assert_eq!(confirm(pyotp_code(secret, s + 1)).await.status(), StatusCode::UNAUTHORIZED);
        // The policy keeps the app in place.
        let remove = app.client.delete(app.url("/t/default/me/second-factors/totp")).bearer_auth(access).send().await.unwrap();
        assert_eq!(problem(remove, StatusCode::CONFLICT).await["code"], "second_factor_required_by_policy");
        // The next login asks for a code, not an enrolment.
        assert_eq!(challenged(app, "default", "dan").await["code"], "second_factor_required");
        // With second factors off, the login needs the password only.
        app.admin_patch(&op, "/admin/v1/tenants/default", &json!({"settings": {"second_factor": {"mode": "off"}}})).await;
        assert_eq!(app.login_raw("default", "dan", PASSWORD).await.status(), StatusCode::OK);
    }
}
