//! Users in the console: search, create, and per user disable/enable, unlock, a password-reset
//! mail, resetting second factors, roles and sessions, through `admin::users` and `admin::mail`.
use std::sync::Arc;

use gatehouse_ui::{Block, Cell, Field, Form, Link, Section};
use poem::{
    Body, Request, Response, handler,
    http::StatusCode,
    web::{Data, Path},
};
use uuid::Uuid;

use super::{Console, confirmed, failed, nav, open, open_post, render, sign_out_section};
use crate::{
    admin::{
        self,
        mail::AdminMail,
        users::{NewUserInput, UserChanges},
    },
    auth::{self, ROLE_TENANT_ADMIN},
    error::ApiError,
    oidc::authorize::Params,
    state::AppState,
    store::{
        entities::{sessions, users},
        users::UserFilter,
    },
    tenancy::TenantContext,
    web::panel::{self, Chrome, field},
};

/// `GET /console/t/{tenant}/users?q=...&cursor=...`: `q` matches the start of the username,
/// or of the email when it holds an `@`.
#[handler]
pub(super) async fn list_page(
    req: &Request,
    Path(slug): Path<String>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let (console, tenant) = match open(state, req, &slug).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let query =
        crate::oidc::authorize::parse_params(req.uri().query().unwrap_or_default()).unwrap_or_default();
    list_view(state, &console, &tenant, StatusCode::OK, None, &query, &Params::default()).await
}

async fn list_view(
    state: &AppState,
    console: &Console,
    tenant: &TenantContext,
    status: StatusCode,
    error: Option<&str>,
    query: &Params,
    entered: &Params,
) -> Response {
    let slug = &tenant.slug;
    let q = field(query, "q").trim().to_string();
    let mut filter = UserFilter::default();
    if q.contains('@') {
        filter.email_prefix = Some(q.clone());
    } else if !q.is_empty() {
        filter.username_prefix = Some(q.clone());
    }
    let cursor = query.get("cursor").filter(|c| !c.is_empty()).map(String::as_str);
    let page = match admin::users::list(state, tenant, filter, cursor, None).await {
        Ok(p) => p,
        Err(e) => return failed(None, &e),
    };
    let rows = page
        .items
        .iter()
        .map(|u| {
            vec![
                Cell::Link(Link::new(format!("/console/t/{slug}/users/{}", u.id), u.username.clone())),
                Cell::Text(u.email.clone().unwrap_or_default()),
                Cell::Text(u.status.clone()),
                Cell::Text(auth::roles_of(u).join(", ")),
            ]
        })
        .collect();
    let search = Form::get("search", format!("/console/t/{slug}/users"), "Search").field(
        Field::input("q", "Find users", "search", q.clone(), false)
            .hint("The start of a username or email address."),
    );
    let mut blocks = vec![
        Block::Form(search),
        Block::Table {
            caption: "Users".into(),
            headers: ["Username", "Email", "Status", "Roles"].map(String::from).to_vec(),
            rows,
        },
    ];
    if let Some(next) = &page.next_cursor {
        let href = format!("/console/t/{slug}/users?q={}&cursor={next}", super::tenant::urlencoding(&q));
        blocks.push(Block::Links(vec![Link::new(href, "Next page")]));
    }
    let create = Form::post("new-user", format!("/console/t/{slug}/users"), console.csrf(), "Create user")
        .field(Field::input("username", "Username", "text", field(entered, "username"), true))
        .field(Field::input("email", "Email", "email", field(entered, "email"), false))
        .field(
            Field::input("password", "Password", "password", "", false)
                .hint("Leave empty to let the user set one through a reset mail."),
        )
        .field(Field::checkbox(
            "tenant_admin",
            "Tenant admin (may use this console for this tenant)",
            field(entered, "tenant_admin") == "on",
        ));
    let sections = [
        Section::new("Directory", blocks),
        Section::new("New user", vec![Block::Form(create)]),
        sign_out_section(console),
    ];
    let nav = nav(Some(slug), &format!("/console/t/{slug}/users"));
    let notice = (field(query, "done") == "deleted").then_some("The user is deleted.");
    let chrome = Chrome { title: "Users", nav: &nav, notice, error };
    render(status, &chrome, &sections)
}

