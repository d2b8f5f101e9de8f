//! What the token and revocation endpoints refuse, and proof that a refused request changes
//! nothing: every parameter is checked before a refresh token is rotated or a code is spent,
//! and another client of the tenant can neither burn nor revoke what is not its own.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::PASSWORD;
use crate::helpers::{TestApp, assert_invalid_token, backend_tests};
use crate::oidc::{Browser, CB, VERIFIER, location, oauth_error, query_of};

const GRANTS: &[&str] = &["authorization_code", "refresh_token"];

impl TestApp {
    async fn refresh_grant(&self, client: &str, refresh: &str, scope: Option<&str>) -> reqwest::Response {
        let mut form =
            vec![("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", client)];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        self.token_request(&form, None).await
    }

    /// Tokens of `client` for `ann` (who must exist), through the code flow.
    async fn client_tokens(&self, browser: &mut Browser<'_>, client: &str) -> Value {
        let code = self.code_for(browser, client, "ann").await;
        let resp = self.redeem(client, &code).await;
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json().await.unwrap()
    }

    async fn revoke(&self, token: &str, client: &str) -> reqwest::Response {
        let form = [("token", token), ("client_id", client)];
        self.client.post(self.url("/t/default/oauth2/revoke")).form(&form).send().await.unwrap()
    }
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}")).to_string()
}

