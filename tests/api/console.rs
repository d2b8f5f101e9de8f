//! The account page and the admin console over real HTTP: signed in through the tenant's own
//! authorization endpoint with a browser-like client, then reading pages and posting their
//! forms with (and without) the session's CSRF token.
use reqwest::{Response, StatusCode};
use serde_json::Value;

use crate::{
    helpers::{BOOTSTRAP_ADMIN_PASSWORD, PASSWORD, TestApp, backend_tests},
    oidc::{Browser, location, query_of},
};

fn field<'a>(html: &'a str, name: &str) -> &'a str {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} in {html}")) + marker.len();
    html[start..].split('"').next().unwrap()
}

fn absolute(app: &TestApp, loc: &str) -> String {
    if loc.starts_with('/') { app.url(loc) } else { loc.to_string() }
}

/// Opens `start` (a console or account URL), signs in at `tenant`'s hosted form when asked,
/// follows the callback, and returns the page it lands on.
async fn sign_in(
    app: &TestApp,
    b: &mut Browser<'_>,
    start: &str,
    tenant: &str,
    user: &str,
    password: &str,
) -> Response {
    let resp = b.get(&app.url(start)).await;
    let authorize = location(&resp);
    assert!(authorize.starts_with(&format!("/t/{tenant}/oauth2/authorize?")), "{authorize}");
    let q = query_of(&authorize);
    assert_eq!(q["code_challenge_method"], "S256");
    let login = b.get(&app.url(&authorize)).await;
    let back = if login.status() == StatusCode::OK {
        let html = login.text().await.unwrap();
        let form = [
            ("request", field(&html, "request")),
            ("csrf", field(&html, "csrf")),
            ("username", user),
            ("password", password),
        ];
        b.post(&app.url(&format!("/t/{tenant}/login")), &form).await
    } else {
        login
    };
    let callback = b.get(&absolute(app, &location(&back))).await;
    let landing = location(&callback);
    let cookie = callback
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    b.get(&absolute(app, &landing)).await
}

async fn page(resp: Response, status: StatusCode) -> String {
    assert_eq!(resp.status(), status, "{}", resp.url());
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"), "{csp}");
    resp.text().await.unwrap()
}

async fn operator_console<'a>(app: &'a TestApp) -> (Browser<'a>, String) {
    let mut b = Browser::new(app);
    let resp =
        sign_in(app, &mut b, "/console/sign-in?tenant=system", "system", "admin", BOOTSTRAP_ADMIN_PASSWORD)
            .await;
    let html = page(resp, StatusCode::OK).await;
    (b, html)
}

async fn audit_channel(app: &TestApp, tenant: &str, event: &str) -> Vec<Value> {
    let op = app.operator().await;
    let resp = app.admin_get(&op, &format!("/admin/v1/tenants/{tenant}/audit-events?type={event}")).await;
    let body: Value = resp.json().await.unwrap();
    body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| e["details"]["channel"].clone())
        .collect()
}

