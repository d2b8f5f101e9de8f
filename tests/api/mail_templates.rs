//! Tenant overrides of the mail templates through the admin API: checked when saved (errors
//! name the part and line), previewed with sample data, and used by the next real mail.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    email::{SmtpServer, app_without_verification_mail, link_in, plain_text},
    helpers::*,
};

const BASE: &str = "/admin/v1/tenants/default/mail-templates";

fn template() -> Value {
    json!({
        "subject": "{{ tenant }}:   please confirm {{ address }}",
        "text": "Hi {{ username }}, confirm here: {{ link }}\n\tor type {{ code }} ({{ valid_for }}).",
        "html": "<p>Hi {{ username }}</p><p><a href=\"{{ link }}\">Confirm {{ address }}</a> {{ code }}</p>",
    })
}

backend_tests! {
    async fn an_override_is_previewed_and_used_by_the_next_mail(app: TestApp) {
        let smtp = SmtpServer::start().await;
        let app = app_without_verification_mail(app.backend, &smtp).await;
        let op = app.operator().await;
        let saved = app.admin_put(&op, &format!("{BASE}/change_email/en"), &template()).await;
        assert_eq!(saved.status(), StatusCode::OK, "{}", saved.text().await.unwrap());
        let list: Value = app.admin_get(&op, BASE).await.json().await.unwrap();
        assert_eq!(list["items"][0]["kind"], "change_email");
        assert_eq!(list["items"][0]["locale"], "en");

        let preview: Value = app.admin_post(&op, &format!("{BASE}/change_email/preview"), &json!({})).await.json().await.unwrap();
        assert_eq!(preview["source"], "override");
        assert_eq!(preview["subject"], "Default: please confirm new-address@example.com", "{preview}");
        assert!(preview["text"].as_str().unwrap().contains("Hi ann, confirm here: http"), "{preview}");
        assert!(preview["html"].as_str().unwrap().contains("1234-5678"));
        // A draft is rendered as it would be, and escaped in HTML.
        let draft = json!({ "draft": { "subject": "x", "text": "{{ link }}", "html": "<b>{{ '<i>' }}</b>{{ link }}" } });
        let shown: Value = app.admin_post(&op, &format!("{BASE}/change_email/preview"), &draft).await.json().await.unwrap();
        assert_eq!(shown["source"], "draft");
        assert!(shown["html"].as_str().unwrap().starts_with("<b>&lt;i&gt;</b>http:&#x2f;&#x2f;"), "{shown}");
        // Another kind without an override shows the built-in wording.
        let builtin: Value = app.admin_post(&op, &format!("{BASE}/email_sign_in/preview"), &json!({})).await.json().await.unwrap();
        assert_eq!((builtin["source"].as_str(), builtin["subject"].as_str()), (Some("default"), Some("Sign in to Default")));

        // The next real mail of that kind uses the override, and its link still works.
        let resp = app
            .post_json("/t/default/auth/register", &json!({ "username": "ann", "password": PASSWORD, "email": "ann@old.test" }))
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let ann = app.login("default", "ann").await;
        let resp = app.client.post(app.url("/t/default/me/email")).bearer_auth(&ann.access).json(&json!({ "email": "ann@new.test" })).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        let mail = smtp.wait_for(1).await;
        assert!(mail[0].contains("Subject: Default: please confirm ann@new.test"), "{}", mail[0]);
        let text = plain_text(&mail[0]);
        assert!(text.starts_with("Hi ann, confirm here: http"), "{text}");
        let (url, _) = link_in(&mail[0], "account/confirm-email");
        assert_eq!(app.client.get(&url).send().await.unwrap().status(), StatusCode::OK);

        // Removed: the built-in wording again.
        assert_eq!(app.admin_delete(&op, &format!("{BASE}/change_email/en")).await.status(), StatusCode::NO_CONTENT);
        let preview: Value = app.admin_post(&op, &format!("{BASE}/change_email/preview"), &json!({})).await.json().await.unwrap();
        assert_eq!(preview["source"], "default");
        assert_eq!(app.admin_delete(&op, &format!("{BASE}/change_email/en")).await.status(), StatusCode::NOT_FOUND);
    }

    async fn a_bad_template_is_refused_with_its_part_and_line(app: TestApp) {
        let op = app.operator().await;
        assert_eq!(app.admin_put(&op, &format!("{BASE}/reset_password/en"), &template()).await.status(), StatusCode::OK);
        let cases = [
            ("html", "<p>\n{{ link }\n</p>", "html: line 2"),
            ("text", "{{ link }}\n\n{{ password }}", "text: line 3"),
            ("html", "{% for x in range(100000) %}{% for y in range(100000) %}.{% endfor %}{% endfor %}{{ link }}", "too much work"),
            ("html", "{% include 'base.html' %}{{ link }}", "html"),
            ("text", "no link here", "must show the link"),
        ];
        for (part, source, says) in cases {
            let mut body = template();
            body[part] = json!(source);
            let resp = app.admin_put(&op, &format!("{BASE}/reset_password/en"), &body).await;
            let p = problem(resp, StatusCode::BAD_REQUEST).await;
            assert_eq!((p["code"].as_str(), p["field"].as_str()), (Some("template_invalid"), Some(part)), "{p}");
            assert!(p["detail"].as_str().unwrap().contains(says), "{says}: {p}");
        }
        // The stored template is the one saved before.
        let list: Value = app.admin_get(&op, BASE).await.json().await.unwrap();
        assert_eq!(list["items"][0]["text"], template()["text"]);
        let p = problem(app.admin_put(&op, &format!("{BASE}/welcome/en"), &template()).await, StatusCode::NOT_FOUND).await;
        assert_eq!(p["code"], "mail_kind_not_found");
        let p = problem(app.admin_put(&op, &format!("{BASE}/reset_password/EN_us"), &template()).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(p["field"], "locale");
        // Another tenant's admin cannot see or change them.
        let _ = app.api_tenant(&op, "other").await;
        let other = app.tenant_admin(&op, "other", "olga").await;
        assert_eq!(app.admin_get(&other, BASE).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(app.admin_put(&other, &format!("{BASE}/reset_password/en"), &template()).await.status(), StatusCode::FORBIDDEN);
    }
}