backend_tests! {
    async fn a_refresh_asking_for_a_wider_scope_is_refused_and_the_token_still_works(app: TestApp) {
        // Arrange: `orders:read` is allowed for the client but was not granted.
        let op = app.operator().await;
        app.user("ann").await;
        let (client, _) = app.oidc_client(&op, "default", "public", GRANTS, json!({})).await;
        let tokens = app.client_tokens(&mut Browser::new(&app), &client).await;
        let refresh = text(&tokens, "refresh_token");
        let before = app.stored_state().await;

        // Act
        for wider in ["openid orders:read", "offline_access", "admin"] {
            let resp = app.refresh_grant(&client, &refresh, Some(wider)).await;
            oauth_error(resp, StatusCode::BAD_REQUEST, "invalid_scope").await;
        }

        // Assert: nothing was rotated, and the token narrows as RFC 6749 section 6 allows.
        assert_eq!(app.stored_state().await, before);
        let resp = app.refresh_grant(&client, &refresh, Some("openid profile")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let narrowed: Value = resp.json().await.unwrap();
        assert_eq!(narrowed["scope"], "openid profile");
        assert_eq!(TestApp::claims_of(&text(&narrowed, "access_token")).scope, "openid profile");
        let resp = app.refresh_grant(&client, &text(&narrowed, "refresh_token"), None).await;
        assert_eq!(resp.json::<Value>().await.unwrap()["scope"], "openid profile email", "the grant itself is kept");
    }

    async fn a_refresh_token_presented_by_another_client_changes_nothing(app: TestApp) {
        let op = app.operator().await;
        app.user("ann").await;
        let (owner, _) = app.oidc_client(&op, "default", "public", GRANTS, json!({})).await;
        let (other, _) = app.oidc_client(&op, "default", "public", GRANTS, json!({})).await;
        let tokens = app.client_tokens(&mut Browser::new(&app), &owner).await;
        let first = text(&tokens, "refresh_token");
        let before = app.stored_state().await;

        // A live token: refused, not rotated.
        oauth_error(app.refresh_grant(&other, &first, None).await, StatusCode::BAD_REQUEST, "invalid_grant").await;
        assert_eq!(app.stored_state().await, before);

        // A rotated token, past the grace window: reuse by its own client would revoke the
        // family; another client presenting it does not.
        let rotated: Value = app.refresh_grant(&owner, &first, None).await.json().await.unwrap();
        tokio::time::sleep(crate::helpers::REUSE_GRACE).await;
        let before = app.stored_state().await;
        oauth_error(app.refresh_grant(&other, &first, None).await, StatusCode::BAD_REQUEST, "invalid_grant").await;
        assert_eq!(app.stored_state().await, before);
        assert_eq!(app.me("default", &text(&rotated, "access_token")).await.status(), StatusCode::OK);
        let resp = app.refresh_grant(&owner, &text(&rotated, "refresh_token"), None).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }

    async fn first_party_and_client_refresh_tokens_are_refused_at_each_others_endpoint_unspent(app: TestApp) {
        let op = app.operator().await;
        let own = app.user("ann").await;
        let (client, _) = app.oidc_client(&op, "default", "public", GRANTS, json!({})).await;
        let tokens = app.client_tokens(&mut Browser::new(&app), &client).await;
        let client_refresh = text(&tokens, "refresh_token");
        let before = app.stored_state().await;

        assert_eq!(app.refresh("default", &client_refresh).await.status(), StatusCode::UNAUTHORIZED);
        let resp = app.refresh_grant(&client, &own.refresh, None).await;
        oauth_error(resp, StatusCode::BAD_REQUEST, "invalid_grant").await;

        assert_eq!(app.stored_state().await, before);
        assert_eq!(app.refresh_grant(&client, &client_refresh, None).await.status(), StatusCode::OK);
        assert_eq!(app.refresh("default", &own.refresh).await.status(), StatusCode::OK);
    }

    async fn a_code_sent_by_another_client_is_neither_spent_nor_revoked(app: TestApp) {
        let op = app.operator().await;
        app.user("ann").await;
        let (owner, _) = app.oidc_client(&op, "default", "public", GRANTS, json!({})).await;
        let (other, _) = app.oidc_client(&op, "default", "public", GRANTS, json!({})).await;
        let (conf, secret) = app.oidc_client(&op, "default", "confidential", GRANTS, json!({})).await;
        let secret = secret.unwrap();
        let mut browser = Browser::new(&app);
        let code = app.code_for(&mut browser, &owner, "ann").await;
        let before = app.stored_state().await;

        // Act: other clients of the tenant, public and authenticated, with every parameter right.
        oauth_error(app.redeem(&other, &code).await, StatusCode::BAD_REQUEST, "invalid_grant").await;
        let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", CB), ("code_verifier", VERIFIER)];
        oauth_error(app.token_request(&form, Some((&conf, &secret))).await, StatusCode::BAD_REQUEST, "invalid_grant").await;

        // Assert: the code still redeems for its client.
        assert_eq!(app.stored_state().await, before);
        let resp = app.redeem(&owner, &code).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let tokens: Value = resp.json().await.unwrap();

        // A replay by another client does not revoke what the code issued; one by its own does.
        oauth_error(app.redeem(&other, &code).await, StatusCode::BAD_REQUEST, "invalid_grant").await;
        assert_eq!(app.me("default", &text(&tokens, "access_token")).await.status(), StatusCode::OK);
        oauth_error(app.redeem(&owner, &code).await, StatusCode::BAD_REQUEST, "invalid_grant").await;
        assert_invalid_token(app.me("default", &text(&tokens, "access_token")).await).await;
    }

    async fn a_wrong_verifier_or_redirect_uri_from_the_right_client_spends_the_code(app: TestApp) {
        let op = app.operator().await;
        app.user("ann").await;
        let (client, _) = app.oidc_client(&op, "default", "public", GRANTS, json!({})).await;
        let mut browser = Browser::new(&app);
        let wrong_verifier = format!("{VERIFIER}x");
        for (redirect_uri, verifier) in [(CB, wrong_verifier.as_str()), ("http://127.0.0.1/native", VERIFIER)] {
            let code = app.code_for(&mut browser, &client, "ann").await;
            let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", redirect_uri),
                ("code_verifier", verifier), ("client_id", client.as_str())];
            oauth_error(app.token_request(&form, None).await, StatusCode::BAD_REQUEST, "invalid_grant").await;
            oauth_error(app.redeem(&client, &code).await, StatusCode::BAD_REQUEST, "invalid_grant").await;
        }
    }

    async fn revoking_another_clients_token_is_refused_and_revokes_nothing(app: TestApp) {
        let op = app.operator().await;
        let own = app.user("ann").await;
        let (owner, _) = app.oidc_client(&op, "default", "public", GRANTS, json!({})).await;
        let (other, _) = app.oidc_client(&op, "default", "public", GRANTS, json!({})).await;
        let tokens = app.client_tokens(&mut Browser::new(&app), &owner).await;
        let (access, refresh) = (text(&tokens, "access_token"), text(&tokens, "refresh_token"));
        let before = app.stored_state().await;

        // Act: the owner's tokens and a first-party session's, revoked by another client.
        for token in [&access, &refresh, &own.access, &own.refresh] {
            oauth_error(app.revoke(token, &other).await, StatusCode::BAD_REQUEST, "unauthorized_client").await;
        }

        // Assert
        assert_eq!(app.stored_state().await, before);
        assert_eq!(app.me("default", &access).await.status(), StatusCode::OK);
        assert_eq!(app.me("default", &own.access).await.status(), StatusCode::OK);
        assert_eq!(app.refresh("default", &own.refresh).await.status(), StatusCode::OK);
        // Unknown and malformed tokens still answer 200 (RFC 7009 section 2.2).
        for token in ["ghr_unknown-refresh-token", "not-a-token", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"] {
            assert_eq!(app.revoke(token, &other).await.status(), StatusCode::OK, "{token}");
        }
        // The owner still can.
        assert_eq!(app.revoke(&refresh, &owner).await.status(), StatusCode::OK);
        let resp = app.refresh_grant(&owner, &refresh, None).await;
        oauth_error(resp, StatusCode::BAD_REQUEST, "invalid_grant").await;
    }

    async fn the_fields_the_spec_requires_are_refused_when_missing_in_the_rfc6749_shape(app: TestApp) {
        let op = app.operator().await;
        let (client, secret) = app.oidc_client(&op, "default", "confidential", &["client_credentials"], json!({})).await;
        let post = |endpoint: &'static str, form: Vec<(&'static str, &'static str)>| {
            app.client.post(app.url(&format!("/t/default/oauth2/{endpoint}"))).basic_auth(&client, secret.as_deref()).form(&form).send()
        };
        for (endpoint, form, field) in [
            ("token", vec![("scope", "openid")], "grant_type"),
            ("introspect", vec![("token_type_hint", "access_token")], "token"),
            ("revoke", vec![("token_type_hint", "refresh_token")], "token"),
        ] {
            let body = oauth_error(post(endpoint, form).await.unwrap(), StatusCode::BAD_REQUEST, "invalid_request").await;
            assert!(body["error_description"].as_str().unwrap().contains(field), "{endpoint}: {body}");
        }
        // With them, the same client is served.
        let issued = post("token", vec![("grant_type", "client_credentials")]).await.unwrap();
        assert_eq!(issued.status(), StatusCode::OK);
    }

    async fn a_confidential_client_must_send_a_pkce_challenge_unless_opted_out(app: TestApp) {
        let op = app.operator().await;
        app.user("ann").await;
        let (conf, secret) = app.oidc_client(&op, "default", "confidential", GRANTS, json!({})).await;
        let secret = secret.unwrap();
        let mut browser = Browser::new(&app);
        let without_pkce = app.authorize_url(&conf, &[("code_challenge", ""), ("code_challenge_method", "")]);
        let q = query_of(&location(&browser.get(&without_pkce).await));
        assert_eq!(q["error"], "invalid_request");
        assert!(q["error_description"].contains("PKCE"), "{q:?}");

        // A legacy client, opted out by an administrator: the code flow works without PKCE.
        let path = format!("/admin/v1/tenants/default/clients/{conf}");
        assert_eq!(app.admin_patch(&op, &path, &json!({"pkce_required": false})).await.status(), StatusCode::OK);
        let page = browser.get(&without_pkce).await;
        let code = query_of(&location(&browser.sign_in(page, "ann", PASSWORD).await))["code"].clone();
        let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", CB)];
        assert_eq!(app.token_request(&form, Some((&conf, &secret))).await.status(), StatusCode::OK);
        // A challenge it does send is still checked.
        let code = query_of(&location(&browser.get(&app.authorize_url(&conf, &[])).await))["code"].clone();
        let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", CB)];
        oauth_error(app.token_request(&form, Some((&conf, &secret))).await, StatusCode::BAD_REQUEST, "invalid_grant").await;

        // Opted back in: a code issued without a challenge no longer redeems.
        let code = query_of(&location(&browser.get(&without_pkce).await))["code"].clone();
        assert_eq!(app.admin_patch(&op, &path, &json!({"pkce_required": true})).await.status(), StatusCode::OK);
        let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", CB)];
        oauth_error(app.token_request(&form, Some((&conf, &secret))).await, StatusCode::BAD_REQUEST, "invalid_grant").await;
        let q = query_of(&location(&browser.get(&without_pkce).await));
        assert_eq!(q["error"], "invalid_request");
    }

    async fn only_a_challenge_that_s256_can_produce_is_accepted(app: TestApp) {
        let op = app.operator().await;
        let (client, _) = app.oidc_client(&op, "default", "public", GRANTS, json!({})).await;
        let mut browser = Browser::new(&app);
        let good = crate::oidc::challenge();
        assert_eq!(good.len(), 43);
        let cases = [
            good[..42].to_string(),
            format!("{good}A"),
            "A".repeat(128),
            format!("{}=", &good[..42]),
            format!("{}+", &good[..42]),
            format!("{}.", &good[..42]),
            format!("{}~", &good[..42]),
            format!("{} ", &good[..42]),
        ];
        for challenge in cases {
            let resp = browser.get(&app.authorize_url(&client, &[("code_challenge", &challenge)])).await;
            let q = query_of(&location(&resp));
            assert_eq!(q["error"], "invalid_request", "{challenge:?}");
            assert_eq!(q["state"], "st-123");
        }
        assert_eq!(browser.get(&app.authorize_url(&client, &[])).await.status(), StatusCode::OK);
    }

    async fn a_malformed_verifier_or_missing_redirect_uri_is_refused_without_spending_the_code(app: TestApp) {
        let op = app.operator().await;
        app.user("ann").await;
        let (client, _) = app.oidc_client(&op, "default", "public", GRANTS, json!({})).await;
        let mut browser = Browser::new(&app);
        let code = app.code_for(&mut browser, &client, "ann").await;
        let too_short = &VERIFIER[..42];
        let too_long = "a".repeat(129);
        let bad_char = format!("{VERIFIER}+");
        for verifier in [too_short, too_long.as_str(), bad_char.as_str()] {
            let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", CB),
                ("code_verifier", verifier), ("client_id", client.as_str())];
            oauth_error(app.token_request(&form, None).await, StatusCode::BAD_REQUEST, "invalid_request").await;
        }
        let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("code_verifier", VERIFIER),
            ("client_id", client.as_str())];
        oauth_error(app.token_request(&form, None).await, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(app.redeem(&client, &code).await.status(), StatusCode::OK);
    }
}