backend_tests! {
    async fn a_sign_in_finishes_only_in_the_browser_that_started_it(app: TestApp) {
        app.user("dan").await;
        let mut b = Browser::new(&app);
        let authorize = location(&b.get(&app.url("/t/default/account")).await);
        let login = b.get(&app.url(&authorize)).await;
        let html = login.text().await.unwrap();
        let form = [("request", field(&html, "request")), ("csrf", field(&html, "csrf")), ("username", "dan"), ("password", PASSWORD)];
        let callback = location(&b.post(&app.url("/t/default/login"), &form).await);
        // Someone else's browser opening this callback (a login CSRF) is not signed in.
        let mut other = Browser::new(&app);
        let refused = other.get(&callback).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        assert!(refused.headers().get("set-cookie").is_none());
        let ok = b.get(&callback).await;
        assert_eq!(location(&ok), "/t/default/account");
        // The state is spent: the same callback again is refused.
        assert_eq!(b.get(&callback).await.status(), StatusCode::BAD_REQUEST);
    }

    async fn pages_need_a_session_and_a_plain_user_cannot_open_the_console(app: TestApp) {
        let mut b = Browser::new(&app);
        for path in ["/console/tenants", "/console/t/default", "/console/t/default/users", "/console/t/default/clients"] {
            assert_eq!(location(&b.get(&app.url(path)).await), "/console", "{path}");
        }
        let start = page(b.get(&app.url("/console")).await, StatusCode::OK).await;
        assert!(start.contains("Sign in as an operator"));
        let resp = b.post(&app.url("/console/tenants"), &[("slug", "nope"), ("display_name", "x")]).await;
        assert_eq!(location(&resp), "/console");
        let resp = b.post(&app.url("/t/default/account/password"), &[("current_password", "x")]).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

        app.user("plain").await;
        let resp = sign_in(&app, &mut b, "/console/sign-in?tenant=default", "default", "plain", PASSWORD).await;
        let html = page(resp, StatusCode::FORBIDDEN).await;
        assert!(html.contains("no admin role"), "{html}");
    }

    async fn the_account_page_changes_the_password_with_the_current_one_and_a_csrf_token(app: TestApp) {
        app.user("ann").await;
        let mut b = Browser::new(&app);
        let html = page(sign_in(&app, &mut b, "/t/default/account", "default", "ann", PASSWORD).await, StatusCode::OK).await;
        assert!(html.contains("<h1>Your account</h1>") && html.contains("ann"), "{html}");
        let csrf = field(&html, "csrf").to_string();
        let url = app.url("/t/default/account/password");
        let new = "a brand new passphrase 42";

        let no_token = b.post(&url, &[("current_password", PASSWORD), ("new_password", new)]).await;
        assert_eq!(no_token.status(), StatusCode::FORBIDDEN);
        let wrong_token = b.post(&url, &[("csrf", "forged"), ("current_password", PASSWORD), ("new_password", new)]).await;
        assert_eq!(wrong_token.status(), StatusCode::FORBIDDEN);
        let cross_site = b
            .post_with(&url, &[("csrf", &csrf), ("current_password", PASSWORD), ("new_password", new)], &[("sec-fetch-site", "cross-site")])
            .await;
        assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
        let wrong_current = b.post(&url, &[("csrf", &csrf), ("current_password", "not it at all"), ("new_password", new)]).await;
        let body = page(wrong_current, StatusCode::UNAUTHORIZED).await;
        assert!(body.contains("The current password is not right."), "{body}");
        let weak = b.post(&url, &[("csrf", &csrf), ("current_password", PASSWORD), ("new_password", "short")]).await;
        assert_eq!(weak.status(), StatusCode::BAD_REQUEST);
        assert_eq!(app.login_raw("default", "ann", PASSWORD).await.status(), StatusCode::OK, "nothing changed yet");

        let other = app.login("default", "ann").await;
        let ok = b.post(&url, &[("csrf", &csrf), ("current_password", PASSWORD), ("new_password", new), ("end_others", "on")]).await;
        assert_eq!(location(&ok), "/t/default/account?done=password");
        assert_eq!(app.login_raw("default", "ann", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.login_raw("default", "ann", new).await.status(), StatusCode::OK);
        assert_eq!(app.me("default", &other.access).await.status(), StatusCode::UNAUTHORIZED, "other session ended");
        let again = page(b.get(&app.url("/t/default/account?done=password")).await, StatusCode::OK).await;
        assert!(again.contains("Your password is changed."), "this browser stays signed in");
        assert_eq!(audit_channel(&app, "default", "user.password_changed").await.first(), Some(&Value::from("account")));

        let saved = b.post(&app.url("/t/default/account/profile"), &[("csrf", &csrf), ("display_name", "Ann <Lee>")]).await;
        assert_eq!(location(&saved), "/t/default/account?done=profile");
        let html = page(b.get(&app.url("/t/default/account")).await, StatusCode::OK).await;
        assert!(html.contains(r#"value="Ann &#60;Lee&#62;""#), "{html}");

        let out = b.post(&app.url("/t/default/account/sign-out"), &[("csrf", &csrf)]).await;
        assert_eq!(out.status(), StatusCode::OK);
        assert_eq!(b.get(&app.url("/t/default/account")).await.status(), StatusCode::SEE_OTHER, "signed out");
    }

    async fn the_account_page_enrols_an_authenticator_and_lists_sessions(app: TestApp) {
        app.user("bea").await;
        let mut b = Browser::new(&app);
        let html = page(sign_in(&app, &mut b, "/t/default/account", "default", "bea", PASSWORD).await, StatusCode::OK).await;
        let csrf = field(&html, "csrf").to_string();
        assert!(html.contains("This account page") && html.contains("Sign out all other sessions"), "{html}");
        // A sign-in elsewhere (the JSON API) is listed and can be signed out from here.
        let phone = app.login("default", "bea").await;
        let html = page(b.get(&app.url("/t/default/account")).await, StatusCode::OK).await;
        assert!(html.contains("Direct sign-in (API)"), "{html}");
        let sid = crate::helpers::TestApp::claims_of(&phone.access).sid.unwrap();
        assert!(html.contains(&format!(r#"name="session" value="{sid}""#)), "{html}");
        let ended = b.post(&app.url("/t/default/account/end-session"), &[("csrf", &csrf), ("session", &sid)]).await;
        assert_eq!(location(&ended), "/t/default/account?done=session");
        assert_eq!(app.me("default", &phone.access).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.refresh("default", &phone.refresh).await.status(), StatusCode::UNAUTHORIZED);
        let again = b.post(&app.url("/t/default/account/end-session"), &[("csrf", &csrf), ("session", &sid)]).await;
        assert_eq!(again.status(), StatusCode::NOT_FOUND, "not an open session any more");
        let someone = app.user("mallory").await;
        let theirs = crate::helpers::TestApp::claims_of(&someone.access).sid.unwrap();
        let foreign = b.post(&app.url("/t/default/account/end-session"), &[("csrf", &csrf), ("session", &theirs)]).await;
        assert_eq!(foreign.status(), StatusCode::NOT_FOUND, "another user's session");
        assert_eq!(app.me("default", &someone.access).await.status(), StatusCode::OK);
        let enrol = page(b.post(&app.url("/t/default/account/totp"), &[("csrf", &csrf)]).await, StatusCode::OK).await;
        assert!(enrol.contains("data:image/svg+xml;base64,"), "{enrol}");
        let secret = enrol.split(r#"<code class="secret">"#).nth(1).unwrap().split('<').next().unwrap().replace(' ', "");
        let wrong = b.post(&app.url("/t/default/account/totp-confirm"), &[("csrf", &csrf), ("code", "000000")]).await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        let step = crate::second_factor::fresh_step().await;
        let code = crate::second_factor::pyotp_code(&secret, step);
        let codes = page(b.post(&app.url("/t/default/account/totp-confirm"), &[("csrf", &csrf), ("code", &code)]).await, StatusCode::OK).await;
        assert_eq!(codes.matches(r#"<li><code class="secret">"#).count(), 10, "{codes}");
        let html = page(b.get(&app.url("/t/default/account")).await, StatusCode::OK).await;
        assert!(html.contains("Recovery codes left"), "{html}");
        // This session signed in with a password only: removing the app needs a second factor
        // (401, as the JSON API answers RFC 9470's insufficient_user_authentication).
        let remove = b.post(&app.url("/t/default/account/totp-remove"), &[("csrf", &csrf)]).await;
        assert_eq!(remove.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(audit_channel(&app, "default", "mfa.totp.enrolled").await.first(), Some(&Value::from("account")));
    }

    async fn an_operator_sets_up_a_tenant_a_client_and_a_user_that_signs_in(app: TestApp) {
        let (mut b, html) = operator_console(&app).await;
        assert!(html.contains("<h1>Tenants</h1>") && html.contains("/console/t/default"), "{html}");
        let csrf = field(&html, "csrf").to_string();

        let refused = b.post(&app.url("/console/tenants"), &[("slug", "acme"), ("display_name", "Acme")]).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let created = b.post(&app.url("/console/tenants"), &[("csrf", &csrf), ("slug", "acme"), ("display_name", "Acme")]).await;
        assert_eq!(location(&created), "/console/t/acme?done=created");
        let taken = b.post(&app.url("/console/tenants"), &[("csrf", &csrf), ("slug", "acme"), ("display_name", "Acme")]).await;
        assert_eq!(taken.status(), StatusCode::CONFLICT);
        let saved = b
            .post(&app.url("/console/t/acme"), &[("csrf", &csrf), ("display_name", "Acme Inc"), ("registration_open", "on"), ("email_verification", "off"), ("second_factor", "required_for_admins")])
            .await;
        assert_eq!(location(&saved), "/console/t/acme?done=saved");
        let op = app.operator().await;
        let tenant: Value = app.admin_get(&op, "/admin/v1/tenants/acme").await.json().await.unwrap();
        assert_eq!(tenant["display_name"], "Acme Inc");
        assert_eq!(tenant["settings"]["registration_open"], true);
        assert_eq!(tenant["settings"]["second_factor"]["mode"], "required_for_admins");
        assert_eq!(audit_channel(&app, "acme", "tenant.updated").await.first(), Some(&Value::from("console")));
        let unconfirmed = b.post(&app.url("/console/t/acme"), &[("csrf", &csrf), ("action", "delete")]).await;
        assert_eq!(unconfirmed.status(), StatusCode::BAD_REQUEST);
        let system = b.post(&app.url("/console/t/system"), &[("csrf", &csrf), ("action", "delete"), ("confirm", "on")]).await;
        assert_eq!(system.status(), StatusCode::FORBIDDEN, "the system tenant stays");
        let deleted = b.post(&app.url("/console/t/acme"), &[("csrf", &csrf), ("action", "delete"), ("confirm", "on")]).await;
        assert_eq!(location(&deleted), "/console/tenants?done=deleted");
        assert_eq!(app.admin_get(&op, "/admin/v1/tenants/acme").await.status(), StatusCode::NOT_FOUND);

        // A client app and a user in `default`, then that user signs in to the app.
        let form = [("csrf", csrf.as_str()), ("name", "Shop"), ("client_type", "public"), ("redirect_uris", crate::oidc::CB)];
        let client_page = page(b.post(&app.url("/console/t/default/clients"), &form).await, StatusCode::CREATED).await;
        let client_id = client_page.split("<dt>Client id</dt><dd>").nth(1).unwrap().split('<').next().unwrap().to_string();
        let form = [("csrf", csrf.as_str()), ("username", "carl"), ("email", ""), ("password", PASSWORD)];
        let made = b.post(&app.url("/console/t/default/users"), &form).await;
        assert!(location(&made).starts_with("/console/t/default/users/"));
        let users = page(b.get(&app.url("/console/t/default/users?q=car")).await, StatusCode::OK).await;
        assert!(users.contains(">carl</a>"), "{users}");
        let carl_page = location(&made).split('?').next().unwrap().to_string();
        let roles = b.post(&app.url(&carl_page), &[("csrf", &csrf), ("action", "roles"), ("roles", "tenant-admin, billing")]).await;
        assert_eq!(location(&roles), format!("{carl_page}?done=roles_saved"));
        let refused = b.post(&app.url(&carl_page), &[("csrf", &csrf), ("action", "roles"), ("roles", "admin")]).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "admin exists only in system");

        let mut user = Browser::new(&app);
        let login = user.get(&app.authorize_url(&client_id, &[])).await;
        let back = user.sign_in(login, "carl", PASSWORD).await;
        let code = query_of(&location(&back))["code"].clone();
        let tokens = app.redeem(&client_id, &code).await;
        assert_eq!(tokens.status(), StatusCode::OK);
        let sessions = page(b.get(&app.url(&carl_page)).await, StatusCode::OK).await;
        assert!(sessions.contains(&format!(">{client_id}</td>")), "carl's app session is listed: {sessions}");
        let tokens: Value = tokens.json().await.unwrap();
        let ended = b.post(&app.url(&carl_page), &[("csrf", &csrf), ("action", "end-all")]).await;
        assert_eq!(location(&ended), format!("{carl_page}?done=sessions_ended"));
        assert_eq!(app.me("default", tokens["access_token"].as_str().unwrap()).await.status(), StatusCode::UNAUTHORIZED);
        let gone = b.post(&app.url(&carl_page), &[("csrf", &csrf), ("action", "delete"), ("confirm", "on")]).await;
        assert_eq!(location(&gone), "/console/t/default/users?done=deleted");
        assert_eq!(app.login_raw("default", "carl", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);

        // A confidential client's secret is shown once; rotating needs the confirmation.
        let form = [("csrf", csrf.as_str()), ("name", "Backend"), ("client_type", "confidential"), ("redirect_uris", crate::oidc::CB)];
        let created = page(b.post(&app.url("/console/t/default/clients"), &form).await, StatusCode::CREATED).await;
        assert!(created.contains("shown only now"), "{created}");
        let id = created.split("<dt>Client id</dt><dd>").nth(1).unwrap().split('<').next().unwrap().to_string();
        // The textarea holds one URI a line (browsers send CRLF); a NUL is still refused.
        let two = format!("{}\r\nhttps://app.example.com/other", crate::oidc::CB);
        let form = [("csrf", csrf.as_str()), ("action", "redirects"), ("redirect_uris", two.as_str())];
        let saved = b.post(&app.url(&format!("/console/t/default/clients/{id}")), &form).await;
        assert_eq!(location(&saved), format!("/console/t/default/clients/{id}?done=saved"));
        let form = [("csrf", csrf.as_str()), ("action", "redirects"), ("redirect_uris", "https://x.example/\0")];
        let nul = b.post(&app.url(&format!("/console/t/default/clients/{id}")), &form).await;
        assert_eq!(nul.status(), StatusCode::BAD_REQUEST);
        let stored: Value = app.admin_get(&op, &format!("/admin/v1/tenants/default/clients/{id}")).await.json().await.unwrap();
        assert_eq!(stored["redirect_uris"], serde_json::json!([crate::oidc::CB, "https://app.example.com/other"]));
        let shown = page(b.get(&app.url(&format!("/console/t/default/clients/{id}"))).await, StatusCode::OK).await;
        assert!(!shown.contains("shown only now"));
        let unconfirmed = b.post(&app.url(&format!("/console/t/default/clients/{id}")), &[("csrf", &csrf), ("action", "rotate")]).await;
        assert_eq!(unconfirmed.status(), StatusCode::BAD_REQUEST);
        let rotated = b.post(&app.url(&format!("/console/t/default/clients/{id}")), &[("csrf", &csrf), ("action", "rotate"), ("confirm", "on")]).await;
        assert!(page(rotated, StatusCode::OK).await.contains("shown only now"));

        let providers = page(b.get(&app.url("/console/t/default/providers")).await, StatusCode::OK).await;
        assert!(providers.contains(">local</td>"), "{providers}");
        app.user("dora").await;
        let off = b.post(&app.url("/console/t/default/providers"), &[("csrf", &csrf), ("action", "disable"), ("provider", "local"), ("confirm", "on")]).await;
        assert_eq!(location(&off), "/console/t/default/providers?done=saved");
        assert_eq!(app.login_raw("default", "dora", PASSWORD).await.status(), StatusCode::FORBIDDEN, "password sign-in is off");
        let on = b.post(&app.url("/console/t/default/providers"), &[("csrf", &csrf), ("action", "enable"), ("provider", "local")]).await;
        assert_eq!(location(&on), "/console/t/default/providers?done=saved");
        for path in ["/console/t/default/keys", "/console/t/default/audit?type=client.created", "/console/t/default/outbox"] {
            page(b.get(&app.url(path)).await, StatusCode::OK).await;
        }
        let audit = page(b.get(&app.url("/console/t/default/audit?type=client.created")).await, StatusCode::OK).await;
        assert!(audit.contains("client.created") && audit.contains("console"), "{audit}");
        let csv = b.get(&app.url("/console/t/default/audit.csv?type=client.created")).await;
        assert_eq!(csv.status(), StatusCode::OK);
        assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let csv = csv.text().await.unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert!(lines[0].starts_with("created_at,event_type,outcome"), "{csv}");
        assert_eq!(lines.len(), 3, "a header and the two clients created here: {csv}");
        assert!(lines[1].contains("\"client.created\"") && lines[1].contains("\"\"channel\"\":\"\"console\"\""), "{csv}");
        let mut other = Browser::new(&app);
        assert_eq!(location(&other.get(&app.url("/console/t/default/audit.csv")).await), "/console");
    }

    async fn dangerous_console_actions_need_a_recent_sign_in(app: TestApp) {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
        use gatehouse::store::entities::sessions;
        let (mut b, html) = operator_console(&app).await;
        let csrf = field(&html, "csrf").to_string();
        let keys = app.url("/console/t/default/keys");
        let fresh = b.post(&keys, &[("csrf", &csrf), ("confirm", "on")]).await;
        assert_eq!(location(&fresh), "/console/t/default/keys?done=rotated", "a sign-in a moment ago is recent");
        // Twenty minutes later (the sign-in behind the session, moved back in the database).
        let old = chrono::Utc::now() - chrono::Duration::minutes(20);
        sessions::Entity::update_many()
            .col_expr(sessions::Column::AuthTime, Expr::value(old))
            .filter(sessions::Column::ClientId.eq("gatehouse-console"))
            .exec(&app.state.db)
            .await
            .unwrap();
        let stale = b.post(&keys, &[("csrf", &csrf), ("confirm", "on")]).await;
        let again = location(&stale);
        assert_eq!(again, "/console/sign-in?tenant=system&fresh=1&return=%2Fconsole%2Ft%2Fdefault%2Fkeys");
        let before = app.admin_get(&app.operator().await, "/admin/v1/tenants/default/keys").await.text().await.unwrap();
        // Signing in again asks for the password even though the SSO session is alive.
        let authorize = location(&b.get(&app.url(&again)).await);
        assert_eq!(query_of(&authorize)["prompt"], "login");
        let login = b.get(&app.url(&authorize)).await;
        assert_eq!(login.status(), StatusCode::OK, "the sign-in form, not an SSO redirect");
        let html = login.text().await.unwrap();
        let form = [("request", field(&html, "request")), ("csrf", field(&html, "csrf")), ("username", "admin"), ("password", BOOTSTRAP_ADMIN_PASSWORD)];
        let back = location(&b.post(&app.url("/t/system/login"), &form).await);
        assert_eq!(location(&b.get(&back).await), "/console/t/default/keys");
        let html = page(b.get(&keys).await, StatusCode::OK).await;
        let after = app.admin_get(&app.operator().await, "/admin/v1/tenants/default/keys").await.text().await.unwrap();
        assert_eq!(before, after, "the stale request rotated nothing");
        let csrf = field(&html, "csrf").to_string();
        assert_eq!(location(&b.post(&keys, &[("csrf", &csrf), ("confirm", "on")]).await), "/console/t/default/keys?done=rotated");
        let open_redirect = b.get(&app.url("/console/sign-in?tenant=system&return=//evil.example/console/")).await;
        assert!(location(&open_redirect).starts_with("/t/system/oauth2/authorize"));
    }

    async fn a_tenant_admin_sees_only_their_own_tenant(app: TestApp) {
        let op = app.operator().await;
        app.api_tenant(&op, "acme").await;
        app.api_tenant(&op, "other").await;
        app.tenant_admin(&op, "acme", "boss").await;
        let mut b = Browser::new(&app);
        let html = page(sign_in(&app, &mut b, "/console/sign-in?tenant=acme", "acme", "boss", PASSWORD).await, StatusCode::OK).await;
        assert!(html.contains("/console/t/acme") && !html.contains("/console/t/other"), "{html}");
        assert!(!html.contains("New tenant"), "only operators create tenants");
        let csrf = field(&html, "csrf").to_string();
        for path in ["/console/t/other", "/console/t/other/users", "/console/t/other/clients", "/console/t/other/audit", "/console/t/system/users"] {
            assert_eq!(b.get(&app.url(path)).await.status(), StatusCode::FORBIDDEN, "{path}");
        }
        let resp = b.post(&app.url("/console/t/other/users"), &[("csrf", &csrf), ("username", "mole"), ("password", PASSWORD)]).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let resp = b.post(&app.url("/console/tenants"), &[("csrf", &csrf), ("slug", "mine"), ("display_name", "Mine")]).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        page(b.get(&app.url("/console/t/acme/users")).await, StatusCode::OK).await;
        // Another tenant's console cookie does not open this one.
        let out = b.post(&app.url("/console/sign-out"), &[("csrf", &csrf)]).await;
        assert_eq!(out.status(), StatusCode::OK);
        assert_eq!(location(&b.get(&app.url("/console/t/acme/users")).await), "/console");
    }
}