/// `POST /console/t/{tenant}/users`.
#[handler]
pub(super) async fn create_user(
    req: &Request,
    Path(slug): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let (console, tenant, form) = match open_post(state, req, body, &slug).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let email = field(&form, "email").trim();
    let password = field(&form, "password");
    let input = NewUserInput {
        username: field(&form, "username").to_string(),
        email: (!email.is_empty()).then(|| email.to_string()),
        email_verified: false,
        password: (!password.is_empty()).then(|| password.to_string()),
        roles: if field(&form, "tenant_admin") == "on" {
            vec![ROLE_TENANT_ADMIN.to_string()]
        } else {
            Vec::new()
        },
    };
    match admin::users::create(state, &console.admin, &tenant, input, chrono::Utc::now()).await {
        Ok(u) => panel::done(&format!("/console/t/{slug}/users/{}", u.id), "created"),
        Err(e) => {
            let (status, message) = panel::problem(&e);
            list_view(state, &console, &tenant, status, Some(&message), &Params::default(), &form).await
        }
    }
}

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::not_found("user_not_found", "no such user in this tenant"))
}

/// `GET /console/t/{tenant}/users/{id}`.
#[handler]
pub(super) async fn user_page(
    req: &Request,
    Path((slug, id)): Path<(String, String)>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let (console, tenant) = match open(state, req, &slug).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let notice = notice_text(&panel::notice_key(req));
    let user = match parse_id(&id) {
        Ok(id) => admin::users::get(state, &tenant, id).await,
        Err(e) => Err(e),
    };
    match user {
        Ok(u) => {
            let open = open_sessions(state, &tenant, u.id).await;
            user_view(&console, &tenant, &u, &open, StatusCode::OK, notice, None)
        }
        Err(e) => failed(None, &e),
    }
}

fn notice_text(key: &str) -> Option<&'static str> {
    Some(match key {
        "created" => "The user is created.",
        "disabled" => "The user is disabled and signed out everywhere.",
        "enabled" => "The user is enabled.",
        "unlocked" => "The sign-in lock is lifted.",
        "reset_sent" => "A password-reset mail is on its way.",
        "factors_reset" => "The user's second factors are removed.",
        "session_ended" => "The session is ended.",
        "sessions_ended" => "Every session of the user is ended.",
        "roles_saved" => "The roles are saved.",
        _ => return None,
    })
}

/// The user's open sessions, through the admin API's function.
async fn open_sessions(state: &AppState, tenant: &TenantContext, id: Uuid) -> Vec<sessions::Model> {
    let now = chrono::Utc::now();
    let all = admin::users::sessions(state, tenant, id).await.unwrap_or_default();
    all.into_iter().filter(|s| s.revoked_at.is_none() && s.expires_at > now).collect()
}

fn sessions_section(console: &Console, here: &str, open: &[sessions::Model]) -> Section {
    let rows = open
        .iter()
        .map(|s| {
            let end = Form::post(&format!("end-{}", s.id), here, console.csrf(), "End")
                .field(Field::hidden("action", "end-session"))
                .field(Field::hidden("session", s.id.to_string()))
                .named(format!("End the session started {}", panel::when(s.created_at)));
            vec![
                Cell::Text(s.client_id.clone().unwrap_or_else(|| "browser or API sign-in".into())),
                Cell::Text(panel::when(s.created_at)),
                Cell::Text(s.ip.clone().unwrap_or_default()),
                Cell::Text(s.user_agent.clone().unwrap_or_default()),
                Cell::Forms(vec![end]),
            ]
        })
        .collect();
    let all = Form::post("end-all", here, console.csrf(), "End every session")
        .field(Field::hidden("action", "end-all"));
    Section::new(
        "Sessions",
        vec![
            Block::Table {
                caption: "Open sessions".into(),
                headers: ["App", "Started", "Address", "Device", "Actions"].map(String::from).to_vec(),
                rows,
            },
            Block::Form(all),
        ],
    )
}

