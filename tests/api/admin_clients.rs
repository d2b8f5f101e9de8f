//! The admin API for client apps and login providers: lifecycle, one-time secrets, write-only
//! provider secrets, validation, idempotency, pagination, role scoping and tenant isolation.
use std::{collections::HashSet, sync::Arc};

use gatehouse::store::{
    self,
    entities::{audit_events, clients, idempotency_keys, providers},
};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::helpers::{TestApp, backend_tests, problem};

const CLIENTS: &str = "/admin/v1/tenants/default/clients";
const PROVIDERS: &str = "/admin/v1/tenants/default/providers";

async fn json_of(resp: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(resp.status(), status);
    resp.json().await.unwrap()
}

fn web_app(name: &str) -> Value {
    json!({"name": name, "client_type": "confidential", "redirect_uris": ["https://app.example/callback"]})
}

fn spa(name: &str) -> Value {
    json!({"name": name, "client_type": "public", "redirect_uris": ["http://127.0.0.1:8080/cb"]})
}

/// Every stored client and provider, to prove a refused request changed nothing.
async fn admin_tables(app: &TestApp) -> String {
    let db = &app.state.db;
    let c = clients::Entity::find().order_by_asc(clients::Column::Id).all(db).await.unwrap();
    let p = providers::Entity::find().order_by_asc(providers::Column::Id).all(db).await.unwrap();
    format!("{c:?}\n{p:?}")
}

async fn stored_client(app: &TestApp, client_id: &str) -> Option<clients::Model> {
    clients::Entity::find().filter(clients::Column::ClientId.eq(client_id)).one(&app.state.db).await.unwrap()
}

async fn tenant_id(app: &TestApp, slug: &str) -> uuid::Uuid {
    app.state.tenants.get(slug).await.unwrap().unwrap().id
}

async fn verifies(app: &TestApp, tenant: &str, client_id: &str, secret: &str) -> bool {
    let tid = tenant_id(app, tenant).await;
    store::clients::find(&app.state.db, tid, client_id)
        .await
        .unwrap()
        .is_some_and(|c| c.enabled && store::clients::secret_matches(&app.state.master_key, &c, secret))
}

/// A provider row of a kind the API cannot create yet, written straight to the store (as the
/// provider issue's code will), so lists and isolation can be tested with several providers.
async fn insert_provider(app: &TestApp, tenant: &str, provider_id: &str, position: i32, enabled: bool) {
    let tid = tenant_id(app, tenant).await;
    let mut row = store::providers::local_provider(tid, chrono::Utc::now());
    row.provider_id = provider_id.into();
    row.kind = "oidc".into();
    row.config = json!({"issuer": "https://idp.example", "client_id": provider_id});
    row.display_name = provider_id.into();
    row.position = position;
    row.enabled = enabled;
    store::providers::insert(&app.state.db, row).await.unwrap();
}

async fn audit_log(app: &TestApp, op: &str, tenant: &str) -> Value {
    let path = format!("/admin/v1/tenants/{tenant}/audit-events?limit=200");
    json_of(app.admin_get(op, &path).await, StatusCode::OK).await
}

fn event_types(log: &Value) -> Vec<String> {
    log["items"].as_array().unwrap().iter().map(|e| e["event_type"].as_str().unwrap().to_string()).collect()
}

