//! The hosted forms (sign-in, sign-out confirmation) refuse posts a browser marks as coming
//! from another site, even with a valid CSRF token; posts without those headers (non-browser
//! clients) rely on the token alone.
use reqwest::StatusCode;
use serde_json::json;

use crate::{
    helpers::{PASSWORD, backend_tests},
    oidc::Browser,
};

const SAYS: &str = "sent from another site";

backend_tests! {
    async fn the_sign_in_form_refuses_a_cross_site_post_with_a_valid_csrf_token(app: TestApp) {
        let op = app.operator().await;
        app.user("ann").await;
        let (client, _) = app.oidc_client(&op, "default", "public", &["authorization_code"], json!({})).await;
        let mut browser = Browser::new(&app);
        let html = browser.get(&app.authorize_url(&client, &[])).await.text().await.unwrap();
        let grab = |name: &str| {
            let m = format!(r#"name="{name}" value=""#);
            html[html.find(&m).unwrap() + m.len()..].split('"').next().unwrap().to_string()
        };
        let (request, csrf) = (grab("request"), grab("csrf"));
        let form = [("request", request.as_str()), ("csrf", csrf.as_str()), ("username", "ann"), ("password", PASSWORD)];
        let login = app.url("/t/default/login");
        let ours = app.settings.public_url();
        let before = app.stored_state().await;
        for headers in [
            vec![("origin", "https://evil.example")],
            vec![("origin", "null")],
            vec![("origin", &format!("{ours}.evil.example")[..])],
            vec![("sec-fetch-site", "cross-site")],
            vec![("sec-fetch-site", "same-site")],
            vec![("sec-fetch-site", "same-origin"), ("origin", "https://evil.example")],
            vec![("sec-fetch-site", "cross-site"), ("origin", &ours[..])],
        ] {
            let resp = browser.post_with(&login, &form, &headers).await;
            assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{headers:?}");
            assert!(resp.text().await.unwrap().contains(SAYS), "{headers:?}");
            assert_eq!(app.stored_state().await, before, "{headers:?}: no session");
        }
        // The same form from our own page signs in.
        let same = [("sec-fetch-site", "same-origin"), ("origin", &ours[..])];
        let resp = browser.post_with(&login, &form, &same).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    }

    async fn the_sign_out_confirmation_refuses_a_cross_site_post(app: TestApp) {
        let op = app.operator().await;
        app.user("ann").await;
        let (client, _) = app.oidc_client(&op, "default", "public", &["authorization_code"], json!({})).await;
        let mut browser = Browser::new(&app);
        let html = browser.get(&app.authorize_url(&client, &[])).await.text().await.unwrap();
        let grab = |name: &str| {
            let m = format!(r#"name="{name}" value=""#);
            html[html.find(&m).unwrap() + m.len()..].split('"').next().unwrap().to_string()
        };
        let form = [("request", grab("request")), ("csrf", grab("csrf")), ("username", "ann".into()), ("password", PASSWORD.into())];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let ours = app.settings.public_url();
        let signed_in = browser.post_with(&app.url("/t/default/login"), &form, &[("origin", &ours[..])]).await;
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);

        let logout = app.url("/t/default/oauth2/logout");
        let resp = browser.post_with(&logout, &[("confirm", "yes")], &[("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")]).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert!(resp.text().await.unwrap().contains(SAYS));
        // Still signed in: the authorization request needs no form.
        let again = browser.get(&app.authorize_url(&client, &[])).await;
        assert_eq!(again.status(), StatusCode::SEE_OTHER, "the SSO session survived");

        let resp = browser.post_with(&logout, &[("confirm", "yes")], &[("sec-fetch-site", "same-origin"), ("origin", &ours[..])]).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(browser.get(&app.authorize_url(&client, &[])).await.status(), StatusCode::OK, "signed out: the form again");
    }
}
