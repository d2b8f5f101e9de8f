//! Registration and the local username/password strategy.
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, backend_tests, problem};

backend_tests! {
    async fn register_login_and_me_return_the_same_user(app: TestApp) {
        // Arrange
        let resp = app
            .post_json("/t/default/auth/register", &json!({"username": "Alice", "password": PASSWORD, "email": "alice@Example.com"}))
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let created: Value = resp.json().await.unwrap();
        assert_eq!(created["username"], "alice");
        assert_eq!(created["email"], "alice@example.com");
        assert!(created.get("password_hash").is_none());

        // Act
        let resp = app.login_raw("default", "alice", PASSWORD).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let tokens: Value = resp.json().await.unwrap();
        let me = app.me("default", tokens["access_token"].as_str().unwrap()).await;

        // Assert
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["expires_in"], 600);
        assert!(tokens["refresh_token"].as_str().unwrap().starts_with("ghr_"));
        assert_eq!(me.status(), StatusCode::OK);
        let me: Value = me.json().await.unwrap();
        assert_eq!(me["id"], created["id"]);
    }

    async fn access_tokens_carry_the_documented_claims(app: TestApp) {
        let tokens = app.user("carol").await;
        let claims = TestApp::claims_of(&tokens.access);
        let issuer = format!("{}/t/default", app.settings.public_url());
        assert_eq!(claims.iss, issuer);
        assert_eq!(claims.aud, issuer);
        assert_eq!(claims.exp - claims.iat, 600);
        assert!(!claims.jti.is_empty() && claims.sid.is_some());
        let header = jsonwebtoken::decode_header(&tokens.access).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        let jwks: Value = app.client.get(app.url("/t/default/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
        assert_eq!(jwks["keys"][0]["kid"], header.kid.unwrap().as_str());
        assert!(jwks["keys"][0].get("d").is_none(), "no private material in the JWKS");
    }

    async fn usernames_differing_in_case_or_width_are_one_account(app: TestApp) {
        assert_eq!(app.register("default", "Ｄａｖｅ").await.status(), StatusCode::CREATED);
        let dup = app.register("default", "DAVE").await;
        assert_eq!(problem(dup, StatusCode::CONFLICT).await["code"], "username_taken");
        assert_eq!(app.login_raw("default", "dave", PASSWORD).await.status(), StatusCode::OK);
    }

    async fn unknown_user_and_wrong_password_get_byte_identical_answers(app: TestApp) {
        app.user("erin").await;
        let before = app.stored_state().await;
        let mut bodies = Vec::new();
        for name in ["erin", "nobody-here", "has space"] {
            // Each costs exactly one password-hash verification: no shortcut to time.
            let hashes = app.state.hasher.verifications();
            let r = app.login_raw("default", name, "not the password").await;
            assert_eq!(app.state.hasher.verifications(), hashes + 1, "{name}");
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
            bodies.push(r.bytes().await.unwrap());
        }
        assert_eq!(bodies[0], bodies[1]);
        assert_eq!(bodies[0], bodies[2]);
        assert_eq!(app.stored_state().await, before, "a failed login stores nothing");
    }

    async fn concurrent_registrations_of_one_name_create_exactly_one_user(app: TestApp) {
        // Several rounds: a race that is lost only sometimes must still be caught.
        for round in 0..4 {
            let base = format!("frank{round}");
            let upper = base.to_uppercase();
            let wide: String = base.chars().map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap()).collect();
            let names = [&base, &upper, &wide, &format!("{base} "), &base, &upper, &format!(" {upper}"), &base];
            let results = join_all(names.iter().map(|n| app.register("default", n))).await;
            let created = results.iter().filter(|r| r.status() == StatusCode::CREATED).count();
            let conflicts = results.iter().filter(|r| r.status() == StatusCode::CONFLICT).count();
            assert_eq!((created, conflicts), (1, names.len() - 1), "round {round}");
            let stored = app.stored_state().await;
            assert_eq!(stored.matches(&format!("username: \"{base}\"")).count(), 1, "round {round}");
        }
    }

    async fn a_common_password_is_refused_at_registration_with_the_reason(app: TestApp) {
        let before = app.stored_state().await;
        for common in ["password1", "Minecraft", "qwertyuiop"] {
            let resp = app.post_json("/t/default/auth/register", &json!({"username": "gina", "password": common})).await;
            let p = problem(resp, StatusCode::BAD_REQUEST).await;
            assert_eq!((p["code"].as_str(), p["field"].as_str()), (Some("validation_failed"), Some("password")));
            assert!(p["detail"].as_str().unwrap().contains("too common"), "{p}");
        }
        assert_eq!(app.stored_state().await, before);
        assert_eq!(app.register("default", "gina").await.status(), StatusCode::CREATED);
    }

    async fn invalid_registrations_name_the_field_and_store_nothing(app: TestApp) {
        let before = app.stored_state().await;
        for (body, field) in [
            (json!({"username": "gina", "password": "short"}), "password"),
            (json!({"username": "gina", "password": "x".repeat(129)}), "password"),
            (json!({"username": "", "password": PASSWORD}), "username"),
            (json!({"username": "a b", "password": PASSWORD}), "username"),
            (json!({"username": "gina", "password": PASSWORD, "email": "not-an-email"}), "email"),
        ] {
            let resp = app.post_json("/t/default/auth/register", &body).await;
            let p = problem(resp, StatusCode::BAD_REQUEST).await;
            assert_eq!(p["code"], "validation_failed");
            assert_eq!(p["field"], field, "{body}");
        }
        assert_eq!(app.stored_state().await, before);
    }

    async fn an_unknown_tenant_is_a_404(app: TestApp) {
        let resp = app.register("no-such-tenant", "hank").await;
        assert_eq!(problem(resp, StatusCode::NOT_FOUND).await["code"], "tenant_not_found");
        let resp = app.login_raw("no-such-tenant", "hank", PASSWORD).await;
        assert_eq!(problem(resp, StatusCode::NOT_FOUND).await["code"], "tenant_not_found");
    }

    async fn users_of_one_tenant_cannot_log_in_to_another(app: TestApp) {
        app.create_open_tenant("acme").await;
        app.user("ivan").await;
        let resp = app.login_raw("acme", "ivan", PASSWORD).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        // The same name can exist independently in both tenants.
        assert_eq!(app.register("acme", "ivan").await.status(), StatusCode::CREATED);
    }

    async fn hashes_made_with_old_parameters_are_upgraded_at_login(app: TestApp) {
        use argon2::PasswordHasher as _;
        app.user("lena").await;
        let tenant = app.state.tenants.get("default").await.unwrap().unwrap();
        let mut user = gatehouse::store::users::find_by_username(&app.state.db, tenant.id, "lena").await.unwrap().unwrap();
        let old = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, argon2::Params::new(19_456, 3, 1, None).unwrap());
        user.password_hash = Some(old.hash_password(PASSWORD.as_bytes()).unwrap().to_string());
        gatehouse::store::users::update(&app.state.db, user).await.unwrap();

        assert_eq!(app.login_raw("default", "lena", PASSWORD).await.status(), StatusCode::OK);
        let user = gatehouse::store::users::find_by_username(&app.state.db, tenant.id, "lena").await.unwrap().unwrap();
        assert!(user.password_hash.unwrap().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(app.login_raw("default", "lena", PASSWORD).await.status(), StatusCode::OK);
    }
}