backend_tests! {
    async fn a_confidential_client_is_created_read_updated_and_deleted(app: TestApp) {
        let op = app.operator().await;
        let body = json!({
            "name": " Billing ",
            "client_type": "confidential",
            "redirect_uris": ["https://billing.example/cb", "com.example.billing:/cb"],
            "post_logout_redirect_uris": ["https://billing.example/bye"],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "scopes": ["openid", "email", "billing:read"],
            "access_token_ttl_secs": 900,
            "refresh_token_ttl_secs": 86400
        });
        let resp = app.admin_post(&op, CLIENTS, &body).await;
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let created = json_of(resp, StatusCode::CREATED).await;
        let id = created["client_id"].as_str().unwrap().to_string();
        assert!(id.len() >= 16 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{id}");
        assert_eq!(created["name"], "Billing");
        assert_eq!(created["client_type"], "confidential");
        assert_eq!(created["redirect_uris"], body["redirect_uris"]);
        assert_eq!(created["grant_types"], body["grant_types"]);
        assert_eq!(created["scopes"], body["scopes"]);
        assert_eq!(created["access_token_ttl_secs"], 900);
        assert_eq!(created["enabled"], true);
        assert_eq!(created["has_secret"], true);
        assert!(created["client_secret"].as_str().unwrap().starts_with("ghs_"));

        let got = json_of(app.admin_get(&op, &format!("{CLIENTS}/{id}")).await, StatusCode::OK).await;
        let mut without_secret = created.clone();
        without_secret.as_object_mut().unwrap().remove("client_secret");
        assert_eq!(got, without_secret);

        let patch = json!({"name": "Billing v2", "scopes": ["openid"], "enabled": false, "access_token_ttl_secs": null});
        let updated = json_of(app.admin_patch(&op, &format!("{CLIENTS}/{id}"), &patch).await, StatusCode::OK).await;
        assert_eq!(updated["name"], "Billing v2");
        assert_eq!(updated["scopes"], json!(["openid"]));
        assert_eq!(updated["enabled"], false);
        assert!(updated["access_token_ttl_secs"].is_null(), "null removes the override");
        assert_eq!(updated["refresh_token_ttl_secs"], 86400, "absent fields keep their value");
        assert_eq!(updated["redirect_uris"], body["redirect_uris"]);
        let got = json_of(app.admin_get(&op, &format!("{CLIENTS}/{id}")).await, StatusCode::OK).await;
        assert_eq!(got, updated, "the update returned the stored client");

        assert_eq!(app.admin_delete(&op, &format!("{CLIENTS}/{id}")).await.status(), StatusCode::NO_CONTENT);
        let gone = app.admin_get(&op, &format!("{CLIENTS}/{id}")).await;
        assert_eq!(problem(gone, StatusCode::NOT_FOUND).await["code"], "client_not_found");
        assert!(stored_client(&app, &id).await.is_none());
        problem(app.admin_delete(&op, &format!("{CLIENTS}/{id}")).await, StatusCode::NOT_FOUND).await;

        let log = audit_log(&app, &op, "default").await;
        let types = event_types(&log);
        for t in ["client.created", "client.updated", "client.deleted"] {
            assert!(types.iter().any(|x| x == t), "{t} in {types:?}");
        }
        assert!(log["items"].as_array().unwrap().iter().any(|e| e["target"] == format!("client:{id}")));
    }

    async fn public_clients_have_no_secret_and_cannot_use_client_credentials(app: TestApp) {
        let op = app.operator().await;
        let created = json_of(app.admin_post(&op, CLIENTS, &spa("SPA")).await, StatusCode::CREATED).await;
        assert!(created.get("client_secret").is_none());
        assert_eq!(created["has_secret"], false);
        assert_eq!(created["grant_types"], json!(["authorization_code", "refresh_token"]), "defaults");
        assert_eq!(created["scopes"], json!(["openid"]), "defaults");
        let id = created["client_id"].as_str().unwrap();
        assert!(stored_client(&app, id).await.unwrap().secret_hash.is_none());

        let rotate = app.admin_post(&op, &format!("{CLIENTS}/{id}/secret"), &json!({})).await;
        assert_eq!(problem(rotate, StatusCode::CONFLICT).await["code"], "client_is_public");
        let mut body = spa("cc");
        body["grant_types"] = json!(["client_credentials"]);
        let p = problem(app.admin_post(&op, CLIENTS, &body).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(p["field"], "grant_types");
        let patch = json!({"grant_types": ["authorization_code", "client_credentials"]});
        let p = problem(app.admin_patch(&op, &format!("{CLIENTS}/{id}"), &patch).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(p["field"], "grant_types");
        // The type is fixed at creation.
        let p = app.admin_patch(&op, &format!("{CLIENTS}/{id}"), &json!({"client_type": "confidential"})).await;
        problem(p, StatusCode::BAD_REQUEST).await;
    }

    async fn the_client_secret_is_shown_once_and_stored_only_as_a_keyed_hash(app: TestApp) {
        let op = app.operator().await;
        let key = "secret-once";
        let resp = app.client.post(app.url(CLIENTS)).bearer_auth(&op).header("Idempotency-Key", key)
            .json(&web_app("Shop")).send().await.unwrap();
        let created = json_of(resp, StatusCode::CREATED).await;
        let id = created["client_id"].as_str().unwrap();
        let secret = created["client_secret"].as_str().unwrap();

        let got = app.admin_get(&op, &format!("{CLIENTS}/{id}")).await.text().await.unwrap();
        let list = app.admin_get(&op, CLIENTS).await.text().await.unwrap();
        let patched = app.admin_patch(&op, &format!("{CLIENTS}/{id}"), &json!({"name": "Shop 2"})).await.text().await.unwrap();
        let audit = audit_log(&app, &op, "default").await.to_string();
        for text in [&got, &list, &patched, &audit] {
            assert!(text.contains(id), "{text}");
            assert!(!text.contains(secret), "the secret leaked: {text}");
            assert!(!text.contains("client_secret") && !text.contains("secret_hash"), "{text}");
        }

        let row = stored_client(&app, id).await.unwrap();
        let hash = row.secret_hash.clone().unwrap();
        assert_ne!(hash, secret);
        assert!(!format!("{row:?}").contains(secret), "no plaintext in the row");
        assert!(app.state.master_key.verify_keyed_hash("client-secret", secret, &hash));
        // The idempotency record keeps the response for replays, sealed.
        let records = idempotency_keys::Entity::find().all(&app.state.db).await.unwrap();
        assert_eq!(records.len(), 1);
        let sealed = records[0].response.clone().unwrap();
        assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }

    async fn rotating_the_secret_invalidates_the_old_one(app: TestApp) {
        let op = app.operator().await;
        let created = json_of(app.admin_post(&op, CLIENTS, &web_app("Api")).await, StatusCode::CREATED).await;
        let id = created["client_id"].as_str().unwrap();
        let old = created["client_secret"].as_str().unwrap();
        assert!(verifies(&app, "default", id, old).await);
        assert!(!verifies(&app, "default", id, "ghs_wrong").await);
        assert!(!verifies(&app, "default", "no-such-client", old).await);

        let resp = app.admin_post(&op, &format!("{CLIENTS}/{id}/secret"), &json!({})).await;
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let rotated = json_of(resp, StatusCode::OK).await;
        let new = rotated["client_secret"].as_str().unwrap();
        assert_ne!(new, old);
        assert_eq!(rotated["client_id"], id);
        assert!(!verifies(&app, "default", id, old).await, "the old secret stops at once");
        assert!(verifies(&app, "default", id, new).await);
        let got = app.admin_get(&op, &format!("{CLIENTS}/{id}")).await.text().await.unwrap();
        assert!(!got.contains(new));

        // A disabled client does not authenticate, nor does one in another tenant's scope.
        app.admin_patch(&op, &format!("{CLIENTS}/{id}"), &json!({"enabled": false})).await;
        assert!(!verifies(&app, "default", id, new).await);
        app.admin_patch(&op, &format!("{CLIENTS}/{id}"), &json!({"enabled": true})).await;
        assert!(verifies(&app, "default", id, new).await);
        assert!(!verifies(&app, "system", id, new).await);

        let missing = app.admin_post(&op, &format!("{CLIENTS}/nope/secret"), &json!({})).await;
        assert_eq!(problem(missing, StatusCode::NOT_FOUND).await["code"], "client_not_found");
        assert!(event_types(&audit_log(&app, &op, "default").await).contains(&"client.secret_rotated".to_string()));
    }

    async fn invalid_client_input_names_the_field_and_changes_nothing(app: TestApp) {
        let op = app.operator().await;
        let created = json_of(app.admin_post(&op, CLIENTS, &spa("Keep")).await, StatusCode::CREATED).await;
        let path = format!("{CLIENTS}/{}", created["client_id"].as_str().unwrap());
        let before = admin_tables(&app).await;
        let with = |k: &str, v: Value| {
            let mut b = spa("x");
            b[k] = v;
            b
        };
        let many: Vec<String> = (0..21).map(|i| format!("https://app.example/{i}")).collect();
        let long = format!("https://app.example/{}", "a".repeat(2048));
        for (body, field) in [
            (with("name", json!("  ")), "name"),
            (with("name", json!("n".repeat(201))), "name"),
            (with("redirect_uris", json!([])), "redirect_uris"),
            (with("redirect_uris", json!(["http://app.example/cb"])), "redirect_uris"),
            (with("redirect_uris", json!(["https://app.example/cb#top"])), "redirect_uris"),
            (with("redirect_uris", json!(["/relative"])), "redirect_uris"),
            (with("redirect_uris", json!(["javascript:alert(1)"])), "redirect_uris"),
            (with("redirect_uris", json!(many)), "redirect_uris"),
            (with("redirect_uris", json!([long])), "redirect_uris[0]"),
            (with("post_logout_redirect_uris", json!(["ftp://files.example/"])), "post_logout_redirect_uris"),
            (with("grant_types", json!(["client_credentials"])), "grant_types"),
            (with("scopes", json!(["Admin"])), "scopes[0]"),
            (with("scopes", json!(["has space"])), "scopes[0]"),
            (with("access_token_ttl_secs", json!(59)), "access_token_ttl_secs"),
            (with("access_token_ttl_secs", json!(app.settings.tokens.max_access_ttl_secs + 1)), "access_token_ttl_secs"),
            (with("refresh_token_ttl_secs", json!(299)), "refresh_token_ttl_secs"),
            (with("refresh_token_ttl_secs", json!(31_622_401)), "refresh_token_ttl_secs"),
        ] {
            let p = problem(app.admin_post(&op, CLIENTS, &body).await, StatusCode::BAD_REQUEST).await;
            assert_eq!(p["code"], "validation_failed", "{body}");
            assert_eq!(p["field"], field, "{body}");
        }
        for (patch, field) in [
            (json!({"name": ""}), "name"),
            (json!({"redirect_uris": []}), "redirect_uris"),
            (json!({"redirect_uris": ["https://ok.example/cb", "http://evil.example/cb"]}), "redirect_uris"),
            (json!({"scopes": ["ok", "-bad"]}), "scopes[1]"),
            (json!({"grant_types": []}), "grant_types"),
            (json!({"refresh_token_ttl_secs": 1}), "refresh_token_ttl_secs"),
        ] {
            let p = problem(app.admin_patch(&op, &path, &patch).await, StatusCode::BAD_REQUEST).await;
            assert_eq!(p["field"], field, "{patch}");
        }
        // Unknown enum values and fields are refused by the parser.
        problem(app.admin_post(&op, CLIENTS, &with("client_type", json!("trusted"))).await, StatusCode::BAD_REQUEST).await;
        problem(app.admin_post(&op, CLIENTS, &with("grant_types", json!(["password"]))).await, StatusCode::BAD_REQUEST).await;
        problem(app.admin_post(&op, CLIENTS, &with("client_secret", json!("mine"))).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(admin_tables(&app).await, before);
    }

    async fn an_idempotency_key_replays_the_same_client_and_secret(app: TestApp) {
        let op = app.operator().await;
        let send = |body: Value, key: &'static str| {
            app.client.post(app.url(CLIENTS)).bearer_auth(&op).header("Idempotency-Key", key).json(&body).send()
        };
        let first = json_of(send(web_app("Once"), "k-1").await.unwrap(), StatusCode::CREATED).await;
        let again = json_of(send(web_app("Once"), "k-1").await.unwrap(), StatusCode::CREATED).await;
        assert_eq!(again["client_id"], first["client_id"]);
        assert_eq!(again["client_secret"], first["client_secret"]);
        assert_eq!(again, first);
        // The key's form is declared in the spec and refused before anything is written.
        for bad in ["has space".to_string(), "k".repeat(201)] {
            let resp = app.client.post(app.url(CLIENTS)).bearer_auth(&op).header("Idempotency-Key", &bad).json(&web_app("Bad")).send().await.unwrap();
            let p = problem(resp, StatusCode::BAD_REQUEST).await;
            assert_eq!((p["code"].as_str(), p["field"].as_str()), (Some("validation_failed"), Some("Idempotency-Key")), "{p}");
        }
        let other = send(web_app("Other"), "k-1").await.unwrap();
        assert_eq!(problem(other, StatusCode::UNPROCESSABLE_ENTITY).await["code"], "idempotency_key_reused");
        let list = json_of(app.admin_get(&op, CLIENTS).await, StatusCode::OK).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "one client despite three requests");
        // The replayed secret is the one that works.
        let secret = first["client_secret"].as_str().unwrap();
        assert!(verifies(&app, "default", first["client_id"].as_str().unwrap(), secret).await);
        // Without the key, the same body is a second client.
        json_of(app.admin_post(&op, CLIENTS, &web_app("Once")).await, StatusCode::CREATED).await;
    }

    async fn client_lists_page_through_every_client_once_and_filter(app: TestApp) {
        let op = app.operator().await;
        let mut created = Vec::new();
        for i in 0..7 {
            let mut body = if i % 2 == 0 { spa(&format!("c{i}")) } else { web_app(&format!("c{i}")) };
            body["enabled"] = json!(i != 3);
            let c = json_of(app.admin_post(&op, CLIENTS, &body).await, StatusCode::CREATED).await;
            created.push(c["client_id"].as_str().unwrap().to_string());
        }
        let mut seen = Vec::new();
        let mut path = format!("{CLIENTS}?limit=3");
        loop {
            let page = json_of(app.admin_get(&op, &path).await, StatusCode::OK).await;
            let items = page["items"].as_array().unwrap();
            assert!(items.len() <= 3);
            for c in items {
                assert!(c.get("client_secret").is_none());
                seen.push(c["client_id"].as_str().unwrap().to_string());
            }
            match page["next_cursor"].as_str() {
                Some(cur) => path = format!("{CLIENTS}?limit=3&cursor={cur}"),
                None => break,
            }
        }
        assert_eq!(seen, created, "every client once, in creation order");
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 7);

        let names = |v: &Value| -> Vec<String> {
            v["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect()
        };
        let public = json_of(app.admin_get(&op, &format!("{CLIENTS}?client_type=public")).await, StatusCode::OK).await;
        assert_eq!(names(&public), ["c0", "c2", "c4", "c6"]);
        let disabled = json_of(app.admin_get(&op, &format!("{CLIENTS}?enabled=false")).await, StatusCode::OK).await;
        assert_eq!(names(&disabled), ["c3"]);
        let both = format!("{CLIENTS}?client_type=confidential&enabled=true&limit=1");
        let first = json_of(app.admin_get(&op, &both).await, StatusCode::OK).await;
        assert_eq!(names(&first), ["c1"]);
        let rest = format!("{both}&cursor={}", first["next_cursor"].as_str().unwrap());
        assert_eq!(names(&json_of(app.admin_get(&op, &rest).await, StatusCode::OK).await), ["c5"]);
        problem(app.admin_get(&op, &format!("{CLIENTS}?cursor=nope")).await, StatusCode::BAD_REQUEST).await;
        problem(app.admin_get(&op, &format!("{CLIENTS}?limit=0")).await, StatusCode::BAD_REQUEST).await;
    }

    async fn every_tenant_has_one_local_provider_that_can_be_renamed_reordered_and_disabled(app: TestApp) {
        let op = app.operator().await;
        app.api_tenant(&op, "acme").await;
        let base = "/admin/v1/tenants/acme/providers";
        let list = json_of(app.admin_get(&op, base).await, StatusCode::OK).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        let local = &list["items"][0];
        assert_eq!(local["provider_id"], "local");
        assert_eq!(local["kind"], "local");
        assert_eq!(local["enabled"], true);
        assert_eq!(local["has_secrets"], false);
        assert_eq!(local["secret_keys"], json!([]));
        assert_eq!(local["configuration"], json!({}));

        let second = json!({"provider_id": "local2", "kind": "local", "display_name": "Again"});
        let p = problem(app.admin_post(&op, base, &second).await, StatusCode::CONFLICT).await;
        assert_eq!(p["code"], "local_provider_exists");
        let p = problem(app.admin_delete(&op, &format!("{base}/local")).await, StatusCode::CONFLICT).await;
        assert_eq!(p["code"], "local_provider_required");

        let patch = json!({"display_name": "Email and password", "position": 5, "enabled": false, "configuration": {"hint": "use your work email"}});
        let updated = json_of(app.admin_patch(&op, &format!("{base}/local"), &patch).await, StatusCode::OK).await;
        assert_eq!(updated["display_name"], "Email and password");
        assert_eq!(updated["position"], 5);
        assert_eq!(updated["enabled"], false);
        assert_eq!(updated["configuration"], json!({"hint": "use your work email"}));
        let got = json_of(app.admin_get(&op, &format!("{base}/local")).await, StatusCode::OK).await;
        assert_eq!(got, updated);
        let p = problem(app.admin_get(&op, &format!("{base}/nope")).await, StatusCode::NOT_FOUND).await;
        assert_eq!(p["code"], "provider_not_found");

        let log = audit_log(&app, &op, "acme").await;
        let e = log["items"].as_array().unwrap().iter().find(|e| e["event_type"] == "provider.updated").unwrap();
        assert_eq!(e["target"], "provider:local");
    }

    async fn unknown_kinds_and_unusable_configurations_are_refused_naming_the_field(app: TestApp) {
        let op = app.operator().await;
        let before = admin_tables(&app).await;
        let saml = json!({"provider_id": "corp", "kind": "saml", "display_name": "Corp SSO"});
        let p = problem(app.admin_post(&op, PROVIDERS, &saml).await, StatusCode::BAD_REQUEST).await;
        assert!(p["detail"].as_str().unwrap().contains("ProviderKind"), "{p}");
        for (kind, field) in [("oidc", "configuration"), ("oauth2", "configuration")] {
            let body = json!({"provider_id": "corp", "kind": kind, "display_name": "Corp SSO",
                              "configuration": {"issuer": "https://idp.example"}, "secrets": {"client_secret": "s"}});
            let p = problem(app.admin_post(&op, PROVIDERS, &body).await, StatusCode::BAD_REQUEST).await;
            assert_eq!(p["field"], field, "{p}");
        }
        assert_eq!(admin_tables(&app).await, before);
    }

    async fn a_missing_local_provider_can_be_created_once_with_write_only_secrets(app: TestApp) {
        let op = app.operator().await;
        // A tenant whose local provider row is gone (for example, created before providers
        // existed) gets it back through the API, and only once.
        providers::Entity::delete_many().filter(providers::Column::TenantId.eq(tenant_id(&app, "default").await))
            .exec(&app.state.db).await.unwrap();
        let wrong_id = json!({"provider_id": "passwords", "kind": "local", "display_name": "Passwords"});
        let p = problem(app.admin_post(&op, PROVIDERS, &wrong_id).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(p["field"], "provider_id");

        let body = json!({"provider_id": "local", "kind": "local", "display_name": "Passwords", "position": 3,
                          "configuration": {"hint": "h"}, "secrets": {"pepper": "plain-pepper-value-123", "api-token": "tok-456"}});
        let send = |body: Value| {
            app.client.post(app.url(PROVIDERS)).bearer_auth(&op).header("Idempotency-Key", "p-1").json(&body).send()
        };
        let resp = send(body.clone()).await.unwrap();
        let text = resp.text().await.unwrap();
        let created: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(created["provider_id"], "local");
        assert_eq!(created["position"], 3);
        assert_eq!(created["has_secrets"], true);
        assert_eq!(created["secret_keys"], json!(["api-token", "pepper"]));
        assert!(created.get("secrets").is_none());
        assert!(!text.contains("plain-pepper-value-123") && !text.contains("tok-456"), "{text}");

        let again = json_of(send(body.clone()).await.unwrap(), StatusCode::CREATED).await;
        assert_eq!(again, created, "the replay returns the first provider");
        let mut other = body.clone();
        other["secrets"]["pepper"] = json!("another pepper");
        let p = problem(send(other).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(p["code"], "idempotency_key_reused", "different secrets are a different request");
        let p = problem(app.admin_post(&op, PROVIDERS, &body).await, StatusCode::CONFLICT).await;
        assert_eq!(p["code"], "local_provider_exists");

        // Encrypted at rest, bound to its row, and never in the idempotency record or audit log.
        let row = providers::Entity::find().filter(providers::Column::ProviderId.eq("local"))
            .filter(providers::Column::TenantId.eq(tenant_id(&app, "default").await)).one(&app.state.db).await.unwrap().unwrap();
        let blob = row.secret_enc.clone().unwrap();
        assert!(!blob.windows(6).any(|w| w == b"pepper"), "not even the names are readable");
        let opened = store::providers::open_secrets(&app.state.master_key, &row).unwrap();
        assert_eq!(opened["pepper"], "plain-pepper-value-123");
        let mut moved = row.clone();
        moved.id = uuid::Uuid::now_v7();
        assert!(store::providers::open_secrets(&app.state.master_key, &moved).is_err(), "bound to the row");
        for r in idempotency_keys::Entity::find().all(&app.state.db).await.unwrap() {
            let bytes = format!("{r:?}");
            assert!(!bytes.contains("plain-pepper-value-123"));
            assert!(!r.response.unwrap().windows(7).any(|w| w == b"tok-456"));
        }
        let audit = audit_events::Entity::find().all(&app.state.db).await.unwrap();
        assert!(!format!("{audit:?}").contains("plain-pepper-value-123"));
        assert!(event_types(&audit_log(&app, &op, "default").await).contains(&"provider.created".to_string()));

        // Secrets merge: set one, remove one, keep the rest; values never come back.
        let patch = json!({"secrets": {"pepper": null, "salt": "new-salt-value-789"}});
        let resp = app.admin_patch(&op, &format!("{PROVIDERS}/local"), &patch).await;
        let text = resp.text().await.unwrap();
        assert!(!text.contains("new-salt-value-789"));
        let updated: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(updated["secret_keys"], json!(["api-token", "salt"]));
        let list = app.admin_get(&op, PROVIDERS).await.text().await.unwrap();
        let got = app.admin_get(&op, &format!("{PROVIDERS}/local")).await.text().await.unwrap();
        for text in [&list, &got] {
            assert!(!text.contains("new-salt-value-789") && !text.contains("tok-456"), "{text}");
            assert!(text.contains("\"salt\""));
        }
        let row = providers::Entity::find_by_id(row.id).one(&app.state.db).await.unwrap().unwrap();
        let opened = store::providers::open_secrets(&app.state.master_key, &row).unwrap();
        assert_eq!(opened.get("salt").map(String::as_str), Some("new-salt-value-789"));
        assert_eq!(opened.get("api-token").map(String::as_str), Some("tok-456"));
        let cleared = json!({"secrets": {"salt": null, "api-token": null}});
        let updated = json_of(app.admin_patch(&op, &format!("{PROVIDERS}/local"), &cleared).await, StatusCode::OK).await;
        assert_eq!(updated["has_secrets"], false);
        let row = providers::Entity::find_by_id(row.id).one(&app.state.db).await.unwrap().unwrap();
        assert!(row.secret_enc.is_none());
    }

    async fn invalid_provider_input_names_the_field_and_changes_nothing(app: TestApp) {
        let op = app.operator().await;
        insert_provider(&app, "default", "corp", 1, true).await;
        let before = admin_tables(&app).await;
        let with = |k: &str, v: Value| {
            let mut b = json!({"provider_id": "local", "kind": "local", "display_name": "Local"});
            b[k] = v;
            b
        };
        for (body, field) in [
            (with("provider_id", json!("")), "provider_id"),
            (with("provider_id", json!("Has Caps")), "provider_id"),
            (with("provider_id", json!("a/b")), "provider_id"),
            (with("provider_id", json!("x".repeat(65))), "provider_id"),
            (with("display_name", json!(" ")), "display_name"),
            (with("position", json!(-1)), "position"),
            (with("position", json!(10_001)), "position"),
            (with("configuration", json!({"client_secret": "oops"})), "configuration"),
            (with("configuration", json!({"blob": "x".repeat(17 * 1024)})), "configuration"),
            (with("secrets", json!({"bad key": "v"})), "secrets"),
            (with("secrets", json!({"k": ""})), "secrets"),
            (with("secrets", json!({"k": "v".repeat(8 * 1024 + 1)})), "secrets"),
            (with("secrets", (0..33).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>().into()), "secrets"),
        ] {
            let p = problem(app.admin_post(&op, PROVIDERS, &body).await, StatusCode::BAD_REQUEST).await;
            assert_eq!(p["code"], "validation_failed", "{body}");
            assert_eq!(p["field"], field, "{body}");
        }
        for (patch, field) in [
            (json!({"display_name": ""}), "display_name"),
            (json!({"position": 20_000}), "position"),
            (json!({"configuration": {"password": "p"}}), "configuration"),
            (json!({"secrets": {"ok": "v", "no way": "v"}}), "secrets"),
        ] {
            for id in ["local", "corp"] {
                let resp = app.admin_patch(&op, &format!("{PROVIDERS}/{id}"), &patch).await;
                assert_eq!(problem(resp, StatusCode::BAD_REQUEST).await["field"], field, "{patch}");
            }
        }
        // Kind and provider_id are fixed; configuration must be an object.
        problem(app.admin_patch(&op, &format!("{PROVIDERS}/local"), &json!({"kind": "oidc"})).await, StatusCode::BAD_REQUEST).await;
        problem(app.admin_post(&op, PROVIDERS, &with("configuration", json!([1]))).await, StatusCode::BAD_REQUEST).await;
        problem(app.admin_post(&op, PROVIDERS, &with("kind", json!("saml"))).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(admin_tables(&app).await, before);
    }

    async fn providers_are_listed_by_position_page_by_page_and_filtered(app: TestApp) {
        let op = app.operator().await;
        // local is at position 0.
        for (id, position, enabled) in [("zeta", 2, true), ("alpha", 1, false), ("beta", 2, true), ("gamma", 0, true), ("delta", 7, false)] {
            insert_provider(&app, "default", id, position, enabled).await;
        }
        let mut seen = Vec::new();
        let mut path = format!("{PROVIDERS}?limit=2");
        loop {
            let page = json_of(app.admin_get(&op, &path).await, StatusCode::OK).await;
            assert!(page["items"].as_array().unwrap().len() <= 2);
            seen.extend(page["items"].as_array().unwrap().iter().map(|p| p["provider_id"].as_str().unwrap().to_string()));
            match page["next_cursor"].as_str() {
                Some(c) => path = format!("{PROVIDERS}?limit=2&cursor={c}"),
                None => break,
            }
        }
        // Position first, then creation order.
        assert_eq!(seen, ["local", "gamma", "alpha", "zeta", "beta", "delta"]);
        let ids = |v: Value| -> Vec<String> {
            v["items"].as_array().unwrap().iter().map(|p| p["provider_id"].as_str().unwrap().to_string()).collect()
        };
        let oidc = json_of(app.admin_get(&op, &format!("{PROVIDERS}?kind=oidc")).await, StatusCode::OK).await;
        assert_eq!(ids(oidc), ["gamma", "alpha", "zeta", "beta", "delta"]);
        let disabled = json_of(app.admin_get(&op, &format!("{PROVIDERS}?enabled=false")).await, StatusCode::OK).await;
        assert_eq!(ids(disabled), ["alpha", "delta"]);
        let local = json_of(app.admin_get(&op, &format!("{PROVIDERS}?kind=local&enabled=true")).await, StatusCode::OK).await;
        assert_eq!(ids(local), ["local"]);

        // Reordering moves a provider; deleting removes it.
        app.admin_patch(&op, &format!("{PROVIDERS}/delta"), &json!({"position": 0})).await;
        assert_eq!(app.admin_delete(&op, &format!("{PROVIDERS}/zeta")).await.status(), StatusCode::NO_CONTENT);
        let all = json_of(app.admin_get(&op, PROVIDERS).await, StatusCode::OK).await;
        assert_eq!(ids(all), ["local", "gamma", "delta", "alpha", "beta"]);
        assert!(event_types(&audit_log(&app, &op, "default").await).contains(&"provider.deleted".to_string()));
        problem(app.admin_get(&op, &format!("{PROVIDERS}?cursor=nope")).await, StatusCode::BAD_REQUEST).await;
    }

    async fn provider_changes_invalidate_the_cached_tenant(app: TestApp) {
        let op = app.operator().await;
        let before = app.state.tenants.get("default").await.unwrap().unwrap();
        let cached = app.state.tenants.get("default").await.unwrap().unwrap();
        assert!(Arc::ptr_eq(&before, &cached));
        let resp = app.admin_patch(&op, &format!("{PROVIDERS}/local"), &json!({"display_name": "Sign in"})).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let after = app.state.tenants.get("default").await.unwrap().unwrap();
        assert!(!Arc::ptr_eq(&before, &after), "the tenant was reloaded after the change");
    }

    async fn a_tenant_admin_manages_its_own_clients_and_providers(app: TestApp) {
        let op = app.operator().await;
        app.api_tenant(&op, "acme").await;
        let boss = app.tenant_admin(&op, "acme", "boss").await;
        let base = "/admin/v1/tenants/acme/clients";
        let created = json_of(app.admin_post(&boss, base, &web_app("Acme web")).await, StatusCode::CREATED).await;
        let id = created["client_id"].as_str().unwrap();
        json_of(app.admin_get(&boss, &format!("{base}/{id}")).await, StatusCode::OK).await;
        json_of(app.admin_get(&boss, base).await, StatusCode::OK).await;
        json_of(app.admin_patch(&boss, &format!("{base}/{id}"), &json!({"name": "Acme"})).await, StatusCode::OK).await;
        let rotated = json_of(app.admin_post(&boss, &format!("{base}/{id}/secret"), &json!({})).await, StatusCode::OK).await;
        assert!(verifies(&app, "acme", id, rotated["client_secret"].as_str().unwrap()).await);
        let providers = "/admin/v1/tenants/acme/providers";
        json_of(app.admin_get(&boss, providers).await, StatusCode::OK).await;
        json_of(app.admin_patch(&boss, &format!("{providers}/local"), &json!({"position": 2})).await, StatusCode::OK).await;
        assert_eq!(app.admin_delete(&boss, &format!("{base}/{id}")).await.status(), StatusCode::NO_CONTENT);
        let log = audit_log(&app, &op, "acme").await;
        let by_boss = log["items"].as_array().unwrap().iter().filter(|e| e["actor_tenant"] == "acme").count();
        assert!(by_boss >= 5, "{log}");
    }

    async fn clients_and_providers_of_one_tenant_are_invisible_to_another(app: TestApp) {
        // Arrange: data in acme; an admin of globex; a plain user of acme.
        let op = app.operator().await;
        app.api_open_tenant(&op, "acme").await;
        app.api_tenant(&op, "globex").await;
        let client = json_of(app.admin_post(&op, "/admin/v1/tenants/acme/clients", &web_app("Acme")).await, StatusCode::CREATED).await;
        let id = client["client_id"].as_str().unwrap();
        insert_provider(&app, "acme", "acme-sso", 1, true).await;
        let globex_admin = app.tenant_admin(&op, "globex", "gboss").await;
        assert_eq!(app.register("acme", "ann").await.status(), StatusCode::CREATED);
        let user = app.login("acme", "ann").await.access;
        let before = admin_tables(&app).await;

        let acme_paths = [
            (Method::POST, "/admin/v1/tenants/acme/clients".to_string(), Some(web_app("Mine"))),
            (Method::GET, "/admin/v1/tenants/acme/clients".to_string(), None),
            (Method::GET, format!("/admin/v1/tenants/acme/clients/{id}"), None),
            (Method::PATCH, format!("/admin/v1/tenants/acme/clients/{id}"), Some(json!({"enabled": false}))),
            (Method::DELETE, format!("/admin/v1/tenants/acme/clients/{id}"), None),
            (Method::POST, format!("/admin/v1/tenants/acme/clients/{id}/secret"), Some(json!({}))),
            (Method::POST, "/admin/v1/tenants/acme/providers".to_string(), Some(json!({"provider_id": "x", "kind": "local", "display_name": "x"}))),
            (Method::GET, "/admin/v1/tenants/acme/providers".to_string(), None),
            (Method::GET, "/admin/v1/tenants/acme/providers/acme-sso".to_string(), None),
            (Method::PATCH, "/admin/v1/tenants/acme/providers/acme-sso".to_string(), Some(json!({"enabled": false}))),
            (Method::DELETE, "/admin/v1/tenants/acme/providers/acme-sso".to_string(), None),
        ];
        // Act and assert (a): globex's tenant admin on acme's paths.
        for (method, path, body) in &acme_paths {
            let resp = app.admin_request(method.clone(), &globex_admin, path, body.as_ref()).await;
            assert_eq!(problem(resp, StatusCode::FORBIDDEN).await["code"], "forbidden", "{method} {path}");
        }
        // (c): a plain user token of acme at the admin API.
        for (method, path, body) in &acme_paths {
            let resp = app.admin_request(method.clone(), &user, path, body.as_ref()).await;
            assert_eq!(problem(resp, StatusCode::FORBIDDEN).await["code"], "forbidden", "{method} {path}");
        }
        // (b): acme's ids through globex's path, even for an operator.
        for (method, path, body) in &acme_paths {
            if !path.contains(id) && !path.contains("acme-sso") {
                continue;
            }
            let path = path.replace("/tenants/acme/", "/tenants/globex/");
            let resp = app.admin_request(method.clone(), &op, &path, body.as_ref()).await;
            let code = if path.contains("/clients/") { "client_not_found" } else { "provider_not_found" };
            assert_eq!(problem(resp, StatusCode::NOT_FOUND).await["code"], code, "{method} {path}");
        }
        assert_eq!(admin_tables(&app).await, before, "nothing changed anywhere");
        let globex_clients = json_of(app.admin_get(&op, "/admin/v1/tenants/globex/clients").await, StatusCode::OK).await;
        assert_eq!(globex_clients["items"], json!([]));
        let globex_providers = json_of(app.admin_get(&globex_admin, "/admin/v1/tenants/globex/providers").await, StatusCode::OK).await;
        let ids: Vec<&str> = globex_providers["items"].as_array().unwrap().iter().map(|p| p["provider_id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["local"]);
        // acme's secret does not authenticate in globex.
        let secret = client["client_secret"].as_str().unwrap();
        assert!(verifies(&app, "acme", id, secret).await);
        assert!(!verifies(&app, "globex", id, secret).await);
    }

    async fn pkce_is_required_unless_a_confidential_client_is_opted_out_and_the_change_is_audited(app: TestApp) {
        let op = app.operator().await;
        // Default: required, for both kinds, in create, view and list.
        let conf = json_of(app.admin_post(&op, CLIENTS, &web_app("Legacy")).await, StatusCode::CREATED).await;
        let id = conf["client_id"].as_str().unwrap().to_string();
        assert_eq!(conf["pkce_required"], true);
        let spa = json_of(app.admin_post(&op, CLIENTS, &spa("SPA")).await, StatusCode::CREATED).await;
        assert_eq!(spa["pkce_required"], true);

        // A public client cannot opt out, neither at creation nor later; nothing is stored.
        let before = admin_tables(&app).await;
        let mut body = crate::admin_clients::spa("SPA 2");
        body["pkce_required"] = json!(false);
        let resp = app.admin_post(&op, CLIENTS, &body).await;
        assert_eq!(problem(resp, StatusCode::BAD_REQUEST).await["field"], "pkce_required");
        let path = format!("{CLIENTS}/{}", spa["client_id"].as_str().unwrap());
        let resp = app.admin_patch(&op, &path, &json!({"pkce_required": false})).await;
        assert_eq!(problem(resp, StatusCode::BAD_REQUEST).await["field"], "pkce_required");
        assert_eq!(admin_tables(&app).await, before);

        // A confidential client can, and back; each change is in the audit log.
        let path = format!("{CLIENTS}/{id}");
        let off = json_of(app.admin_patch(&op, &path, &json!({"pkce_required": false})).await, StatusCode::OK).await;
        assert_eq!(off["pkce_required"], false);
        assert_eq!(json_of(app.admin_get(&op, &path).await, StatusCode::OK).await["pkce_required"], false);
        assert!(!stored_client(&app, &id).await.unwrap().pkce_required);
        let mut created_off = web_app("Legacy 2");
        created_off["pkce_required"] = json!(false);
        let c = json_of(app.admin_post(&op, CLIENTS, &created_off).await, StatusCode::CREATED).await;
        assert_eq!(c["pkce_required"], false);
        let on = json_of(app.admin_patch(&op, &path, &json!({"pkce_required": true})).await, StatusCode::OK).await;
        assert_eq!(on["pkce_required"], true);

        let log = audit_log(&app, &op, "default").await;
        let changes: Vec<&Value> = log["items"].as_array().unwrap().iter()
            .filter(|e| e["event_type"] == "client.updated" && e["target"] == format!("client:{id}"))
            .collect();
        assert_eq!(changes.len(), 2, "{log}");
        for e in &changes {
            assert_eq!(e["details"]["fields"], json!(["pkce_required"]));
        }
        let values: HashSet<bool> = changes.iter().map(|e| e["details"]["pkce_required"].as_bool().unwrap()).collect();
        assert_eq!(values, HashSet::from([true, false]));
    }
}
