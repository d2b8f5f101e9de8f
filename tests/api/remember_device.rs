//! "Remember this device" and a client's own second-factor policy, over the JSON API and the
//! hosted pages: a remembered browser skips the second step but never claims `mfa`, is refused
//! once forgotten, after all sessions end or the factors are reset, and when an app asks for a
//! second factor (`acr_values`, or a client that requires one). Codes come from pyotp.
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::{
    helpers::{PASSWORD, TestApp, backend_tests, problem},
    oidc::Browser,
    second_factor::{challenged, enrol, fresh_step, pyotp_code},
    step_up::{TWO, html, post_step, tokens_of},
};

async fn remember_for(app: &TestApp, days: u32) {
    let op = app.operator().await;
    let body = json!({"settings": {"second_factor": {"remember_device_days": days}}});
    let set = app.admin_patch(&op, "/admin/v1/tenants/default", &body).await;
    assert_eq!(set.status(), StatusCode::OK, "{}", set.text().await.unwrap());
}

/// `name=value` of the remember cookie a response sets, if any.
fn remember_cookie(resp: &Response) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("gh_remember_"))
        .map(|c| c.split(';').next().unwrap().to_string())
}

fn claims(access: &str) -> Value {
    use base64::Engine as _;
    let payload = access.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap())
        .unwrap()
}

/// The second step of a login by `user`, answered with `method`/`code`, asking to be remembered.
async fn verify_remembering(app: &TestApp, user: &str, method: &str, code: &str) -> (Value, Option<String>) {
    let token = challenged(app, "default", user).await["mfa_token"].as_str().unwrap().to_string();
    let body = json!({"mfa_token": token, "method": method, "code": code, "remember_device": true});
    let resp = app.post_json("/t/default/auth/mfa/verify", &body).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let cookies: Vec<_> =
        resp.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    assert!(
        cookies.iter().any(|c| c.starts_with("gh_device_")),
        "the device cookie still comes: {cookies:?}"
    );
    let remembered = remember_cookie(&resp);
    if let Some(c) = cookies.iter().find(|c| c.starts_with("gh_remember_")) {
        assert!(
            c.contains("HttpOnly") && c.contains("Path=/t/default/") && c.contains("Max-Age=2592000"),
            "{c}"
        );
    }
    (resp.json().await.unwrap(), remembered)
}

