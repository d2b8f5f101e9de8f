//! Second factors in the OpenID Connect flow: the hosted second step and enrolment pages,
//! `amr`/`acr` in ID and access tokens, and step-up by `acr_values`, the `claims` parameter,
//! `prompt=login` and `max_age`. Codes come from pyotp.
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::{
    helpers::{PASSWORD, TestApp, backend_tests},
    oidc::{Browser, location, query_of, verify_id_token},
    second_factor::{fresh_step, pyotp_code},
};

pub(crate) const TWO: &str = "urn:gatehouse:loa:2fa";

pub(crate) async fn html(resp: Response, status: StatusCode) -> String {
    assert_eq!(resp.status(), status);
    resp.text().await.unwrap()
}

/// The value of a hidden field, or of the element after `marker`.
pub(crate) fn between<'a>(html: &'a str, marker: &str, end: &str) -> &'a str {
    let start = html.find(marker).unwrap_or_else(|| panic!("no {marker} in {html}")) + marker.len();
    html[start..].split(end).next().unwrap()
}

pub(crate) fn field<'a>(html: &'a str, name: &str) -> &'a str {
    between(html, &format!(r#"name="{name}" value=""#), "\"")
}

/// Posts a second-step form of `page` with `extra` fields.
pub(crate) async fn post_step(
    app: &TestApp,
    b: &mut Browser<'_>,
    page: &str,
    path: &str,
    extra: &[(&str, &str)],
) -> Response {
    let mut form = vec![("challenge", field(page, "challenge")), ("csrf", field(page, "csrf"))];
    form.extend_from_slice(extra);
    b.post(&app.url(&format!("/t/default/login/{path}")), &form).await
}

/// Redeems the code of a redirect; returns the token response and the ID token's claims.
pub(crate) async fn tokens_of(app: &TestApp, client: &str, redirect: &Response) -> (Value, Value) {
    let code = query_of(&location(redirect))["code"].clone();
    let resp = app.redeem(client, &code).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let tokens: Value = resp.json().await.unwrap();
    let id = verify_id_token(app, tokens["id_token"].as_str().unwrap(), client).await;
    (tokens, id)
}

async fn client(app: &TestApp) -> String {
    let op = app.operator().await;
    app.oidc_client(&op, "default", "public", &["authorization_code", "refresh_token"], json!({})).await.0
}

backend_tests! {
    async fn acr_values_step_up_enrols_then_asks_for_the_second_step(app: TestApp) {
        let client = client(&app).await;
        assert_eq!(app.register("default", "eve").await.status(), StatusCode::CREATED);
        let mut b = Browser::new(&app);
        let code = app.code_for(&mut b, &client, "eve").await;
        let tokens: Value = app.redeem(&client, &code).await.json().await.unwrap();
        let id = verify_id_token(&app, tokens["id_token"].as_str().unwrap(), &client).await;
        assert_eq!((id["amr"].clone(), id["acr"].clone()), (json!(["pwd"]), json!("urn:gatehouse:loa:1fa")));

        // The SSO session is one factor: asking for two signs in again and enrols an app.
        let page = b.get(&app.authorize_url(&client, &[("acr_values", TWO)])).await;
        let enrol = html(b.sign_in(page, "eve", PASSWORD).await, StatusCode::OK).await;
        assert!(enrol.contains("<title>Set up two-step verification"), "{enrol}");
        assert!(enrol.contains(r#"<img class="qr" src="data:image/svg+xml;base64,"#));
        let secret = between(&enrol, r#"<code class="secret">"#, "<").replace(' ', "");
        let s = fresh_step().await;
        let wrong = html(post_step(&app, &mut b, &enrol, "enrol", &[("code", "000000")]).await, StatusCode::UNAUTHORIZED).await;
        assert!(wrong.contains(r#"role="alert""#) && wrong.contains(&secret[..4]), "the same secret again");
        let codes = html(post_step(&app, &mut b, &enrol, "enrol", &[("code", &pyotp_code(&secret, s - 1))]).await, StatusCode::OK).await;
        assert_eq!(codes.matches("<li><code>").count(), 10, "{codes}");
        let done = post_step(&app, &mut b, &codes, "continue", &[]).await;
        let (tokens, id) = tokens_of(&app, &client, &done).await;
        assert_eq!((id["amr"].clone(), id["acr"].clone()), (json!(["pwd", "otp", "mfa"]), json!(TWO)));
        let access = TestApp::claims_of(tokens["access_token"].as_str().unwrap());
        assert_eq!((access.amr, access.acr.as_deref()), (vec!["pwd".into(), "otp".into(), "mfa".into()], Some(TWO)));
        // The continue form is spent with its challenge.
        assert_eq!(post_step(&app, &mut b, &codes, "continue", &[]).await.status(), StatusCode::BAD_REQUEST);

        // A refresh keeps them.
        let refreshed = app.token_request(&[("grant_type", "refresh_token"), ("client_id", &client),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap())], None).await;
        let refreshed: Value = refreshed.json().await.unwrap();
        let id = verify_id_token(&app, refreshed["id_token"].as_str().unwrap(), &client).await;
        assert_eq!((id["amr"].clone(), id["acr"].clone()), (json!(["pwd", "otp", "mfa"]), json!(TWO)));

        // Now the session is strong enough: no sign-in.
        let again = b.get(&app.authorize_url(&client, &[("acr_values", TWO)])).await;
        assert_eq!(again.status(), StatusCode::SEE_OTHER);

        // prompt=login signs in again, and an enrolled user always takes the second step.
        let page = b.get(&app.authorize_url(&client, &[("prompt", "login")])).await;
        let step = html(b.sign_in(page, "eve", PASSWORD).await, StatusCode::OK).await;
        assert!(step.contains("<title>Two-step verification") && step.contains(r#"<label for="code">Verification code</label>"#));
        let replay = html(post_step(&app, &mut b, &step, "second-factor", &[("code", &pyotp_code(&secret, s - 1))]).await, StatusCode::UNAUTHORIZED).await;
        assert!(replay.contains("That code did not work"));
        let done = post_step(&app, &mut b, &step, "second-factor", &[("code", &pyotp_code(&secret, s))]).await;
        let (_, id) = tokens_of(&app, &client, &done).await;
        assert_eq!(id["amr"], json!(["pwd", "otp", "mfa"]));

        // max_age shorter than the session's age asks for a sign-in again.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let page = b.get(&app.authorize_url(&client, &[("max_age", "0")])).await;
        assert!(html(page, StatusCode::OK).await.contains(r#"name="password""#));
    }

    async fn the_claims_parameter_asks_for_acr_and_an_essential_one_is_not_waived(app: TestApp) {
        let discovery: Value = app.client.get(app.url("/t/default/.well-known/openid-configuration")).send().await
            .unwrap().json().await.unwrap();
        assert_eq!(discovery["acr_values_supported"], json!(["urn:gatehouse:loa:1fa", TWO]));
        assert_eq!(discovery["claims_parameter_supported"], true);
        assert!(discovery["claims_supported"].as_array().unwrap().contains(&json!("amr")));
        let client = client(&app).await;
        assert_eq!(app.register("default", "fay").await.status(), StatusCode::CREATED);
        let claims = json!({"id_token": {"acr": {"essential": true, "values": [TWO]}}}).to_string();
        let mut b = Browser::new(&app);
        let page = b.get(&app.authorize_url(&client, &[("claims", &claims)])).await;
        let enrol = html(b.sign_in(page, "fay", PASSWORD).await, StatusCode::OK).await;
        assert!(enrol.contains("<title>Set up two-step verification"));
        let bad = b.get(&app.authorize_url(&client, &[("claims", "not json")])).await;
        assert_eq!(query_of(&location(&bad))["error"], "invalid_request");

        let op = app.operator().await;
        app.admin_patch(&op, "/admin/v1/tenants/default", &json!({"settings": {"second_factor": {"mode": "off"}}})).await;
        let refused = b.get(&app.authorize_url(&client, &[("claims", &claims)])).await;
        let q = query_of(&location(&refused));
        assert_eq!(q["error"], "unmet_authentication_requirements");
        assert_eq!(q["state"], "st-123");
        // A voluntary request is answered with what the tenant offers.
        let page = b.get(&app.authorize_url(&client, &[("acr_values", TWO)])).await;
        let done = b.sign_in(page, "fay", PASSWORD).await;
        let (_, id) = tokens_of(&app, &client, &done).await;
        assert_eq!((id["amr"].clone(), id["acr"].clone()), (json!(["pwd"]), json!("urn:gatehouse:loa:1fa")));
    }

    async fn the_second_step_forms_take_posts_from_this_site_with_a_live_challenge_only(app: TestApp) {
        for path in ["second-factor", "enrol", "continue"] {
            let url = app.url(&format!("/t/default/login/{path}"));
            let get = app.client.get(&url).send().await.unwrap();
            assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(get.headers()["allow"], "POST");
            let form = [("challenge", "ghm_unknown"), ("csrf", "x"), ("code", "123456")];
            let cross = app.client.post(&url).header("origin", "https://evil.example").form(&form).send().await.unwrap();
            assert_eq!(cross.status(), StatusCode::FORBIDDEN);
            let unknown = app.client.post(&url).form(&form).send().await.unwrap();
            assert!(html(unknown, StatusCode::BAD_REQUEST).await.contains("expired"));
        }
    }
}