#[allow(clippy::too_many_arguments)]
fn user_view(
    console: &Console,
    tenant: &TenantContext,
    user: &users::Model,
    open: &[sessions::Model],
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Response {
    let slug = &tenant.slug;
    let here = format!("/console/t/{slug}/users/{}", user.id);
    let facts = Block::Facts(vec![
        ("Username".into(), user.username.clone()),
        ("Display name".into(), user.display_name.clone().unwrap_or_default()),
        (
            "Email".into(),
            user.email.as_ref().map_or_else(String::new, |e| {
                format!("{e} ({})", if user.email_verified { "verified" } else { "not verified" })
            }),
        ),
        ("Status".into(), user.status.clone()),
        ("Roles".into(), auth::roles_of(user).join(", ")),
        ("Created".into(), panel::when(user.created_at)),
    ]);
    let act = |id: &str, action: &str, label: &str| {
        Form::post(id, here.clone(), console.csrf(), label).field(Field::hidden("action", action))
    };
    let mut actions = Vec::new();
    if user.status == "active" {
        actions.push(Block::Form(
            act("disable", "disable", "Disable user")
                .field(Field::checkbox(
                    "confirm",
                    "Yes, sign this user out everywhere and refuse sign-ins",
                    false,
                ))
                .danger(),
        ));
    } else {
        actions.push(Block::Form(act("enable", "enable", "Enable user")));
    }
    actions.push(Block::Form(act("unlock", "unlock", "Lift sign-in lock")));
    if user.email.is_some() {
        actions.push(Block::Form(act("send-reset", "send-reset", "Send password-reset mail")));
    }
    actions.push(Block::Form(
        act("reset-factors", "reset-factors", "Reset second factors")
            .field(Field::checkbox("confirm", "Yes, remove the authenticator app and recovery codes", false))
            .danger(),
    ));
    actions.push(Block::Form(
        act("delete", "delete", "Delete user")
            .field(Field::checkbox("confirm", "Yes, delete this user and end every session", false))
            .danger(),
    ));
    let roles = Form::post("roles", here.clone(), console.csrf(), "Save roles")
        .field(Field::hidden("action", "roles"))
        .field(Field::input("roles", "Roles", "text", auth::roles_of(user).join(", "), false).hint(
            "Comma-separated: tenant-admin opens this console for the tenant; admin exists only in system.",
        ));
    actions.push(Block::Form(roles));
    let sections = [
        Section::new("User", vec![facts]),
        Section::new("Actions", actions),
        sessions_section(console, &here, open),
        sign_out_section(console),
    ];
    let nav = nav(Some(slug), &format!("/console/t/{slug}/users"));
    let chrome = Chrome { title: &user.username, nav: &nav, notice, error };
    render(status, &chrome, &sections)
}

/// `POST /console/t/{tenant}/users/{id}`: `action` is `disable`, `enable`, `unlock`,
/// `send-reset` or `reset-factors` (dangerous ones confirmed).
#[handler]
pub(super) async fn user_action(
    req: &Request,
    Path((slug, id)): Path<(String, String)>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let (console, tenant, form) = match open_post(state, req, body, &slug).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(e) => return failed(None, &e),
    };
    let dangerous = matches!(field(&form, "action"), "disable" | "reset-factors" | "delete");
    if let Some(again) =
        super::step_up(&console, &format!("/console/t/{slug}/users/{id}")).filter(|_| dangerous)
    {
        return again;
    }
    let now = chrono::Utc::now();
    let admin = &console.admin;
    let status = |s: &str| UserChanges { email: None, email_verified: None, status: Some(s.to_string()) };
    let result: Result<&str, ApiError> = match field(&form, "action") {
        "disable" => match confirmed(&form) {
            Ok(()) => admin::users::update(state, admin, &tenant, id, status("disabled"), now)
                .await
                .map(|_| "disabled"),
            Err(e) => Err(e),
        },
        "enable" => {
            admin::users::update(state, admin, &tenant, id, status("active"), now).await.map(|_| "enabled")
        }
        "unlock" => admin::users::unlock(state, admin, &tenant, id, now).await.map(|()| "unlocked"),
        "send-reset" => admin::mail::send(state, admin, &tenant, id, AdminMail::PasswordReset, now)
            .await
            .map(|()| "reset_sent"),
        "end-session" => match Uuid::parse_str(field(&form, "session")) {
            Ok(sid) => admin::users::revoke_session(state, admin, &tenant, id, sid, now)
                .await
                .map(|()| "session_ended"),
            Err(_) => Err(ApiError::validation("session", "must be a session id")),
        },
        "end-all" => {
            admin::users::revoke_all_sessions(state, admin, &tenant, id, now).await.map(|()| "sessions_ended")
        }
        "roles" => {
            let roles: Vec<String> =
                field(&form, "roles").split([',', ' ']).filter(|r| !r.is_empty()).map(String::from).collect();
            admin::users::set_roles(state, admin, &tenant, id, &roles, now).await.map(|_| "roles_saved")
        }
        "delete" => match confirmed(&form) {
            Ok(()) => match admin::users::delete(state, admin, &tenant, id, now).await {
                Ok(()) => return panel::done(&format!("/console/t/{slug}/users"), "deleted"),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        },
        "reset-factors" => match confirmed(&form) {
            Ok(()) => admin::users::reset_second_factors(state, admin, &tenant, id, now)
                .await
                .map(|_| "factors_reset"),
            Err(e) => Err(e),
        },
        _ => Err(ApiError::bad_request("unknown_action", "no such action")),
    };
    match result {
        Ok(notice) => panel::done(&format!("/console/t/{slug}/users/{id}"), notice),
        Err(e) => {
            let (status, message) = panel::problem(&e);
            match admin::users::get(state, &tenant, id).await {
                Ok(u) => {
                    let open = open_sessions(state, &tenant, u.id).await;
                    user_view(&console, &tenant, &u, &open, status, None, Some(&message))
                }
                Err(e) => failed(None, &e),
            }
        }
    }
}