async fn login_with(app: &TestApp, user: &str, cookie: &str) -> Response {
    app.client
        .post(app.url("/t/default/auth/login"))
        .header("cookie", cookie)
        .json(&json!({"username": user, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
}

async fn devices(app: &TestApp, access: &str) -> Vec<Value> {
    let resp =
        app.client.get(app.url("/t/default/me/remembered-devices")).bearer_auth(access).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json::<Vec<Value>>().await.unwrap()
}

backend_tests! {
    async fn a_remembered_device_skips_the_second_step_without_claiming_mfa_until_revoked(app: TestApp) {
        let first = app.user("rae").await;
        let s = fresh_step().await;
        let (secret, codes) = enrol(&app, &first.access, s - 1).await;
        // Off by default: asking to be remembered sets no cookie.
        let (_, none) = verify_remembering(&app, "rae", "recovery_code", &codes[0]).await;
        assert!(none.is_none());
        remember_for(&app, 30).await;

        let (tokens, cookie) = verify_remembering(&app, "rae", "totp", &pyotp_code(&secret, s)).await;
        let cookie = cookie.expect("a remember cookie");
        assert_eq!(claims(tokens["access_token"].as_str().unwrap())["amr"], json!(["pwd", "otp", "mfa"]));
        // The remembered browser skips the second step: tokens at once, one factor only.
        let resp = login_with(&app, "rae", &cookie).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let skipped: Value = resp.json().await.unwrap();
        let c = claims(skipped["access_token"].as_str().unwrap());
        assert_eq!((c["amr"].clone(), c["acr"].clone()), (json!(["pwd"]), json!("urn:gatehouse:loa:1fa")));
        let access = skipped["access_token"].as_str().unwrap().to_string();
        // That token cannot do what needs a second factor (RFC 9470 step-up answer).
        let denied = app.client.post(app.url("/t/default/me/second-factors/recovery-codes")).bearer_auth(&access).json(&json!({})).send().await.unwrap();
        assert_eq!(problem(denied, StatusCode::UNAUTHORIZED).await["code"], "mfa_session_required");
        // Another browser or a forged cookie: the second step.
        challenged(&app, "default", "rae").await;
        let (name, value) = cookie.split_once('=').unwrap();
        let last = if value.ends_with('A') { 'B' } else { 'A' };
        let forged = format!("{name}={}{last}", &value[..value.len() - 1]);
        assert_eq!(login_with(&app, "rae", &forged).await.status(), StatusCode::FORBIDDEN);

        // Listed, then forgotten: refused from then on.
        let listed = devices(&app, &access).await;
        assert_eq!(listed.len(), 1);
        assert!(listed[0]["expires_at"].is_string() && listed[0]["label"].is_string(), "{listed:?}");
        let id = listed[0]["id"].as_str().unwrap();
        let gone = app.client.delete(app.url(&format!("/t/default/me/remembered-devices/{id}"))).bearer_auth(&access).send().await.unwrap();
        assert_eq!(gone.status(), StatusCode::NO_CONTENT);
        let again = app.client.delete(app.url(&format!("/t/default/me/remembered-devices/{id}"))).bearer_auth(&access).send().await.unwrap();
        assert_eq!(problem(again, StatusCode::NOT_FOUND).await["code"], "remembered_device_not_found");
        assert_eq!(login_with(&app, "rae", &cookie).await.status(), StatusCode::FORBIDDEN);

        // Ending all sessions forgets the devices too.
        let (tokens, cookie) = verify_remembering(&app, "rae", "recovery_code", &codes[1]).await;
        let cookie = cookie.unwrap();
        assert_eq!(login_with(&app, "rae", &cookie).await.status(), StatusCode::OK);
        let out = app.logout("default", tokens["access_token"].as_str().unwrap(), true).await;
        assert!(out.status().is_success());
        assert_eq!(login_with(&app, "rae", &cookie).await.status(), StatusCode::FORBIDDEN);

        // So does an admin reset of the second factors.
        let (_, cookie) = verify_remembering(&app, "rae", "recovery_code", &codes[2]).await;
        assert_eq!(login_with(&app, "rae", &cookie.unwrap()).await.status(), StatusCode::OK);
        let op = app.operator().await;
        let user_id = c["sub"].as_str().unwrap();
        let reset = app.admin_delete(&op, &format!("/admin/v1/tenants/default/users/{user_id}/second-factors")).await;
        assert_eq!(reset.status(), StatusCode::NO_CONTENT);
        let fresh = app.login("default", "rae").await;
        assert!(devices(&app, &fresh.access).await.is_empty());
        let log: Value = app.admin_get(&op, "/admin/v1/tenants/default/audit-events?type=mfa.remembered_device_used").await.json().await.unwrap();
        assert_eq!(log["items"].as_array().unwrap().len(), 3);
    }

    async fn hosted_sign_in_remembers_a_device_but_acr_values_and_client_policy_still_ask(app: TestApp) {
        remember_for(&app, 30).await;
        let op = app.operator().await;
        let client = app.oidc_client(&op, "default", "public", &["authorization_code"], json!({})).await.0;
        let strict = app.oidc_client(&op, "default", "public", &["authorization_code"], json!({"require_second_factor": true})).await.0;
        let view: Value = app.admin_get(&op, &format!("/admin/v1/tenants/default/clients/{strict}")).await.json().await.unwrap();
        assert_eq!(view["require_second_factor"], true);
        let first = app.user("uma").await;
        let s = fresh_step().await;
        let (secret, _) = enrol(&app, &first.access, s - 1).await;

        let mut b = Browser::new(&app);
        let page = b.get(&app.authorize_url(&client, &[])).await;
        let step = html(b.sign_in(page, "uma", PASSWORD).await, StatusCode::OK).await;
        assert!(step.contains(r#"<input type="checkbox" id="remember" name="remember" value="yes">"#), "{step}");
        assert!(step.contains("Remember this device for 30 days"));
        let done = post_step(&app, &mut b, &step, "second-factor", &[("code", &pyotp_code(&secret, s)), ("remember", "yes")]).await;
        assert!(remember_cookie(&done).is_some());
        let (_, id) = tokens_of(&app, &client, &done).await;
        assert_eq!(id["acr"], TWO);

        // Signing in again in this browser: no second step, and one factor claimed.
        let page = b.get(&app.authorize_url(&client, &[("prompt", "login")])).await;
        let done = b.sign_in(page, "uma", PASSWORD).await;
        assert_eq!(done.status(), StatusCode::SEE_OTHER);
        let (_, id) = tokens_of(&app, &client, &done).await;
        assert_eq!((id["amr"].clone(), id["acr"].clone()), (json!(["pwd"]), json!("urn:gatehouse:loa:1fa")));

        // An app asking for a second factor gets the step despite the remembered device.
        let page = b.get(&app.authorize_url(&client, &[("acr_values", TWO)])).await;
        let step = html(b.sign_in(page, "uma", PASSWORD).await, StatusCode::OK).await;
        assert!(step.contains("<title>Two-step verification"), "{step}");

        // So does a client that requires one, and its tokens say so.
        let page = b.get(&app.authorize_url(&strict, &[("prompt", "login")])).await;
        let step = html(b.sign_in(page, "uma", PASSWORD).await, StatusCode::OK).await;
        assert!(step.contains("<title>Two-step verification"), "{step}");
        let done = post_step(&app, &mut b, &step, "second-factor", &[("code", &pyotp_code(&secret, s + 1))]).await;
        let (_, id) = tokens_of(&app, &strict, &done).await;
        assert_eq!((id["amr"].clone(), id["acr"].clone()), (json!(["pwd", "otp", "mfa"]), json!(TWO)));

        // A user without a second factor enrols first under such a client.
        assert_eq!(app.register("default", "vic").await.status(), StatusCode::CREATED);
        let mut other = Browser::new(&app);
        let page = other.get(&app.authorize_url(&strict, &[])).await;
        let enrol_page = html(other.sign_in(page, "vic", PASSWORD).await, StatusCode::OK).await;
        assert!(enrol_page.contains("<title>Set up two-step verification"), "{enrol_page}");
        // The other client leaves vic's sign-in at one factor.
        let mut plain = Browser::new(&app);
        let page = plain.get(&app.authorize_url(&client, &[])).await;
        assert_eq!(plain.sign_in(page, "vic", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    }
}
