//! Unicode in credentials: passwords are normalised (NFKC) before hashing and checking;
//! usernames that would render like another name are refused.
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, backend_tests, problem};

/// Names that render like "alice" (or like nothing at all) but are other strings.
const LOOKALIKES: &[&str] = &[
    "\u{430}lice",           // Cyrillic а
    "al\u{200b}ice",         // zero-width space
    "al\u{200d}ice",         // zero-width joiner
    "al\u{ad}ice",           // soft hyphen
    "alice\u{feff}",         // byte-order mark
    "\u{202e}ecila",         // right-to-left override
    "al\u{2066}ice\u{2069}", // isolate
    "\u{3b1}lice",           // Greek α
    "\u{430}\u{43e}\u{440}", // all-Cyrillic "аор"
];

/// The same password, composed (NFC) and decomposed (NFD).
const NFC: &str = "p\u{e4}sswort-l\u{e4}ntern-\u{f1}o-42";
const NFD: &str = "pa\u{308}sswort-la\u{308}ntern-n\u{303}o-42";

async fn register_with(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    app.post_json("/t/default/auth/register", &json!({"username": username, "password": password})).await
}

async fn stored_hash(app: &TestApp, username: &str) -> String {
    gatehouse::store::entities::users::Entity::find()
        .filter(gatehouse::store::entities::users::Column::Username.eq(username))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
        .password_hash
        .unwrap()
}

backend_tests! {
    async fn a_password_typed_decomposed_logs_in_to_its_composed_registration(app: TestApp) {
        assert_eq!(register_with(&app, "nora", NFC).await.status(), StatusCode::CREATED);
        assert_eq!(app.login_raw("default", "nora", NFD).await.status(), StatusCode::OK);
        assert_eq!(app.login_raw("default", "nora", NFC).await.status(), StatusCode::OK);
        assert_eq!(register_with(&app, "dora", NFD).await.status(), StatusCode::CREATED);
        assert_eq!(app.login_raw("default", "dora", NFC).await.status(), StatusCode::OK);
        // Normalising does not make different passwords equal.
        let other = NFC.replace('\u{e4}', "a");
        assert_eq!(app.login_raw("default", "dora", &other).await.status(), StatusCode::UNAUTHORIZED);
    }

    async fn a_password_set_by_an_admin_is_normalised_too(app: TestApp) {
        let op = app.operator().await;
        let body = json!({"username": "pia", "password": NFD});
        let created: Value = app.admin_post(&op, "/admin/v1/tenants/default/users", &body).await.json().await.unwrap();
        assert_eq!(app.login_raw("default", "pia", NFC).await.status(), StatusCode::OK);
        let id = created["id"].as_str().unwrap();
        let resp = app.admin_put(&op, &format!("/admin/v1/tenants/default/users/{id}/password"), &json!({"password": format!("{NFD}!")})).await;
        assert!(resp.status().is_success(), "{}", resp.status());
        assert_eq!(app.login_raw("default", "pia", &format!("{NFC}!")).await.status(), StatusCode::OK);
    }

    async fn a_hash_of_the_raw_form_still_works_and_is_replaced_by_the_normalised_one(app: TestApp) {
        // A user registered before passwords were normalised: the hash is of the NFD bytes.
        assert_eq!(register_with(&app, "olaf", NFC).await.status(), StatusCode::CREATED);
        let user = gatehouse::store::entities::users::Entity::find()
            .filter(gatehouse::store::entities::users::Column::Username.eq("olaf"))
            .one(&app.state.db).await.unwrap().unwrap();
        let legacy = app.state.hasher.hash(NFD.to_string()).await.unwrap();
        let mut active = user.into_active_model();
        active.password_hash = Set(Some(legacy.clone()));
        active.update(&app.state.db).await.unwrap();

        assert_eq!(app.login_raw("default", "olaf", NFD).await.status(), StatusCode::OK);
        let upgraded = stored_hash(&app, "olaf").await;
        assert_ne!(upgraded, legacy);
        assert!(app.state.hasher.verify(NFC.to_string(), Some(upgraded)).await.unwrap());
        assert_eq!(app.login_raw("default", "olaf", NFC).await.status(), StatusCode::OK);
    }

    async fn names_that_render_like_another_are_refused_at_registration_and_store_nothing(app: TestApp) {
        app.user("alice").await;
        let before = app.stored_state().await;
        for name in LOOKALIKES {
            let p = problem(register_with(&app, name, PASSWORD).await, StatusCode::BAD_REQUEST).await;
            assert_eq!((p["code"].as_str(), p["field"].as_str()), (Some("validation_failed"), Some("username")), "{name:?}: {p}");
            // Signing in with such a name is just a wrong name, never a match for alice.
            assert_eq!(app.login_raw("default", name, PASSWORD).await.status(), StatusCode::UNAUTHORIZED, "{name:?}");
        }
        assert_eq!(app.stored_state().await, before);
        assert_eq!(app.login_raw("default", "alice", PASSWORD).await.status(), StatusCode::OK);
    }

    async fn names_that_render_like_another_are_refused_by_the_admin_api(app: TestApp) {
        let op = app.operator().await;
        let before = app.stored_state().await;
        for name in LOOKALIKES {
            let body = json!({"username": name, "password": PASSWORD});
            let p = problem(app.admin_post(&op, "/admin/v1/tenants/default/users", &body).await, StatusCode::BAD_REQUEST).await;
            assert_eq!((p["code"].as_str(), p["field"].as_str()), (Some("validation_failed"), Some("username")), "{name:?}: {p}");
        }
        assert_eq!(app.stored_state().await, before);
        // One script with digits and ASCII punctuation is fine, in any script.
        for name in ["zo\u{eb}.smith-2", "\u{441}\u{430}\u{448}\u{430}", "\u{7530}\u{4e2d}"] {
            let body = json!({"username": name, "password": PASSWORD});
            assert_eq!(app.admin_post(&op, "/admin/v1/tenants/default/users", &body).await.status(), StatusCode::CREATED, "{name:?}");
        }
    }
}
