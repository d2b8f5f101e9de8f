//! The passport.js bridge in `examples/express-passport/`, run with Node.js against the real
//! server: a browser-like user signs in through passport + openid-client's Strategy and the hosted
//! form, and the app's API accepts a live access token and refuses it once it is logged out.
//! `scripts/test` installs the example's packages; a missing Node.js or package fails the test.
use std::{
    collections::BTreeMap,
    process::{Child, Command, Stdio},
};

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::{
    clients::node_project,
    helpers::{Backend, PASSWORD, TestApp},
};

/// The example app as a child process, stopped when the test ends however it ends.
struct NodeApp(Child);

impl Drop for NodeApp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Cookies as a browser keeps them for 127.0.0.1 (cookies do not isolate ports).
#[derive(Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn store(&mut self, resp: &reqwest::Response) {
        for v in resp.headers().get_all(header::SET_COOKIE) {
            let pair = v.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.0.insert(name.trim().into(), value.into());
        }
    }

    fn header(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }
}

/// A browser step: send the cookies, keep the new ones, never follow redirects.
async fn browse(jar: &mut Jar, req: reqwest::RequestBuilder) -> reqwest::Response {
    let resp = req.header(header::COOKIE, jar.header()).send().await.unwrap();
    jar.store(&resp);
    resp
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()[header::LOCATION].to_str().unwrap().to_string()
}

/// The `value` of the hidden input `name` in the hosted sign-in form.
fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} field in\n{html}")) + marker.len();
    html[start..].split('"').next().unwrap().replace("&amp;", "&")
}

/// Where the hosted sign-in form posts to.
fn form_action(html: &str) -> String {
    let marker = "<form method=\"POST\" action=\"";
    let start = html.find(marker).unwrap_or_else(|| panic!("no form in\n{html}")) + marker.len();
    html[start..].split('"').next().unwrap().replace("&amp;", "&")
}

async fn start_example(app: &TestApp, client_id: &str, secret: &str, base: &str, port: u16) -> NodeApp {
    let dir = node_project("examples/express-passport", "openid-client");
    let child = Command::new("node")
        .arg("app.mjs")
        .current_dir(dir)
        .env("GATEHOUSE_ISSUER", format!("{}/t/default", app.settings.public_url()))
        .env("CLIENT_ID", client_id)
        .env("CLIENT_SECRET", secret)
        .env("BASE_URL", base)
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node (Node.js 20+ is required): {e}"));
    let mut node = NodeApp(child);
    for _ in 0..200 {
        if let Some(status) = node.0.try_wait().unwrap() {
            panic!("the example app exited with {status} (its stderr is above)");
        }
        if app.client.get(base).send().await.is_ok() {
            return node;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the example app did not answer on {base}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_express_passport_example_signs_in_and_guards_its_api_with_live_tokens() {
    let app = TestApp::spawn(Backend::PostgresRedis).await;
    let op = app.operator().await;
    let resp = app
        .admin_post(
            &op,
            "/admin/v1/tenants/default/users",
            &json!({"username": "passport-user", "password": PASSWORD, "email": "passport@example.com"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let user_id = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let resp = app
        .admin_post(&op, "/admin/v1/tenants/default/clients", &json!({
            "name": "Express + passport", "client_type": "confidential",
            "redirect_uris": [format!("{base}/callback")], "post_logout_redirect_uris": [format!("{base}/")],
            "grant_types": ["authorization_code"], "scopes": ["openid", "profile", "email"],
        }))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let client: Value = resp.json().await.unwrap();
    let _node = start_example(
        &app,
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str().unwrap(),
        &base,
        port,
    )
    .await;
    let http = &app.client;
    let mut jar = Jar::default();

    // Browser sign-in: the app sends the user to Gatehouse with PKCE...
    let resp = browse(&mut jar, http.get(format!("{base}/login"))).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let authorize = location(&resp);
    assert!(authorize.starts_with(&format!("{}/t/default/oauth2/authorize?", app.address)), "{authorize}");
    assert!(authorize.contains("code_challenge_method=S256"), "{authorize}");
    // ...the user fills in the hosted form...
    let resp = browse(&mut jar, http.get(&authorize)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    let form = [
        ("request", field(&html, "request")),
        ("csrf", field(&html, "csrf")),
        ("username", "passport-user".into()),
        ("password", PASSWORD.into()),
    ];
    let resp = browse(&mut jar, http.post(app.url(&form_action(&html))).form(&form)).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let callback = location(&resp);
    assert!(callback.starts_with(&format!("{base}/callback?")), "{callback}");
    // ...and comes back signed in: the strategy redeemed the code and passport holds req.user.
    let resp = browse(&mut jar, http.get(&callback)).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(location(&resp), "/");
    let page = browse(&mut jar, http.get(format!("{base}/"))).await.text().await.unwrap();
    assert!(page.contains("Signed in as passport-user"), "{page}");
    let profile: Value = browse(&mut jar, http.get(format!("{base}/profile"))).await.json().await.unwrap();
    assert_eq!(
        profile,
        json!({"sub": user_id, "username": "passport-user", "email": "passport@example.com"})
    );

    // The API: no token, a live token, the same token after logout.
    let whoami = format!("{base}/api/whoami");
    let resp = http.get(&whoami).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(
        resp.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Bearer error=\"invalid_token\"")
    );
    let access = app.login("default", "passport-user").await.access;
    let resp = http.get(&whoami).bearer_auth(&access).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap()["sub"], user_id);
    assert_eq!(app.logout("default", &access, false).await.status(), StatusCode::NO_CONTENT);
    let resp = http.get(&whoami).bearer_auth(&access).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error_description"], "the token has been revoked", "{body}");
    // One character of the signature changed.
    let at = access.rfind('.').unwrap() + 10;
    let swap = if &access[at..=at] == "A" { "B" } else { "A" };
    let forged = format!("{}{swap}{}", &access[..at], &access[at + 1..]);
    let resp = http.get(&whoami).bearer_auth(forged).send().await.unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["error_description"], "the token is invalid or expired");

    // Sign-out ends the app session and the Gatehouse SSO session.
    let resp = browse(&mut jar, http.get(format!("{base}/logout"))).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let end_session = location(&resp);
    assert!(end_session.starts_with(&format!("{}/t/default/oauth2/logout?", app.address)), "{end_session}");
    let resp = browse(&mut jar, http.get(&end_session)).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), format!("{base}/"));
    let page = browse(&mut jar, http.get(format!("{base}/"))).await.text().await.unwrap();
    assert!(page.contains("Sign in with Gatehouse"), "{page}");
    let resp = browse(&mut jar, http.get(&authorize)).await;
    assert_eq!(resp.status(), StatusCode::OK, "no SSO session is left, so the form is shown again");
}
