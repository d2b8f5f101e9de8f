//! The admin API: tenants, users, sessions, keys, audit, role scoping and isolation.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, assert_invalid_token, backend_tests, problem};

async fn json_of(resp: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(resp.status(), status);
    resp.json().await.unwrap()
}

backend_tests! {
    async fn operators_create_read_update_and_delete_tenants(app: TestApp) {
        let op = app.operator().await;
        let body = json!({"slug": "acme", "display_name": "Acme", "settings": {"registration_open": true, "access_token_ttl_secs": 300, "branding": {"primary_color": "#0a0b0c"}}});
        let created = json_of(app.admin_post(&op, "/admin/v1/tenants", &body).await, StatusCode::CREATED).await;
        assert_eq!(created["slug"], "acme");
        assert_eq!(created["status"], "active");
        assert_eq!(created["issuer"], format!("{}/t/acme", app.settings.public_url()));
        assert_eq!(created["settings"]["access_token_ttl_secs"], 300);
        assert_eq!(created["settings"]["signing_algorithm"], "ES256");
        assert_eq!(created["settings"]["branding"]["primary_color"], "#0a0b0c");

        let got = json_of(app.admin_get(&op, "/admin/v1/tenants/acme").await, StatusCode::OK).await;
        assert_eq!(got, created);
        let dup = app.admin_post(&op, "/admin/v1/tenants", &json!({"slug": "acme", "display_name": "x"})).await;
        assert_eq!(problem(dup, StatusCode::CONFLICT).await["code"], "tenant_exists");

        // The new tenant works at once, with its own lifetime setting.
        assert_eq!(app.register("acme", "ann").await.status(), StatusCode::CREATED);
        let t = app.login("acme", "ann").await;
        let claims = TestApp::claims_of(&t.access);
        assert_eq!(claims.exp - claims.iat, 300);

        let patch = json!({"display_name": "Acme Corp", "settings": {"registration_open": false, "branding": {"primary_color": ""}}});
        let updated = json_of(app.admin_patch(&op, "/admin/v1/tenants/acme", &patch).await, StatusCode::OK).await;
        assert_eq!(updated["display_name"], "Acme Corp");
        assert_eq!(updated["settings"]["registration_open"], false);
        assert_eq!(updated["settings"]["branding"]["primary_color"], Value::Null);
        assert_eq!(updated["settings"]["access_token_ttl_secs"], 300, "absent fields keep their value");
        assert_eq!(app.register("acme", "bob").await.status(), StatusCode::FORBIDDEN);

        assert_eq!(app.admin_delete(&op, "/admin/v1/tenants/acme").await.status(), StatusCode::NO_CONTENT);
        assert_eq!(app.admin_get(&op, "/admin/v1/tenants/acme").await.status(), StatusCode::NOT_FOUND);
        assert_invalid_token(app.me("acme", &t.access).await).await;
        assert_eq!(app.login_raw("acme", "ann", PASSWORD).await.status(), StatusCode::NOT_FOUND);
        let log = json_of(app.admin_get(&op, "/admin/v1/tenants/system/audit-events?type=tenant.deleted").await, StatusCode::OK).await;
        assert_eq!(log["items"][0]["target"], "tenant:acme");
    }

    async fn a_new_tenant_refuses_self_registration_until_an_admin_opens_it(app: TestApp) {
        let op = app.operator().await;
        let created = app.api_tenant(&op, "acme").await;
        assert_eq!(created["settings"]["registration_open"], false);
        let closed = app.register("acme", "ann").await;
        assert_eq!(problem(closed, StatusCode::FORBIDDEN).await["code"], "registration_closed");
        let boss = app.tenant_admin(&op, "acme", "boss").await;

        let open = json!({"settings": {"registration_open": true}});
        json_of(app.admin_patch(&boss, "/admin/v1/tenants/acme", &open).await, StatusCode::OK).await;

        assert_eq!(app.register("acme", "ann").await.status(), StatusCode::CREATED);
        // The default tenant of a fresh deployment stays open for the README's tour.
        assert_eq!(app.register("default", "ann").await.status(), StatusCode::CREATED);
    }

    async fn invalid_tenant_input_names_the_field_and_changes_nothing(app: TestApp) {
        let op = app.operator().await;
        app.api_tenant(&op, "acme").await;
        let before = json_of(app.admin_get(&op, "/admin/v1/tenants/acme").await, StatusCode::OK).await;
        for (body, field) in [
            (json!({"settings": {"access_token_ttl_secs": 5}}), "settings.access_token_ttl_secs"),
            (json!({"settings": {"access_token_ttl_secs": 999_999}}), "settings.access_token_ttl_secs"),
            // Limits the spec declares are checked at the edge, which names the exact field.
            (json!({"settings": {"password_policy": {"max_length": 32}}}), "settings.password_policy.max_length"),
            (json!({"settings": {"password_policy": {"min_length": 4}}}), "settings.password_policy.min_length"),
            (json!({"settings": {"password_policy": {"min_length": 100, "max_length": 64}}}), "settings.password_policy"),
            (json!({"settings": {"lockout": {"threshold": 0}}}), "settings.lockout.threshold"),
            (json!({"settings": {"branding": {"logo_url": "http://insecure.example/logo.png"}}}), "settings.branding.logo_url"),
            (json!({"settings": {"branding": {"primary_color": "red"}}}), "settings.branding.primary_color"),
            (json!({"settings": {"branding": {"logo_url": "data:text/html;base64,PGgxPmhpPC9oMT4="}}}), "settings.branding.logo_url"),
            (json!({"settings": {"branding": {"logo_url": "data:image/png;base64,not base64!"}}}), "settings.branding.logo_url"),
            (json!({"settings": {"branding": {"logo_url": "data:image/png,rawbytes"}}}), "settings.branding.logo_url"),
            (json!({"display_name": "  "}), "display_name"),
        ] {
            let p = problem(app.admin_patch(&op, "/admin/v1/tenants/acme", &body).await, StatusCode::BAD_REQUEST).await;
            assert_eq!(p["field"], field, "{body}");
        }
        // Unknown fields are refused at any depth, as `additionalProperties: false` says.
        for body in [json!({"settings": {"signing_algorithm": "HS256"}}), json!({"unknown": 1}), json!({"status": "paused"}),
                     json!({"settings": {"branding": {"colour": "#000000"}}}), json!({"settings": {"lockout": {"threshold": 3, "extra": 1}}})] {
            problem(app.admin_patch(&op, "/admin/v1/tenants/acme", &body).await, StatusCode::BAD_REQUEST).await;
        }
        for slug in ["Acme", "-x", "x-", "a_b", "", &"x".repeat(64)] {
            let resp = app.admin_post(&op, "/admin/v1/tenants", &json!({"slug": slug, "display_name": "x"})).await;
            problem(resp, StatusCode::BAD_REQUEST).await;
        }
        assert_eq!(json_of(app.admin_get(&op, "/admin/v1/tenants/acme").await, StatusCode::OK).await, before);
    }

    async fn any_brand_colour_gets_readable_button_text_and_small_data_logos_are_accepted(app: TestApp) {
        use base64::Engine as _;
        let op = app.operator().await;
        app.api_tenant(&op, "acme").await;
        let b64 = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![0x89_u8; n]);
        let logo = format!("data:image/png;base64,{}", b64(32 * 1024));
        let svg = format!("data:image/svg+xml;base64,{}", base64::engine::general_purpose::STANDARD.encode(r#"<svg xmlns="http://www.w3.org/2000/svg"/>"#));

        // Act: a light yellow (white on it would be 1.3:1) and the largest inline logo.
        let body = json!({"settings": {"branding": {"primary_color": "#ffe14d", "logo_url": logo}}});
        let saved = json_of(app.admin_patch(&op, "/admin/v1/tenants/acme", &body).await, StatusCode::OK).await;

        // Assert: stored as given; the page sets black text and a dark focus ring.
        assert_eq!(saved["settings"]["branding"]["logo_url"], logo.as_str());
        let html = app.client.get(app.url("/t/acme/oauth2/logout")).send().await.unwrap().text().await.unwrap();
        assert!(html.contains(":root{--brand:#ffe14d;--brand-text:#000000;--brand-ring:#1d1f23}"), "{html}");
        assert!(html.contains(&format!(r#"<img class="logo" src="{logo}""#)));
        let dark = json!({"settings": {"branding": {"primary_color": "#0a6b3c", "logo_url": svg}}});
        json_of(app.admin_patch(&op, "/admin/v1/tenants/acme", &dark).await, StatusCode::OK).await;
        let html = app.client.get(app.url("/t/acme/oauth2/logout")).send().await.unwrap().text().await.unwrap();
        assert!(html.contains(":root{--brand:#0a6b3c;--brand-text:#ffffff;--brand-ring:#0a6b3c}"), "{html}");
        // One byte over 32 KiB is refused, naming the field.
        let big = json!({"settings": {"branding": {"logo_url": format!("data:image/png;base64,{}", b64(32 * 1024 + 1))}}});
        let p = problem(app.admin_patch(&op, "/admin/v1/tenants/acme", &big).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(p["field"], "settings.branding.logo_url");
    }

    async fn disabling_a_tenant_stops_its_tokens_at_once_and_enabling_restores_logins(app: TestApp) {
        let op = app.operator().await;
        app.api_open_tenant(&op, "acme").await;
        app.register("acme", "ann").await;
        let t = app.login("acme", "ann").await;
        let resp = app.admin_patch(&op, "/admin/v1/tenants/acme", &json!({"status": "disabled"})).await;
        assert_eq!(json_of(resp, StatusCode::OK).await["status"], "disabled");
        assert_invalid_token(app.me("acme", &t.access).await).await;
        assert_eq!(app.login_raw("acme", "ann", PASSWORD).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(app.refresh("acme", &t.refresh).await.status(), StatusCode::NOT_FOUND);
        // The system tenant cannot be disabled.
        let resp = app.admin_patch(&op, "/admin/v1/tenants/system", &json!({"status": "disabled"})).await;
        problem(resp, StatusCode::BAD_REQUEST).await;

        app.admin_patch(&op, "/admin/v1/tenants/acme", &json!({"status": "active"})).await;
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let fresh = app.login("acme", "ann").await;
        assert_eq!(app.me("acme", &fresh.access).await.status(), StatusCode::OK);
    }

    async fn admin_tokens_and_user_tokens_are_not_interchangeable(app: TestApp) {
        let op = app.operator().await;
        // An operator token is not a tenant user token, not even in its own tenant.
        assert_invalid_token(app.me("system", &op).await).await;
        let user = app.user("ann").await;
        let resp = app.admin_get(&user.access, "/admin/v1/tenants/default/users").await;
        assert_eq!(problem(resp, StatusCode::FORBIDDEN).await["code"], "forbidden");
        let ta = app.tenant_admin(&op, "default", "boss").await;
        assert_invalid_token(app.me("default", &ta).await).await;
        assert_eq!(app.admin_get(&ta, "/admin/v1/tenants/default/users").await.status(), StatusCode::OK);
        // No token or a garbage token: 401.
        crate::helpers::assert_bearer_challenge(app.client.get(app.url("/admin/v1/tenants")).send().await.unwrap()).await;
        assert_invalid_token(app.admin_get("not.a.token", "/admin/v1/tenants").await).await;
    }

    async fn a_tenant_admin_manages_only_its_own_tenant(app: TestApp) {
        let op = app.operator().await;
        app.api_tenant(&op, "acme").await;
        app.api_tenant(&op, "globex").await;
        let acme_admin = app.tenant_admin(&op, "acme", "boss").await;
        for path in ["/admin/v1/tenants/globex", "/admin/v1/tenants/globex/users", "/admin/v1/tenants/globex/keys",
                     "/admin/v1/tenants/globex/audit-events", "/admin/v1/tenants/no-such-tenant/users"] {
            let resp = app.admin_get(&acme_admin, path).await;
            assert_eq!(problem(resp, StatusCode::FORBIDDEN).await["code"], "forbidden", "{path}");
        }
        let resp = app.admin_post(&acme_admin, "/admin/v1/tenants", &json!({"slug": "mine", "display_name": "x"})).await;
        assert_eq!(problem(resp, StatusCode::FORBIDDEN).await["code"], "operator_required");
        let list = json_of(app.admin_get(&acme_admin, "/admin/v1/tenants").await, StatusCode::OK).await;
        let slugs: Vec<&str> = list["items"].as_array().unwrap().iter().map(|t| t["slug"].as_str().unwrap()).collect();
        assert_eq!(slugs, ["acme"]);
        let resp = app.admin_patch(&acme_admin, "/admin/v1/tenants/acme", &json!({"status": "disabled"})).await;
        problem(resp, StatusCode::FORBIDDEN).await;
        assert_eq!(app.admin_delete(&acme_admin, "/admin/v1/tenants/acme").await.status(), StatusCode::FORBIDDEN);
        let ok = app.admin_patch(&acme_admin, "/admin/v1/tenants/acme", &json!({"display_name": "Acme!"})).await;
        assert_eq!(ok.status(), StatusCode::OK);
        // Granting the operator role is not theirs to do.
        let resp = app.admin_post(&acme_admin, "/admin/v1/tenants/acme/users", &json!({"username": "x", "roles": ["admin"]})).await;
        assert_eq!(problem(resp, StatusCode::BAD_REQUEST).await["field"], "roles");
    }

    async fn ids_of_another_tenant_are_404_through_this_tenants_path(app: TestApp) {
        let op = app.operator().await;
        app.api_tenant(&op, "acme").await;
        app.api_tenant(&op, "globex").await;
        let body = json!({"username": "gus", "password": PASSWORD});
        let gus = json_of(app.admin_post(&op, "/admin/v1/tenants/globex/users", &body).await, StatusCode::CREATED).await;
        let id = gus["id"].as_str().unwrap();
        app.login("globex", "gus").await;
        let sessions = json_of(app.admin_get(&op, &format!("/admin/v1/tenants/globex/users/{id}/sessions")).await, StatusCode::OK).await;
        let sid = sessions["items"][0]["id"].as_str().unwrap();
        let before = app.stored_state().await;
        for (method, path) in [
            (reqwest::Method::GET, format!("/admin/v1/tenants/acme/users/{id}")),
            (reqwest::Method::PATCH, format!("/admin/v1/tenants/acme/users/{id}")),
            (reqwest::Method::DELETE, format!("/admin/v1/tenants/acme/users/{id}")),
            (reqwest::Method::PUT, format!("/admin/v1/tenants/acme/users/{id}/password")),
            (reqwest::Method::PUT, format!("/admin/v1/tenants/acme/users/{id}/roles")),
            (reqwest::Method::GET, format!("/admin/v1/tenants/acme/users/{id}/sessions")),
            (reqwest::Method::DELETE, format!("/admin/v1/tenants/acme/users/{id}/sessions")),
            (reqwest::Method::DELETE, format!("/admin/v1/tenants/acme/users/{id}/sessions/{sid}")),
        ] {
            let body = match method.as_str() {
                "PATCH" => Some(json!({"status": "disabled"})),
                "PUT" if path.ends_with("password") => Some(json!({"password": "another long password"})),
                "PUT" => Some(json!({"roles": ["x"]})),
                _ => None,
            };
            let resp = app.admin_request(method.clone(), &op, &path, body.as_ref()).await;
            assert_eq!(problem(resp, StatusCode::NOT_FOUND).await["code"], "user_not_found", "{method} {path}");
        }
        assert_eq!(app.stored_state().await, before, "nothing in globex changed");
        let acme_users = json_of(app.admin_get(&op, "/admin/v1/tenants/acme/users").await, StatusCode::OK).await;
        assert_eq!(acme_users["items"], json!([]));
    }

    async fn user_administration_covers_the_whole_lifecycle(app: TestApp) {
        let op = app.operator().await;
        let base = "/admin/v1/tenants/default/users";
        let weak = app.admin_post(&op, base, &json!({"username": "ann", "password": "password123"})).await;
        assert_eq!(problem(weak, StatusCode::BAD_REQUEST).await["field"], "password");
        let body = json!({"username": "Ann", "email": "Ann@Example.com", "email_verified": true, "password": PASSWORD, "roles": ["billing:read"]});
        let ann = json_of(app.admin_post(&op, base, &body).await, StatusCode::CREATED).await;
        assert_eq!((ann["username"].as_str(), ann["email"].as_str()), (Some("ann"), Some("ann@example.com")));
        assert_eq!(ann["email_verified"], true);
        assert_eq!(ann["roles"], json!(["billing:read"]));
        let id = ann["id"].as_str().unwrap().to_string();
        for name in ["anna", "bob"] {
            app.admin_post(&op, base, &json!({"username": name, "email": format!("{name}@other.org")})).await;
        }

        let by_name = json_of(app.admin_get(&op, &format!("{base}?username=AN")).await, StatusCode::OK).await;
        let names: Vec<&str> = by_name["items"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
        assert_eq!(names, ["ann", "anna"]);
        let by_email = json_of(app.admin_get(&op, &format!("{base}?email=BOB@")).await, StatusCode::OK).await;
        assert_eq!(by_email["items"].as_array().unwrap().len(), 1);
        let wildcard = json_of(app.admin_get(&op, &format!("{base}?username=%25")).await, StatusCode::OK).await;
        assert_eq!(wildcard["items"], json!([]), "LIKE wildcards are matched literally");

        let t = app.login("default", "ann").await;
        let patched = json_of(app.admin_patch(&op, &format!("{base}/{id}"), &json!({"email": "new@example.com"})).await, StatusCode::OK).await;
        assert_eq!(patched["email"], "new@example.com");
        assert_eq!(patched["email_verified"], false, "a changed email is no longer verified");
        assert_eq!(app.me("default", &t.access).await.status(), StatusCode::OK);

        // The tenant's password policy applies to a password an admin sets.
        let weak = app.admin_put(&op, &format!("{base}/{id}/password"), &json!({"password": "minecraft"})).await;
        assert_eq!(problem(weak, StatusCode::BAD_REQUEST).await["field"], "password");
        assert_eq!(app.me("default", &t.access).await.status(), StatusCode::OK);

        // A new password ends every session and takes effect.
        let resp = app.admin_put(&op, &format!("{base}/{id}/password"), &json!({"password": "a brand new passphrase"})).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        assert_invalid_token(app.me("default", &t.access).await).await;
        assert_eq!(app.refresh("default", &t.refresh).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.login_raw("default", "ann", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.login_raw("default", "ann", "a brand new passphrase").await.status(), StatusCode::OK);

        // Disabling ends sessions and refuses logins with the usual answer.
        let t = app.login_raw("default", "ann", "a brand new passphrase").await.json::<Value>().await.unwrap();
        let resp = app.admin_patch(&op, &format!("{base}/{id}"), &json!({"status": "disabled"})).await;
        assert_eq!(json_of(resp, StatusCode::OK).await["status"], "disabled");
        assert_invalid_token(app.me("default", t["access_token"].as_str().unwrap()).await).await;
        let unknown = app.login_raw("default", "nobody", "a brand new passphrase").await.bytes().await.unwrap();
        let hashes = app.state.hasher.verifications();
        let disabled = app.login_raw("default", "ann", "a brand new passphrase").await.bytes().await.unwrap();
        assert_eq!(unknown, disabled, "a disabled account looks like an unknown one");
        assert_eq!(app.state.hasher.verifications(), hashes + 1, "and costs one hash, like any login");

        let roles = json_of(app.admin_put(&op, &format!("{base}/{id}/roles"), &json!({"roles": ["tenant-admin", "tenant-admin"]})).await, StatusCode::OK).await;
        assert_eq!(roles["roles"], json!(["tenant-admin"]));
        let bad = app.admin_put(&op, &format!("{base}/{id}/roles"), &json!({"roles": ["Bad Role"]})).await;
        assert_eq!(problem(bad, StatusCode::BAD_REQUEST).await["field"], "roles[0]");

        assert_eq!(app.admin_delete(&op, &format!("{base}/{id}")).await.status(), StatusCode::NO_CONTENT);
        assert_eq!(app.admin_get(&op, &format!("{base}/{id}")).await.status(), StatusCode::NOT_FOUND);
        let dup = app.admin_post(&op, base, &json!({"username": "BOB"})).await;
        assert_eq!(problem(dup, StatusCode::CONFLICT).await["code"], "username_taken");
    }

    async fn sessions_are_listed_and_revocable_one_by_one_or_all(app: TestApp) {
        let op = app.operator().await;
        let phone = app.user("ann").await;
        let laptop = app.login("default", "ann").await;
        let tablet = app.login("default", "ann").await;
        let me: Value = app.me("default", &phone.access).await.json().await.unwrap();
        let base = format!("/admin/v1/tenants/default/users/{}/sessions", me["id"].as_str().unwrap());
        let list = json_of(app.admin_get(&op, &base).await, StatusCode::OK).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 3);
        assert!(list["items"].as_array().unwrap().iter().all(|s| s["active"] == true && s["ip"] == "127.0.0.1"));

        let sid = TestApp::claims_of(&laptop.access).sid.unwrap();
        assert_eq!(app.admin_delete(&op, &format!("{base}/{sid}")).await.status(), StatusCode::NO_CONTENT);
        assert_invalid_token(app.me("default", &laptop.access).await).await;
        assert_eq!(app.me("default", &phone.access).await.status(), StatusCode::OK);
        let missing = app.admin_delete(&op, &format!("{base}/{}", uuid::Uuid::now_v7())).await;
        assert_eq!(problem(missing, StatusCode::NOT_FOUND).await["code"], "session_not_found");

        assert_eq!(app.admin_delete(&op, &base).await.status(), StatusCode::NO_CONTENT);
        for t in [&phone, &tablet] {
            assert_invalid_token(app.me("default", &t.access).await).await;
            assert_eq!(app.refresh("default", &t.refresh).await.status(), StatusCode::UNAUTHORIZED);
        }
        let list = json_of(app.admin_get(&op, &base).await, StatusCode::OK).await;
        assert!(list["items"].as_array().unwrap().iter().all(|s| s["active"] == false));
    }

    async fn a_rotated_key_signs_new_tokens_while_the_old_one_still_verifies(app: TestApp) {
        let op = app.operator().await;
        let before = app.user("ann").await;
        let old_kid = jsonwebtoken::decode_header(&before.access).unwrap().kid.unwrap();
        let rotated = json_of(app.admin_post(&op, "/admin/v1/tenants/default/keys/rotate", &json!({"algorithm": "EdDSA"})).await, StatusCode::CREATED).await;
        assert_eq!(rotated["algorithm"], "EdDSA");
        assert_eq!(rotated["status"], "active");
        let after = app.login("default", "ann").await;
        let header = jsonwebtoken::decode_header(&after.access).unwrap();
        assert_eq!(header.kid.as_deref(), rotated["kid"].as_str());
        assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
        assert_eq!(app.me("default", &after.access).await.status(), StatusCode::OK);
        assert_eq!(app.me("default", &before.access).await.status(), StatusCode::OK, "old tokens live out their lifetime");

        let jwks: Value = app.client.get(app.url("/t/default/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
        let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
        assert!(kids.contains(&old_kid.as_str()) && kids.contains(&rotated["kid"].as_str().unwrap()));
        let keys = json_of(app.admin_get(&op, "/admin/v1/tenants/default/keys").await, StatusCode::OK).await;
        let mut listed: Vec<(String, String)> = keys["items"].as_array().unwrap().iter()
            .map(|k| (k["algorithm"].as_str().unwrap().to_string(), k["status"].as_str().unwrap().to_string())).collect();
        listed.sort();
        // Access-token keys in the chosen algorithm, RS256 keys for ID tokens.
        let expected = [("ES256", "retired"), ("EdDSA", "active"), ("RS256", "active"), ("RS256", "retired")];
        assert_eq!(listed, expected.map(|(a, s)| (a.to_string(), s.to_string())));
    }

    async fn logins_and_admin_changes_are_in_the_audit_log(app: TestApp) {
        let op = app.operator().await;
        let start = chrono::Utc::now() - chrono::Duration::seconds(1);
        app.user("ann").await;
        app.client.post(app.url("/t/default/auth/login")).header("User-Agent", "audit-test/1.0")
            .json(&json!({"username": "ann", "password": "wrong password here"})).send().await.unwrap();
        let ann: Value = app.admin_get(&op, "/admin/v1/tenants/default/users?username=ann").await.json().await.unwrap();
        let ann_id = ann["items"][0]["id"].as_str().unwrap().to_string();
        app.admin_put(&op, &format!("/admin/v1/tenants/default/users/{ann_id}/roles"), &json!({"roles": ["x"]})).await;

        let base = "/admin/v1/tenants/default/audit-events";
        let failed = json_of(app.admin_get(&op, &format!("{base}?type=login.failed")).await, StatusCode::OK).await;
        let e = &failed["items"][0];
        assert_eq!((e["outcome"].as_str(), e["user_agent"].as_str(), e["ip"].as_str()), (Some("failure"), Some("audit-test/1.0"), Some("127.0.0.1")));
        assert_eq!(e["user_id"].as_str(), Some(ann_id.as_str()));
        let by_user = json_of(app.admin_get(&op, &format!("{base}?user={ann_id}")).await, StatusCode::OK).await;
        let types: Vec<&str> = by_user["items"].as_array().unwrap().iter().map(|e| e["event_type"].as_str().unwrap()).collect();
        assert_eq!(types, ["user.roles_set", "login.failed", "login.succeeded", "user.registered"], "newest first");
        let change = &by_user["items"][0];
        assert_eq!(change["actor_tenant"], "system");
        let op_id = change["actor_id"].as_str().unwrap();
        let by_actor = json_of(app.admin_get(&op, &format!("{base}?actor={op_id}")).await, StatusCode::OK).await;
        assert_eq!(by_actor["items"].as_array().unwrap().len(), 1);

        let since = start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let window = json_of(app.admin_get(&op, &format!("{base}?since={}", urlencode(&since))).await, StatusCode::OK).await;
        assert_eq!(window["items"].as_array().unwrap().len(), 4);
        let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let none = json_of(app.admin_get(&op, &format!("{base}?since={}", urlencode(&future))).await, StatusCode::OK).await;
        assert_eq!(none["items"], json!([]));
        let page1 = json_of(app.admin_get(&op, &format!("{base}?limit=3")).await, StatusCode::OK).await;
        let cursor = page1["next_cursor"].as_str().unwrap();
        let page2 = json_of(app.admin_get(&op, &format!("{base}?limit=3&cursor={cursor}")).await, StatusCode::OK).await;
        assert_eq!(page2["items"].as_array().unwrap().len(), 1);
        assert!(page2["next_cursor"].is_null());
        problem(app.admin_get(&op, &format!("{base}?cursor=nope")).await, StatusCode::BAD_REQUEST).await;
    }

    async fn lists_page_through_every_item_once(app: TestApp) {
        let op = app.operator().await;
        for i in 0..7 {
            app.admin_post(&op, "/admin/v1/tenants/default/users", &json!({"username": format!("u{i}")})).await;
        }
        let mut seen = Vec::new();
        let mut path = "/admin/v1/tenants/default/users?limit=3".to_string();
        loop {
            let page = json_of(app.admin_get(&op, &path).await, StatusCode::OK).await;
            seen.extend(page["items"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_string()));
            match page["next_cursor"].as_str() {
                Some(c) => path = format!("/admin/v1/tenants/default/users?limit=3&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen, (0..7).map(|i| format!("u{i}")).collect::<Vec<_>>());
        problem(app.admin_get(&op, "/admin/v1/tenants/default/users?limit=0").await, StatusCode::BAD_REQUEST).await;
        problem(app.admin_get(&op, "/admin/v1/tenants/default/users?limit=201").await, StatusCode::BAD_REQUEST).await;
    }

    async fn an_idempotency_key_replays_the_first_create(app: TestApp) {
        let op = app.operator().await;
        let send = |body: Value, key: &'static str| {
            app.client.post(app.url("/admin/v1/tenants/default/users")).bearer_auth(&op).header("Idempotency-Key", key).json(&body).send()
        };
        let body = json!({"username": "ann", "password": PASSWORD});
        let first = json_of(send(body.clone(), "k-1").await.unwrap(), StatusCode::CREATED).await;
        let again = json_of(send(body.clone(), "k-1").await.unwrap(), StatusCode::CREATED).await;
        assert_eq!(first, again);
        let other = send(json!({"username": "bob"}), "k-1").await.unwrap();
        assert_eq!(problem(other, StatusCode::UNPROCESSABLE_ENTITY).await["code"], "idempotency_key_reused");
        let users = json_of(app.admin_get(&op, "/admin/v1/tenants/default/users").await, StatusCode::OK).await;
        assert_eq!(users["items"].as_array().unwrap().len(), 1, "one user despite three requests");
        // Without the key, a retry is a new request (and here a conflict).
        assert_eq!(app.admin_post(&op, "/admin/v1/tenants/default/users", &body).await.status(), StatusCode::CONFLICT);
    }
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

/// Changes made at one instance take effect at another on its next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_user_and_key_changes_at_one_instance_take_effect_at_another() {
    let a = TestApp::spawn(Backend::PostgresRedis).await;
    let b = a.spawn_sibling().await;
    let op = a.operator().await;
    a.api_open_tenant(&op, "acme").await;
    // B has seen acme, so it is cached there.
    assert_eq!(b.register("acme", "ann").await.status(), StatusCode::CREATED);
    let t = b.login("acme", "ann").await;

    // Key rotation at A: a token signed with the new key verifies at B, and B's JWKS lists it.
    let rotated = json_of(
        a.admin_post(&op, "/admin/v1/tenants/acme/keys/rotate", &json!({})).await,
        StatusCode::CREATED,
    )
    .await;
    let fresh = a.login("acme", "ann").await;
    assert_eq!(b.me("acme", &fresh.access).await.status(), StatusCode::OK);
    let jwks: Value =
        b.client.get(b.url("/t/acme/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    assert!(jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == rotated["kid"]));

    // Profile changes at A show in B's /me on the next request, although B answered /me
    // for this user a moment ago (and keeps user rows cached between requests).
    let users: Value = a.admin_get(&op, "/admin/v1/tenants/acme/users").await.json().await.unwrap();
    let id = users["items"][0]["id"].as_str().unwrap();
    let me = async |app: &TestApp, token: String| json_of(app.me("acme", &token).await, StatusCode::OK).await;
    assert_eq!(me(&b, t.access.clone()).await["email"], Value::Null);
    let path = format!("/admin/v1/tenants/acme/users/{id}");
    a.admin_patch(&op, &path, &json!({"email": "ann@acme.example", "email_verified": true})).await;
    let seen = me(&b, t.access.clone()).await;
    assert_eq!(
        (seen["email"].as_str(), seen["email_verified"].as_bool()),
        (Some("ann@acme.example"), Some(true))
    );
    let roles = json!({"roles": ["auditor"]});
    assert_eq!(a.admin_put(&op, &format!("{path}/roles"), &roles).await.status(), StatusCode::OK);
    assert_eq!(me(&b, t.access.clone()).await["roles"], json!(["auditor"]));
    assert_eq!(me(&a, t.access.clone()).await["roles"], json!(["auditor"]));

    // Disabling the user at A: B refuses the user's tokens and logins.
    a.admin_patch(&op, &format!("/admin/v1/tenants/acme/users/{id}"), &json!({"status": "disabled"})).await;
    assert_invalid_token(b.me("acme", &t.access).await).await;
    assert_eq!(b.login_raw("acme", "ann", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);

    // Disabling the tenant at A: B refuses its tokens on the next request.
    a.admin_patch(&op, &format!("/admin/v1/tenants/acme/users/{id}"), &json!({"status": "active"})).await;
    let t = b.login("acme", "ann").await;
    a.admin_patch(&op, "/admin/v1/tenants/acme", &json!({"status": "disabled"})).await;
    assert_invalid_token(b.me("acme", &t.access).await).await;
}

/// With a read replica configured, the admin listings read it (and so may lag, as a hot
/// standby does); logins, tokens, `/me` and single lookups read the primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_read_the_replica_and_everything_else_the_primary() {
    use gatehouse::store::entities::{tenants, users};
    use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel};

    let app = TestApp::spawn_with_lagging_replica().await;
    let op = app.operator().await;
    assert_eq!(app.register("default", "ann").await.status(), StatusCode::CREATED);
    let t = app.login("default", "ann").await;
    let me = json_of(app.me("default", &t.access).await, StatusCode::OK).await;
    let id = me["id"].as_str().unwrap();
    let one = app.admin_get(&op, &format!("/admin/v1/tenants/default/users/{id}")).await;
    assert_eq!(json_of(one, StatusCode::OK).await["username"], "ann");

    // The replica has replayed nothing yet: the listing, served there, is empty.
    let list = json_of(app.admin_get(&op, "/admin/v1/tenants/default/users").await, StatusCode::OK).await;
    assert_eq!(list["items"], json!([]));

    // Once it has caught up with the tenant and user rows, the listing shows ann.
    let primary = gatehouse::store::connect(&app.settings.database).await.unwrap();
    let mut replica_settings = app.settings.database.clone();
    replica_settings.url = replica_settings.replica_url.clone().unwrap();
    let replica = gatehouse::store::connect(&replica_settings).await.unwrap();
    for row in tenants::Entity::find().all(&primary).await.unwrap() {
        row.into_active_model().reset_all().insert(&replica).await.unwrap();
    }
    for row in users::Entity::find().all(&primary).await.unwrap() {
        row.into_active_model().reset_all().insert(&replica).await.unwrap();
    }
    let list = json_of(app.admin_get(&op, "/admin/v1/tenants/default/users").await, StatusCode::OK).await;
    let names: Vec<&str> =
        list["items"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["ann"]);
}

/// A replica that is down costs the listings (503, retryable) and nothing else: the instance
/// starts, and logins and the admin API's other reads work from the primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_is_down_only_fails_the_listings() {
    let app = TestApp::spawn_tuned(Backend::PostgresRedis, |s| {
        s.database.connect_timeout_secs = 1;
        s.database.replica_url = Some(gatehouse::config::Secret::new("postgres://postgres@127.0.0.1:1/gone"));
    })
    .await;
    let op = app.operator().await;
    assert_eq!(app.register("default", "ann").await.status(), StatusCode::CREATED);
    app.login("default", "ann").await;
    let tenant = app.admin_get(&op, "/admin/v1/tenants/default").await;
    assert_eq!(tenant.status(), StatusCode::OK);
    let list = app.admin_get(&op, "/admin/v1/tenants/default/users").await;
    assert_eq!(list.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(list.headers().contains_key("retry-after"));
    assert_eq!(list.json::<Value>().await.unwrap()["code"], "service_unavailable");
}
