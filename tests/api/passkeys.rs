//! Passkeys in a real browser: Debian's Chromium (playwright-core) with the DevTools protocol's
//! virtual WebAuthn authenticator (CTAP2, internal transport, resident keys, user
//! verification), against the real server on `http://localhost:<port>` (an IP address cannot
//! be an RP ID), on both backends. The program is `tests/interop/passkey.mjs`: it registers a
//! passkey from the hosted enrolment page, signs in usernameless and as a second step, replays
//! spent ceremonies over HTTP, renames and deletes a passkey, and creates a passkey-only account
//! that a password cannot open. Every page is checked with axe-core and photographed.
use std::path::Path;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp};

async fn on_localhost(backend: Backend) -> TestApp {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    TestApp::spawn_tuned(backend, |s| {
        s.server.bind = format!("127.0.0.1:{port}").parse().unwrap();
        s.server.public_url = format!("http://localhost:{port}");
    })
    .await
}

async fn run(backend: Backend) {
    let app = on_localhost(backend).await;
    let op = app.operator().await;
    app.admin_post(&op, "/admin/v1/tenants/default/users", &json!({"username": "pat", "password": PASSWORD}))
        .await;
    let policy = json!({"settings": {"second_factor": {"mode": "optional", "methods": ["totp", "recovery_code", "passkey"]}}});
    assert!(app.admin_patch(&op, "/admin/v1/tenants/default", &policy).await.status().is_success());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let resp = app
        .admin_post(
            &op,
            "/admin/v1/tenants/default/clients",
            &json!({
                "name": "Passkey app", "client_type": "public",
                "redirect_uris": [format!("http://127.0.0.1:{port}/callback")],
                "grant_types": ["authorization_code"], "scopes": ["openid"],
            }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let client: Value = resp.json().await.unwrap();
    // Another tenant on the same host (so the same RP ID): its users are not default's.
    app.create_open_tenant("other").await;
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let public = app.settings.public_url();
    let env = [
        ("BASE", public.clone()),
        ("ISSUER", format!("{public}/t/default")),
        ("CLIENT_ID", client["client_id"].as_str().unwrap().to_string()),
        ("CALLBACK_PORT", port.to_string()),
        ("USERNAME", "pat".into()),
        ("PASSWORD", PASSWORD.into()),
        ("SCREENSHOT_DIR", shots.display().to_string()),
        ("SHOT_PREFIX", format!("passkey-{backend:?}")),
    ];
    tokio::task::spawn_blocking(move || crate::interop::run_node("passkey.mjs", &env)).await.unwrap();

    // What the browser did, as the server recorded it.
    for wanted in ["mfa.passkey.registered", "mfa.passkey.used", "mfa.passkey.renamed", "mfa.passkey.removed"]
    {
        let path = format!("/admin/v1/tenants/default/audit-events?type={wanted}");
        let log: Value = app.admin_get(&op, &path).await.json().await.unwrap();
        assert!(!log["items"].as_array().unwrap().is_empty(), "no {wanted} event");
    }
    // A password sign-in of the passkey-only account fails like a wrong password.
    let solo = app.login_raw("default", "solo", PASSWORD).await;
    assert_eq!(solo.status(), StatusCode::UNAUTHORIZED);
    let unknown = app.login_raw("default", "nobody-here", PASSWORD).await;
    let (a, b): (Value, Value) = (solo.json().await.unwrap(), unknown.json().await.unwrap());
    assert_eq!(a["code"], b["code"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_registers_and_signs_in_with_passkeys_postgres_redis() {
    run(Backend::PostgresRedis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_registers_and_signs_in_with_passkeys_sqlite_memory() {
    run(Backend::SqliteMemory).await;
}

/// Each test twice, as `backend_tests!` does, on an app served at `http://localhost`.
macro_rules! localhost_tests {
    ($( async fn $name:ident($app:ident : TestApp) $body:block )*) => {
        $(
            mod $name {
                use super::*;

                async fn run($app: TestApp) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_redis() {
                    run(on_localhost(Backend::PostgresRedis).await).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite_memory() {
                    run(on_localhost(Backend::SqliteMemory).await).await
                }
            }
        )*
    };
}

async fn problem(resp: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(resp.status(), status);
    resp.json().await.unwrap()
}

async fn options(app: &TestApp, body: Value) -> Value {
    let resp = app.post_json("/t/default/auth/passkey/options", &body).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    resp.json().await.unwrap()
}

localhost_tests! {
    async fn sign_in_options_name_the_rp_and_do_not_tell_accounts_apart(app: TestApp) {
        assert_eq!(app.register("default", "pat").await.status(), StatusCode::CREATED);
        let open = options(&app, json!({})).await;
        let pk = &open["options"]["publicKey"];
        assert_eq!(pk["rpId"], "localhost");
        assert_eq!(pk["userVerification"], "required");
        assert_eq!(open["options"]["mediation"], "conditional");
        assert!(pk.get("allowCredentials").is_none_or(|a| a.as_array().unwrap().is_empty()));
        assert!(open["passkey_token"].as_str().unwrap().starts_with("ghp_"));
        // A user without passkeys and names nobody has: stand-in credentials, the same each time
        // for a name, as many as real accounts tend to have (webauthn-rs' distribution: mostly
        // one, sometimes none or several).
        let ids = |v: &Value| v["options"]["publicKey"]["allowCredentials"].clone();
        let (pat, nobody) = (options(&app, json!({"username": "pat"})).await, options(&app, json!({"username": "nobody"})).await);
        assert_eq!(ids(&pat), ids(&options(&app, json!({"username": "pat"})).await));
        assert_eq!(ids(&nobody), ids(&options(&app, json!({"username": "nobody"})).await));
        let mut seen = std::collections::HashSet::new();
        for i in 0..12 {
            let stand_ins = ids(&options(&app, json!({"username": format!("nobody{i}")})).await);
            for c in stand_ins.as_array().unwrap() {
                assert_eq!(c["type"], "public-key");
                assert!(seen.insert(c["id"].as_str().unwrap().to_string()), "ids differ between names");
            }
        }
        assert!(seen.len() >= 6, "most names get stand-ins: {}", seen.len());
        assert!(pat["options"].get("mediation").is_none() && nobody["options"].get("mediation").is_none());
    }

    async fn a_ceremony_answers_once_and_junk_is_refused_without_a_session(app: TestApp) {
        let junk = json!({"id": "AAAA", "rawId": "AAAA", "type": "public-key",
            "response": {"authenticatorData": "AAAA", "clientDataJSON": "AAAA", "signature": "AAAA", "userHandle": "AAAA"},
            "extensions": {}});
        let unknown = app.post_json("/t/default/auth/passkey/verify", &json!({"passkey_token": "ghp_nope", "credential": junk})).await;
        assert_eq!(problem(unknown, StatusCode::UNAUTHORIZED).await["code"], "invalid_passkey_token");
        let started = options(&app, json!({})).await;
        let body = json!({"passkey_token": started["passkey_token"], "credential": junk});
        let refused = app.post_json("/t/default/auth/passkey/verify", &body).await;
        assert_eq!(problem(refused, StatusCode::UNAUTHORIZED).await["code"], "passkey_rejected");
        // Spent by the failed answer: a second try needs a new ceremony.
        let again = app.post_json("/t/default/auth/passkey/verify", &body).await;
        assert_eq!(problem(again, StatusCode::UNAUTHORIZED).await["code"], "invalid_passkey_token");
        // A registration token does not finish a sign-in.
        let reg = app.post_json("/t/default/auth/passkey/register", &json!({"username": "newbie"})).await;
        let reg: Value = reg.json().await.unwrap();
        assert_eq!(reg["options"]["publicKey"]["authenticatorSelection"]["residentKey"], "preferred");
        let crossed = app.post_json("/t/default/auth/passkey/verify", &json!({"passkey_token": reg["passkey_token"], "credential": junk})).await;
        assert_eq!(problem(crossed, StatusCode::UNAUTHORIZED).await["code"], "invalid_passkey_token");
    }

    async fn passkeys_follow_the_tenant_policy_and_registration_rules(app: TestApp) {
        let op = app.operator().await;
        assert_eq!(app.register("default", "pat").await.status(), StatusCode::CREATED);
        let taken = app.post_json("/t/default/auth/passkey/register", &json!({"username": "PAT"})).await;
        assert_eq!(problem(taken, StatusCode::CONFLICT).await["code"], "username_taken");
        let off = json!({"settings": {"second_factor": {"methods": ["totp", "recovery_code"]}}});
        assert_eq!(app.admin_patch(&op, "/admin/v1/tenants/default", &off).await.status(), StatusCode::OK);
        let refused = app.post_json("/t/default/auth/passkey/options", &json!({})).await;
        assert_eq!(problem(refused, StatusCode::FORBIDDEN).await["code"], "method_not_allowed");
        let html = app.client.get(app.url("/assets/passkey.js")).send().await.unwrap();
        assert_eq!(html.headers()["content-type"], "text/javascript; charset=utf-8");
        // Passkeys alone make a valid required policy; the RP ID must fit the public URL.
        let only = json!({"settings": {"second_factor": {"mode": "required", "methods": ["passkey"]}}});
        assert_eq!(app.admin_patch(&op, "/admin/v1/tenants/default", &only).await.status(), StatusCode::OK);
        let login = app.login_raw("default", "pat", PASSWORD).await;
        let answer = problem(login, StatusCode::FORBIDDEN).await;
        assert_eq!((answer["code"].as_str(), answer["methods"].clone()), (Some("second_factor_enrolment_required"), json!(["passkey"])));
        for (rp_id, ok) in [("localhost", true), ("Not A Host", false), ("example.com", false), ("", true)] {
            let body = json!({"settings": {"passkeys": {"rp_id": rp_id}}});
            let resp = app.admin_patch(&op, "/admin/v1/tenants/default", &body).await;
            assert_eq!(resp.status().is_success(), ok, "{rp_id}: {}", resp.status());
        }
    }

    async fn a_passkey_of_one_tenant_is_not_reachable_from_another(app: TestApp) {
        use gatehouse::store;
        let ann = app.user("ann").await;
        app.create_open_tenant("other").await;
        assert_eq!(app.register("other", "bob").await.status(), StatusCode::CREATED);
        let bob = app.login("other", "bob").await;
        let tenant = app.state.tenants.get_active("default").await.unwrap().unwrap();
        let user = store::users::find_by_username(&app.state.db, tenant.id, "ann").await.unwrap().unwrap();
        let now = chrono::Utc::now();
        let row = store::entities::user_factors::Model {
            id: uuid::Uuid::now_v7(), tenant_id: tenant.id, user_id: user.id, kind: "passkey".into(),
            name: "Ann's key".into(), secret: None, last_step: None, confirmed_at: Some(now), created_at: now,
            last_used_at: None, credential: Some("{}".into()), credential_id: Some("AAAA".into()),
        };
        let row = store::passkeys::insert(&app.state.db, row).await.unwrap();
        let path = |t: &str| app.url(&format!("/t/{t}/me/passkeys/{}", row.id));
        let rename = app.client.patch(path("other")).bearer_auth(&bob.access).json(&json!({"name": "mine"})).send().await.unwrap();
        assert_eq!(problem(rename, StatusCode::NOT_FOUND).await["code"], "passkey_not_found");
        let delete = app.client.delete(path("other")).bearer_auth(&bob.access).send().await.unwrap();
        assert_eq!(problem(delete, StatusCode::NOT_FOUND).await["code"], "passkey_not_found");
        let listed: Value = app.client.get(app.url("/t/other/me/passkeys")).bearer_auth(&bob.access).send().await.unwrap().json().await.unwrap();
        assert_eq!(listed, json!([]));
        let ours: Value = app.client.get(app.url("/t/default/me/passkeys")).bearer_auth(&ann.access).send().await.unwrap().json().await.unwrap();
        assert_eq!(ours[0]["name"], "Ann's key");
    }

    async fn the_account_api_guards_passkeys_and_the_password(app: TestApp) {
        let t = app.user("ann").await;
        let me = |m: reqwest::Method, p: &str| app.client.request(m, app.url(&format!("/t/default/me{p}"))).bearer_auth(&t.access);
        let list: Value = me(reqwest::Method::GET, "/passkeys").send().await.unwrap().json().await.unwrap();
        assert_eq!(list, json!([]));
        let id = uuid::Uuid::now_v7();
        let gone = me(reqwest::Method::DELETE, &format!("/passkeys/{id}")).send().await.unwrap();
        assert_eq!(problem(gone, StatusCode::NOT_FOUND).await["code"], "passkey_not_found");
        let long = me(reqwest::Method::PATCH, &format!("/passkeys/{id}")).json(&json!({"name": "x".repeat(101)})).send().await.unwrap();
        assert_eq!(long.status(), StatusCode::BAD_REQUEST);
        let password = me(reqwest::Method::DELETE, "/password").send().await.unwrap();
        assert_eq!(problem(password, StatusCode::CONFLICT).await["code"], "last_sign_in_method");
        let started = me(reqwest::Method::POST, "/passkeys/register").send().await.unwrap();
        let started: Value = started.json().await.unwrap();
        assert_eq!(started["options"]["publicKey"]["user"]["name"], "ann");
        assert_eq!(started["options"]["publicKey"]["rp"]["id"], "localhost");
        let factors: Value = me(reqwest::Method::GET, "/second-factors").send().await.unwrap().json().await.unwrap();
        assert_eq!(factors["passkeys"], 0);
        assert_eq!(factors["allowed_methods"], json!(["totp", "recovery_code", "passkey"]));
        let wrong_door = json!({"mfa_token": "ghm_x", "method": "passkey", "code": "123456"});
        let resp = app.post_json("/t/default/auth/mfa/verify", &wrong_door).await;
        assert_eq!(problem(resp, StatusCode::BAD_REQUEST).await["field"], "method");
    }
}

mod without_a_host_name {
    use crate::helpers::backend_tests;
    use reqwest::StatusCode;
    use serde_json::{Value, json};

    backend_tests! {
        async fn passkeys_are_unavailable_and_not_offered_under_an_ip_address(app: TestApp) {
            let resp = app.post_json("/t/default/auth/passkey/options", &json!({})).await;
            assert_eq!(resp.status(), StatusCode::CONFLICT);
            assert_eq!(resp.json::<Value>().await.unwrap()["code"], "passkeys_unavailable");
            let op = app.operator().await;
            let body = json!({"settings": {"passkeys": {"rp_id": "example.com"}}});
            let resp = app.admin_patch(&op, "/admin/v1/tenants/default", &body).await;
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        }
    }
}
