//! Account lockout under load and as a weapon: atomic failure budgets, device cookies that keep
//! the owner in while a stranger locks the name, and the admin unlock.
use futures::future::join_all;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, backend_tests};

async fn login_with(app: &TestApp, user: &str, password: &str, cookie: Option<&str>) -> Response {
    let mut req = app
        .client
        .post(app.url("/t/default/auth/login"))
        .json(&json!({"username": user, "password": password}));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

/// The `name=value` of the device cookie a successful login sets.
fn device_cookie(resp: &Response) -> String {
    let set = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("gh_device_"))
        .expect("a device cookie");
    set.split(';').next().unwrap().to_string()
}

async fn registered(app: &TestApp, user: &str) -> String {
    let resp = app.register("default", user).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
}

async fn fail(app: &TestApp, user: &str, times: usize, cookie: Option<&str>) {
    for _ in 0..times {
        assert_eq!(
            login_with(app, user, "not the password", cookie).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

async fn events(app: &TestApp, op: &str, kind: &str) -> Vec<Value> {
    let path = format!("/admin/v1/tenants/default/audit-events?type={kind}&limit=200");
    let log: Value = app.admin_get(op, &path).await.json().await.unwrap();
    log["items"].as_array().unwrap().clone()
}

/// The request id and CSRF token of a fresh hosted sign-in form, and its cookie.
async fn hosted_form(app: &TestApp, op: &str) -> (String, String, String) {
    let body = json!({"name": "App", "client_type": "public", "redirect_uris": ["https://app.example.com/cb"],
        "grant_types": ["authorization_code"], "scopes": ["openid"]});
    let client: Value =
        app.admin_post(op, "/admin/v1/tenants/default/clients", &body).await.json().await.unwrap();
    let challenge =
        gatehouse::crypto::sha256_b64("a-long-enough-pkce-code-verifier-with-43-or-more-chars-0123456789");
    let url = app.url(&format!(
        "/t/default/oauth2/authorize?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&scope=openid&code_challenge={challenge}&code_challenge_method=S256",
        client["client_id"].as_str().unwrap()));
    let page = app.client.get(&url).send().await.unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let html = page.text().await.unwrap();
    let grab = |name: &str| {
        let m = format!(r#"name="{name}" value=""#);
        html[html.find(&m).unwrap() + m.len()..].split('"').next().unwrap().to_string()
    };
    (grab("request"), grab("csrf"), cookie)
}

async fn post_form(app: &TestApp, form: &(String, String, String), user: &str, password: &str) -> Response {
    let (request, csrf, cookie) = form;
    app.client
        .post(app.url("/t/default/login"))
        .header("cookie", cookie)
        .form(&[
            ("request", request.as_str()),
            ("csrf", csrf.as_str()),
            ("username", user),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

backend_tests! {
    async fn thirty_concurrent_wrong_passwords_run_at_most_five_verifications(app: TestApp) {
        app.user("ann").await;
        let before = app.state.hasher.verifications();
        let attempts = (0..30).map(|_| login_with(&app, "ann", "not the password", None));
        let statuses: Vec<StatusCode> = join_all(attempts).await.iter().map(Response::status).collect();
        let refused = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
        let locked = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
        assert!(refused <= 5, "{refused} attempts were checked");
        assert_eq!(refused + locked, 30, "{statuses:?}");
        assert!(app.state.hasher.verifications() - before <= 5, "at most the threshold's hashes");
        assert_eq!(login_with(&app, "ann", PASSWORD, None).await.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    async fn concurrent_guesses_on_the_form_and_the_api_share_one_budget(app: TestApp) {
        let op = app.operator().await;
        app.user("ann").await;
        let form = hosted_form(&app, &op).await;
        let before = app.state.hasher.verifications();
        let api = join_all((0..15).map(|_| login_with(&app, "ann", "not the password", None)));
        let hosted = join_all((0..15).map(|_| post_form(&app, &form, "ann", "not the password")));
        let (api, hosted) = futures::join!(api, hosted);
        let checked = api.iter().chain(hosted.iter()).filter(|r| r.status() == StatusCode::UNAUTHORIZED).count();
        assert!(checked <= 5, "{checked} attempts were checked");
        assert!(app.state.hasher.verifications() - before <= 5);
        assert_eq!(post_form(&app, &form, "ann", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    async fn the_owner_with_a_device_cookie_gets_in_while_a_stranger_locks_the_name(app: TestApp) {
        registered(&app, "ann").await;
        let first = login_with(&app, "ann", PASSWORD, None).await;
        assert_eq!(first.status(), StatusCode::OK);
        let cookie = device_cookie(&first);
        fail(&app, "ann", 5, None).await;
        assert_eq!(login_with(&app, "ann", PASSWORD, None).await.status(), StatusCode::TOO_MANY_REQUESTS);

        let owner = login_with(&app, "ann", PASSWORD, Some(&cookie)).await;
        assert_eq!(owner.status(), StatusCode::OK, "the device cookie bypasses the username-wide lock");
        // A new cookie each time, so a device stays trusted as long as it keeps signing in.
        assert_ne!(device_cookie(&owner), cookie);
        // The stranger is still locked out.
        assert_eq!(login_with(&app, "ann", PASSWORD, None).await.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    async fn a_device_cookie_that_spends_its_budget_is_locked_out_itself(app: TestApp) {
        registered(&app, "ann").await;
        let cookie = device_cookie(&login_with(&app, "ann", PASSWORD, None).await);
        // Failures with the cookie spend its own budget, not the username's.
        fail(&app, "ann", 5, Some(&cookie)).await;
        assert_eq!(login_with(&app, "ann", PASSWORD, None).await.status(), StatusCode::OK);
        // Spent: the cookie now counts for nothing, and the username's lock applies to it.
        fail(&app, "ann", 5, None).await;
        let before = app.state.hasher.verifications();
        assert_eq!(login_with(&app, "ann", PASSWORD, Some(&cookie)).await.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(app.state.hasher.verifications(), before);
        let op = app.operator().await;
        let locks = events(&app, &op, "login.locked").await;
        assert!(locks.iter().any(|e| e["details"]["lock"] == "device"), "{locks:?}");
        assert!(locks.iter().any(|e| e["details"]["lock"] == "username" && e["target"] == "ann"));
    }

    async fn a_forged_or_borrowed_device_cookie_does_not_lift_the_lock(app: TestApp) {
        registered(&app, "ann").await;
        registered(&app, "bob").await;
        let anns = device_cookie(&login_with(&app, "ann", PASSWORD, None).await);
        fail(&app, "bob", 5, None).await;
        // Ann's cookie says nothing about Bob.
        assert_eq!(login_with(&app, "bob", PASSWORD, Some(&anns)).await.status(), StatusCode::TOO_MANY_REQUESTS);
        // A cookie with another signature is ignored.
        fail(&app, "ann", 5, None).await;
        let (name, value) = anns.split_once('=').unwrap();
        let flipped = if value.ends_with('A') { 'B' } else { 'A' };
        let forged = format!("{name}={}{flipped}", &value[..value.len() - 1]);
        assert_eq!(login_with(&app, "ann", PASSWORD, Some(&forged)).await.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(login_with(&app, "ann", PASSWORD, Some(&anns)).await.status(), StatusCode::OK);
    }

    async fn the_device_cookie_is_http_only_lax_and_scoped_to_the_tenant(app: TestApp) {
        app.user("ann").await;
        let resp = login_with(&app, "ann", PASSWORD, None).await;
        let set = resp.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string())
            .find(|v| v.starts_with("gh_device_")).unwrap();
        for part in ["HttpOnly", "SameSite=Lax", "Path=/t/default/", "Max-Age="] {
            assert!(set.contains(part), "{set}");
        }
    }

    async fn the_hosted_form_honours_and_sets_device_cookies(app: TestApp) {
        let op = app.operator().await;
        registered(&app, "ann").await;
        let form = hosted_form(&app, &op).await;
        let signed_in = post_form(&app, &form, "ann", PASSWORD).await;
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
        let cookie = device_cookie(&signed_in);
        fail(&app, "ann", 5, None).await;
        let form = hosted_form(&app, &op).await;
        let (request, csrf, csrf_cookie) = &form;
        let resp = app.client.post(app.url("/t/default/login"))
            .header("cookie", format!("{csrf_cookie}; {cookie}"))
            .form(&[("request", request.as_str()), ("csrf", csrf.as_str()), ("username", "ann"), ("password", PASSWORD)])
            .send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "the device cookie works on the form too");
    }

    async fn an_admin_unlock_lifts_the_lock_and_is_audited(app: TestApp) {
        let op = app.operator().await;
        let id = registered(&app, "ann").await;
        fail(&app, "ann", 5, None).await;
        assert_eq!(login_with(&app, "ann", PASSWORD, None).await.status(), StatusCode::TOO_MANY_REQUESTS);
        let resp = app.admin_post(&op, &format!("/admin/v1/tenants/default/users/{id}/unlock"), &json!({})).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        assert_eq!(login_with(&app, "ann", PASSWORD, None).await.status(), StatusCode::OK);

        let unlocked = events(&app, &op, "user.unlocked").await;
        assert_eq!(unlocked.len(), 1);
        assert_eq!(unlocked[0]["user_id"], id.as_str());
        assert_eq!(unlocked[0]["actor_tenant"], "system");
        assert!(unlocked[0]["actor_id"].is_string());
        assert_eq!(unlocked[0]["details"]["had_failures"], true);
        assert!(!events(&app, &op, "login.locked").await.is_empty());
    }

    async fn only_admins_of_the_tenant_may_unlock(app: TestApp) {
        let op = app.operator().await;
        let id = registered(&app, "ann").await;
        app.api_tenant(&op, "globex").await;
        let other = app.tenant_admin(&op, "globex", "gadmin").await;
        let path = format!("/admin/v1/tenants/default/users/{id}/unlock");
        assert_eq!(app.admin_post(&other, &path, &json!({})).await.status(), StatusCode::FORBIDDEN);
        let user = app.login("default", "ann").await.access;
        assert_eq!(app.admin_post(&user, &path, &json!({})).await.status(), StatusCode::FORBIDDEN);
        let own = app.tenant_admin(&op, "default", "dadmin").await;
        assert_eq!(app.admin_post(&own, &path, &json!({})).await.status(), StatusCode::NO_CONTENT);
        let missing = format!("/admin/v1/tenants/default/users/{}/unlock", uuid::Uuid::new_v4());
        assert_eq!(app.admin_post(&own, &missing, &json!({})).await.status(), StatusCode::NOT_FOUND);
    }

    async fn an_admin_password_reset_lifts_the_lock(app: TestApp) {
        let op = app.operator().await;
        let id = registered(&app, "ann").await;
        fail(&app, "ann", 5, None).await;
        let new_password = "a brand new password for ann";
        let resp = app.admin_put(&op, &format!("/admin/v1/tenants/default/users/{id}/password"),
            &json!({"password": new_password})).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        assert_eq!(login_with(&app, "ann", new_password, None).await.status(), StatusCode::OK);
        let unlocked = events(&app, &op, "user.unlocked").await;
        assert_eq!(unlocked[0]["details"]["via"], "password_set");
    }
}
