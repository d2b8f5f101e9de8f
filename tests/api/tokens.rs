//! Attacks on access-token verification, each with a real request against the real server.
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use gatehouse::tokens::{
    AccessClaims, Algorithm,
    keys::{Signer, generate},
};
use jsonwebtoken::{EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_bearer_challenge, assert_invalid_token, backend_tests};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn header_of(token: &str) -> Value {
    serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap()).unwrap()
}

/// Signs `claims` with the tenant's real access-token key (ES256) under a header of our making.
async fn sign_with_header(app: &TestApp, tenant: &str, header: &mut Header, claims: &AccessClaims) -> String {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let kid = app.state.tenants.get(tenant).await.unwrap().unwrap().signer.kid.clone();
    let row = gatehouse::store::entities::signing_keys::Entity::find()
        .filter(gatehouse::store::entities::signing_keys::Column::Kid.eq(kid.clone()))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let der = app.state.master_key.decrypt(&row.private_key, kid.as_bytes()).unwrap();
    header.kid = Some(kid);
    jsonwebtoken::encode(header, claims, &EncodingKey::from_ec_der(&der)).unwrap()
}

backend_tests! {
    async fn a_token_with_alg_none_is_refused(app: TestApp) {
        let t = app.user("alice").await;
        let mut header = header_of(&t.access);
        header["alg"] = json!("none");
        let payload = t.access.split('.').nth(1).unwrap();
        for forged in [
            format!("{}.{payload}.", B64.encode(header.to_string())),
            format!("{}.{payload}", B64.encode(header.to_string())),
        ] {
            assert_invalid_token(app.me("default", &forged).await).await;
        }
    }

    async fn a_token_signed_with_hs256_using_the_public_key_is_refused(app: TestApp) {
        let t = app.user("bob").await;
        let claims = TestApp::claims_of(&t.access);
        let kid = header_of(&t.access)["kid"].as_str().unwrap().to_string();
        let jwks = app.client.get(app.url("/t/default/.well-known/jwks.json")).send().await.unwrap().text().await.unwrap();
        let jwk: Value = serde_json::from_str::<Value>(&jwks).unwrap()["keys"][0].clone();
        let mut point = vec![4u8];
        point.extend(B64.decode(jwk["x"].as_str().unwrap()).unwrap());
        point.extend(B64.decode(jwk["y"].as_str().unwrap()).unwrap());
        for secret in [jwks.as_bytes().to_vec(), jwk.to_string().into_bytes(), point] {
            let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
            header.kid = Some(kid.clone());
            header.typ = Some("at+jwt".into());
            let forged = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&secret)).unwrap();
            assert_invalid_token(app.me("default", &forged).await).await;
        }
    }

    async fn a_token_from_an_unknown_key_is_refused(app: TestApp) {
        let t = app.user("carol").await;
        let claims = TestApp::claims_of(&t.access);
        let foreign = generate(Algorithm::Es256).unwrap();
        let forged = Signer::new(foreign.kid, Algorithm::Es256, &foreign.private_der).sign(&claims).unwrap();
        assert_invalid_token(app.me("default", &forged).await).await;
        // Same foreign key, but claiming the tenant's kid: the signature does not verify.
        let real_kid = header_of(&t.access)["kid"].as_str().unwrap().to_string();
        let forged = Signer::new(real_kid, Algorithm::Es256, &foreign.private_der).sign(&claims).unwrap();
        assert_invalid_token(app.me("default", &forged).await).await;
    }

    async fn expired_and_not_yet_valid_tokens_are_refused_beyond_the_leeway(app: TestApp) {
        let t = app.user("dave").await;
        let base = TestApp::claims_of(&t.access);
        let n = now();
        let expired = AccessClaims { iat: n - 700, nbf: n - 700, exp: n - 31, ..base.clone() };
        assert_invalid_token(app.me("default", &app.sign_as_tenant("default", &expired).await).await).await;
        let future = AccessClaims { iat: n, nbf: n + 120, exp: n + 600, ..base.clone() };
        assert_invalid_token(app.me("default", &app.sign_as_tenant("default", &future).await).await).await;
        // Within the 30 s leeway a token still works: the checks above are about time, not forgery.
        let recent = AccessClaims { iat: n - 620, nbf: n - 620, exp: n - 5, ..base };
        assert_eq!(app.me("default", &app.sign_as_tenant("default", &recent).await).await.status(), StatusCode::OK);
    }

    async fn a_token_with_an_unknown_crit_header_is_refused(app: TestApp) {
        let t = app.user("crit").await;
        let claims = TestApp::claims_of(&t.access);
        let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
        header.typ = Some("at+jwt".into());
        // The same key and header without `crit` is accepted: only `crit` makes the difference.
        let plain = sign_with_header(&app, "default", &mut header.clone(), &claims).await;
        assert_eq!(app.me("default", &plain).await.status(), StatusCode::OK);
        for crit in [vec!["http://example.com/must-understand".to_string()], vec!["exp".into()]] {
            header.crit = Some(crit);
            let forged = sign_with_header(&app, "default", &mut header.clone(), &claims).await;
            assert_invalid_token(app.me("default", &forged).await).await;
        }
    }

    async fn a_token_issued_in_the_future_beyond_the_leeway_is_refused(app: TestApp) {
        let t = app.user("futura").await;
        let n = now();
        let future = AccessClaims { iat: n + 600, nbf: n, exp: n + 900, ..TestApp::claims_of(&t.access) };
        assert_invalid_token(app.me("default", &app.sign_as_tenant("default", &future).await).await).await;
        let skewed = AccessClaims { iat: n + 10, ..future };
        assert_eq!(app.me("default", &app.sign_as_tenant("default", &skewed).await).await.status(), StatusCode::OK);
    }

    async fn an_access_token_signed_with_the_id_token_key_is_refused(app: TestApp) {
        let op = app.operator().await;
        let t = app.user("ida").await;
        let tenant = app.state.tenants.get("default").await.unwrap().unwrap();
        let forged = tenant.id_token_signer.sign(&TestApp::claims_of(&t.access)).unwrap();
        assert_invalid_token(app.me("default", &forged).await).await;
        let system = app.state.tenants.get("system").await.unwrap().unwrap();
        let admin = system.id_token_signer.sign(&TestApp::claims_of(&op)).unwrap();
        assert_invalid_token(app.admin_get(&admin, "/admin/v1/tenants").await).await;
        assert_eq!(app.admin_get(&op, "/admin/v1/tenants").await.status(), StatusCode::OK);
    }

    async fn an_rs256_tenant_signs_access_and_id_tokens_with_separate_keys(app: TestApp) {
        let op = app.operator().await;
        let resp = app.admin_post(&op, "/admin/v1/tenants/default/keys/rotate", &json!({"algorithm": "RS256"})).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let t = app.user("rsa").await;
        let tenant = app.state.tenants.get("default").await.unwrap().unwrap();
        assert_eq!(header_of(&t.access)["alg"], "RS256");
        assert_ne!(tenant.signer.kid, tenant.id_token_signer.kid);
        let forged = tenant.id_token_signer.sign(&TestApp::claims_of(&t.access)).unwrap();
        assert_invalid_token(app.me("default", &forged).await).await;
        assert_eq!(app.me("default", &t.access).await.status(), StatusCode::OK);
        let keys: Value = app.admin_get(&op, "/admin/v1/tenants/default/keys").await.json().await.unwrap();
        let active: Vec<(&str, &str)> = keys["items"].as_array().unwrap().iter()
            .filter(|k| k["status"] == "active")
            .map(|k| (k["algorithm"].as_str().unwrap(), k["purpose"].as_str().unwrap()))
            .collect();
        assert_eq!(active.len(), 2);
        assert!(active.contains(&("RS256", "access")) && active.contains(&("RS256", "id_token")), "{active:?}");
    }

    async fn the_purpose_migration_keeps_id_token_keys_apart_and_splits_a_shared_rs256_key(app: TestApp) {
        use gatehouse::store::entities::signing_keys::{Column, Entity};
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        use sea_orm_migration::MigratorTrait;
        let mut settings = gatehouse::tenancy::TenantSettings::from_config(&app.settings);
        settings.signing_algorithm = "RS256".into();
        gatehouse::tenancy::ensure_tenant(&app.state.db, &app.state.master_key, "legacy", "legacy", settings, chrono::Utc::now())
            .await
            .unwrap();
        let legacy = app.state.tenants.get("legacy").await.unwrap().unwrap();
        // Before ID tokens had their own key, an RS256 tenant had one key for both.
        Entity::delete_by_id(legacy_id_key(&app, legacy.id).await).exec(&app.state.db).await.unwrap();
        let shared = legacy.signer.kid.clone();
        let default_id_kid = app.state.tenants.get("default").await.unwrap().unwrap().id_token_signer.kid.clone();

        migration::Migrator::down(&app.state.db, Some(1)).await.unwrap();
        migration::Migrator::up(&app.state.db, None).await.unwrap();
        app.state.tenants.invalidate_all();

        let db = &app.state.db;
        let purpose = |kid: String| async move {
            Entity::find().filter(Column::Kid.eq(kid)).one(db).await.unwrap().unwrap().purpose
        };
        assert_eq!(purpose(default_id_kid).await, "id_token");
        assert_eq!(purpose(shared.clone()).await, "access");
        let reloaded = app.state.tenants.get("legacy").await.unwrap().unwrap();
        assert_eq!(reloaded.signer.kid, shared);
        assert_ne!(reloaded.id_token_signer.kid, shared, "a new ID-token key on first load");
    }

    async fn an_access_token_is_not_accepted_as_an_id_token_hint(app: TestApp) {
        let t = app.user("hinta").await;
        let url = app.url(&format!("/t/default/oauth2/logout?id_token_hint={}", t.access));
        let resp = app.client.get(url).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    }

    async fn tokens_for_another_issuer_or_audience_are_refused(app: TestApp) {
        let t = app.user("erin").await;
        let base = TestApp::claims_of(&t.access);
        let wrong_iss = AccessClaims { iss: format!("{}/t/other", app.settings.public_url()), ..base.clone() };
        let wrong_aud = AccessClaims { aud: "https://api.example.com".into(), ..base };
        for claims in [wrong_iss, wrong_aud] {
            assert_invalid_token(app.me("default", &app.sign_as_tenant("default", &claims).await).await).await;
        }
    }

    async fn a_token_of_tenant_a_is_refused_at_tenant_b(app: TestApp) {
        app.create_open_tenant("acme").await;
        let t = app.user("frank").await;
        assert_invalid_token(app.me("acme", &t.access).await).await;
        assert_eq!(app.register("acme", "frank").await.status(), StatusCode::CREATED);
        let acme = app.login("acme", "frank").await;
        assert_invalid_token(app.me("default", &acme.access).await).await;
        assert_eq!(app.me("acme", &acme.access).await.status(), StatusCode::OK);
    }

    async fn a_tampered_payload_is_refused(app: TestApp) {
        let t = app.user("gina").await;
        app.user("hugo").await;
        let mut claims = TestApp::claims_of(&t.access);
        claims.sub = uuid::Uuid::now_v7().to_string();
        let parts: Vec<&str> = t.access.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], B64.encode(serde_json::to_vec(&claims).unwrap()), parts[2]);
        assert_invalid_token(app.me("default", &forged).await).await;
        let mut sig = parts[2].to_string();
        sig.replace_range(0..1, if sig.starts_with('A') { "B" } else { "A" });
        assert_invalid_token(app.me("default", &format!("{}.{}.{sig}", parts[0], parts[1])).await).await;
    }

    async fn garbage_and_oversized_tokens_are_refused(app: TestApp) {
        assert_invalid_token(app.me("default", "not.a.token").await).await;
        assert_invalid_token(app.me("default", &"a".repeat(10_000)).await).await;
    }

    async fn a_request_without_a_bearer_token_gets_a_bare_challenge_on_every_protected_route(app: TestApp) {
        let t = app.user("olga").await;
        let routes = [
            (reqwest::Method::GET, "/t/default/me"),
            (reqwest::Method::GET, "/t/default/oauth2/userinfo"),
            (reqwest::Method::POST, "/t/default/oauth2/userinfo"),
            (reqwest::Method::GET, "/admin/v1/tenants"),
            (reqwest::Method::GET, "/admin/v1/tenants/default/users"),
        ];
        for (method, path) in routes {
            let nothing = app.client.request(method.clone(), app.url(path)).send().await.unwrap();
            assert_bearer_challenge(nothing).await;
            // Another scheme is no bearer token either (RFC 6750 §3.1: "unsupported method").
            let basic = app.client.request(method.clone(), app.url(path)).header("Authorization", "Basic YTpi");
            assert_bearer_challenge(basic.send().await.unwrap()).await;
            // A bad token that was sent is named as such.
            let bad = app.client.request(method, app.url(path)).bearer_auth("not.a.token").send().await.unwrap();
            assert_invalid_token(bad).await;
        }
        // The genuine token still works, so the routes above were refused for the credentials.
        assert_eq!(app.me("default", &t.access).await.status(), StatusCode::OK);
    }

    async fn the_passport_jwt_scheme_is_accepted(app: TestApp) {
        let t = app.user("ivan").await;
        for scheme in ["JWT", "jwt", "Bearer", "bearer"] {
            let resp = app
                .client
                .get(app.url("/t/default/me"))
                .header("Authorization", format!("{scheme} {}", t.access))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{scheme}");
        }
    }

    async fn every_revocation_entry_is_checked_on_each_verification(app: TestApp) {
        // Entries written straight into the shared store, with the tenant still cached as
        // active: only the per-request lookup can make these tokens fail.
        let tenant = app.state.tenants.get("default").await.unwrap().unwrap();
        let t = app.user("kim").await;
        let now = chrono::Utc::now().timestamp();
        app.state.revocations.revoke_tenant_before(tenant.id, now + 1).await.unwrap();
        assert_invalid_token(app.me("default", &t.access).await).await;

        let mut claims = TestApp::claims_of(&t.access);
        claims.iat = now + 2;
        claims.nbf = now;
        claims.jti = "fresh".into();
        claims.client_id = Some("some-client".into());
        let token = app.sign_as_tenant("default", &claims).await;
        assert_eq!(app.me("default", &token).await.status(), StatusCode::OK, "issued after the tenant cut-off");
        app.state.revocations.revoke_client_before(tenant.id, "some-client", now + 3).await.unwrap();
        assert_invalid_token(app.me("default", &token).await).await;
    }
}

async fn legacy_id_key(app: &TestApp, tenant: uuid::Uuid) -> uuid::Uuid {
    use gatehouse::store::entities::signing_keys::{Column, Entity};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    Entity::find()
        .filter(Column::TenantId.eq(tenant))
        .filter(Column::Purpose.eq("id_token"))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
        .id
}
