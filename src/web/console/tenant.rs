//! One tenant in the console: its settings (name, registration, email verification, the
//! second-factor policy), signing keys, audit log and email outbox.
use std::sync::Arc;

use gatehouse_ui::{Block, Cell, Field, Form, Link, Section};
use poem::{
    Body, Request, Response, handler,
    http::StatusCode,
    web::{Data, Path},
};

use super::{Console, confirmed, failed, nav, open, open_post, render, sign_out_section};
use crate::{
    admin::{self, tenants::TenantChanges},
    oidc::authorize::Params,
    state::AppState,
    store::audit::AuditFilter,
    tenancy::TenantContext,
    web::panel::{self, Chrome, field},
};

const VERIFICATION: [(&str, &str); 3] = [
    ("off", "Off: no verification mail"),
    ("optional", "Optional: mail on registration, sign-in works without"),
    ("required", "Required: no sign-in until verified"),
];

const SECOND_FACTOR: [(&str, &str); 4] = [
    ("off", "Off"),
    ("optional", "Optional: users who enrol use it"),
    ("required_for_admins", "Required for admins"),
    ("required", "Required for everyone"),
];

/// `GET /console/t/{tenant}`.
#[handler]
pub(super) async fn settings_page(
    req: &Request,
    Path(slug): Path<String>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let (console, tenant) = match open(state, req, &slug).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let notice = match panel::notice_key(req).as_str() {
        "created" => Some("The tenant is created."),
        "saved" => Some("The settings are saved."),
        _ => None,
    };
    settings_view(&console, &tenant, StatusCode::OK, notice, None)
}

fn settings_view(
    console: &Console,
    tenant: &TenantContext,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Response {
    let s = &tenant.settings;
    let slug = &tenant.slug;
    let form = Form::post("settings", format!("/console/t/{slug}"), console.csrf(), "Save settings")
        .field(Field::input("display_name", "Display name", "text", tenant.display_name.clone(), true))
        .field(Field::checkbox("registration_open", "Anyone may create an account", s.registration_open))
        .field(Field::select(
            "email_verification",
            "Email verification",
            &VERIFICATION,
            &s.email.verification,
        ))
        .field(Field::select(
            "second_factor",
            "Two-step verification",
            &SECOND_FACTOR,
            &s.second_factor.mode,
        ));
    let facts = Block::Facts(vec![
        ("Issuer".into(), tenant.issuer.clone()),
        ("Sign-in page for users".into(), format!("/t/{slug}/account")),
    ]);
    let mut blocks = vec![facts, Block::Form(form)];
    if console.admin.operator && slug != crate::tenancy::SYSTEM_TENANT {
        blocks.push(Block::Form(
            Form::post("delete", format!("/console/t/{slug}"), console.csrf(), "Delete tenant")
                .field(Field::hidden("action", "delete"))
                .field(Field::checkbox(
                    "confirm",
                    "Yes, delete this tenant with all its users, apps and keys",
                    false,
                ))
                .danger(),
        ));
    }
    let sections = [Section::new("Settings", blocks), sign_out_section(console)];
    let nav = nav(Some(slug), &format!("/console/t/{slug}"));
    let title = format!("Tenant {slug}");
    let chrome = Chrome { title: &title, nav: &nav, notice, error };
    render(status, &chrome, &sections)
}

/// `POST /console/t/{tenant}`: the settings, through `admin::tenants::update`; with
/// `action=delete`, the tenant's deletion.
#[handler]
pub(super) async fn save_settings(
    req: &Request,
    Path(slug): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let (console, tenant, form) = match open_post(state, req, body, &slug).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if field(&form, "action") == "delete" {
        return delete_tenant(state, &console, &tenant, &form).await;
    }
    let registration = field(&form, "registration_open") == "on";
    let verification = field(&form, "email_verification").to_string();
    let second_factor = field(&form, "second_factor").to_string();
    let changes = TenantChanges {
        display_name: Some(field(&form, "display_name").to_string()),
        status: None,
        settings: |s: &mut crate::tenancy::TenantSettings| {
            s.registration_open = registration;
            s.email.verification = verification;
            s.second_factor.mode = second_factor;
        },
    };
    match admin::tenants::update(state, &console.admin, &slug, changes, chrono::Utc::now()).await {
        Ok(_) => panel::done(&format!("/console/t/{slug}"), "saved"),
        Err(e) => {
            let (status, message) = panel::problem(&e);
            settings_view(&console, &tenant, status, None, Some(&message))
        }
    }
}

/// Deletes the tenant (operators; confirmed, after a recent sign-in), through
/// `admin::tenants::delete`.
async fn delete_tenant(
    state: &AppState,
    console: &Console,
    tenant: &TenantContext,
    form: &Params,
) -> Response {
    let slug = &tenant.slug;
    if let Some(again) = super::step_up(console, &format!("/console/t/{slug}")) {
        return again;
    }
    let deleted = match confirmed(form) {
        Ok(()) => admin::tenants::delete(state, &console.admin, slug, chrono::Utc::now()).await,
        Err(e) => Err(e),
    };
    match deleted {
        Ok(()) => panel::done("/console/tenants", "deleted"),
        Err(e) => {
            let (status, message) = panel::problem(&e);
            settings_view(console, tenant, status, None, Some(&message))
        }
    }
}

/// `GET /console/t/{tenant}/keys`.
#[handler]
pub(super) async fn keys_page(
    req: &Request,
    Path(slug): Path<String>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let (console, tenant) = match open(state, req, &slug).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let notice = (panel::notice_key(req) == "rotated").then_some("A new signing key is in use.");
    keys_view(state, &console, &tenant, StatusCode::OK, notice, None).await
}

async fn keys_view(
    state: &AppState,
    console: &Console,
    tenant: &TenantContext,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Response {
    let keys = match admin::keys::list(state, tenant).await {
        Ok(k) => k,
        Err(e) => return failed(None, &e),
    };
    let rows = keys
        .iter()
        .map(|k| {
            vec![
                Cell::Text(k.kid.clone()),
                Cell::Text(k.algorithm.clone()),
                Cell::Text(k.purpose.clone()),
                Cell::Text(k.status.clone()),
                Cell::Text(panel::when(k.created_at)),
            ]
        })
        .collect();
    let slug = &tenant.slug;
    let rotate =
        Form::post("rotate", format!("/console/t/{slug}/keys"), console.csrf(), "Rotate signing keys")
            .field(Field::checkbox(
                "confirm",
                "Yes, start signing with new keys (old ones keep verifying until their tokens expire)",
                false,
            ))
            .danger();
    let sections = [
        Section::new(
            "Keys",
            vec![
                Block::Table {
                    caption: "Signing keys, newest first".into(),
                    headers: ["Key id", "Algorithm", "Signs", "Status", "Created"].map(String::from).to_vec(),
                    rows,
                },
                Block::Form(rotate),
            ],
        ),
        sign_out_section(console),
    ];
    let nav = nav(Some(slug), &format!("/console/t/{slug}/keys"));
    let chrome = Chrome { title: "Signing keys", nav: &nav, notice, error };
    render(status, &chrome, &sections)
}

/// `POST /console/t/{tenant}/keys`: rotation, once confirmed.
#[handler]
pub(super) async fn rotate_keys(
    req: &Request,
    Path(slug): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let (console, tenant, form) = match open_post(state, req, body, &slug).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(again) = super::step_up(&console, &format!("/console/t/{slug}/keys")) {
        return again;
    }
    let rotated = match confirmed(&form) {
        Ok(()) => {
            admin::keys::rotate(state, &console.admin, &tenant, None, chrono::Utc::now()).await.map(|_| ())
        }
        Err(e) => Err(e),
    };
    match rotated {
        Ok(()) => panel::done(&format!("/console/t/{slug}/keys"), "rotated"),
        Err(e) => {
            let (status, message) = panel::problem(&e);
            keys_view(state, &console, &tenant, status, None, Some(&message)).await
        }
    }
}

/// `GET /console/t/{tenant}/audit?type=...&cursor=...`: newest first, a page at a time.
#[handler]
pub(super) async fn audit_page(
    req: &Request,
    Path(slug): Path<String>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let (console, tenant) = match open(state, req, &slug).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let query: Params =
        crate::oidc::authorize::parse_params(req.uri().query().unwrap_or_default()).unwrap_or_default();
    let event_type = field(&query, "type").trim().to_string();
    let filter = AuditFilter {
        event_type: (!event_type.is_empty()).then(|| event_type.clone()),
        ..AuditFilter::default()
    };
    let cursor = query.get("cursor").filter(|c| !c.is_empty()).map(String::as_str);
    let page = match admin::audit::list(state, &tenant, filter, cursor, None).await {
        Ok(p) => p,
        Err(e) => return failed(None, &e),
    };
    let rows = page
        .items
        .iter()
        .map(|e| {
            let who = match (&e.actor_tenant, e.actor_id) {
                (Some(t), Some(id)) => format!("{id} ({t})"),
                _ => String::new(),
            };
            vec![
                Cell::Text(panel::when(e.created_at)),
                Cell::Text(e.event_type.clone()),
                Cell::Text(e.outcome.clone()),
                Cell::Text(e.target.clone().unwrap_or_default()),
                Cell::Text(who),
                Cell::Text(e.details.to_string()),
            ]
        })
        .collect();
    let search = Form::get("audit", format!("/console/t/{slug}/audit"), "Filter").field(
        Field::input("type", "Event type", "search", event_type.clone(), false)
            .hint("For example login.failed or user.created."),
    );
    let mut blocks = vec![
        Block::Form(search),
        Block::Table {
            caption: "Audit events, newest first".into(),
            headers: ["When", "Event", "Outcome", "Target", "Actor", "Details"].map(String::from).to_vec(),
            rows,
        },
    ];
    let mut links = Vec::new();
    if let Some(next) = &page.next_cursor {
        let href = format!("/console/t/{slug}/audit?type={}&cursor={next}", urlencoding(&event_type));
        links.push(Link::new(href, "Older events"));
    }
    let csv = format!("/console/t/{slug}/audit.csv?type={}", urlencoding(&event_type));
    links.push(Link::new(csv, "Download as CSV"));
    blocks.push(Block::Links(links));
    let sections = [Section::new("Events", blocks), sign_out_section(&console)];
    let nav = nav(Some(&slug), &format!("/console/t/{slug}/audit"));
    let chrome = Chrome { title: "Audit log", nav: &nav, ..Chrome::default() };
    render(StatusCode::OK, &chrome, &sections)
}

/// At most this many events go into one CSV export.
const CSV_MAX_ROWS: usize = 10_000;

/// `GET /console/t/{tenant}/audit.csv?type=...`: the filtered log as CSV, newest first (at most
/// [`CSV_MAX_ROWS`] events). Cells that a spreadsheet would run as a formula are prefixed with `'`.
#[handler]
pub(super) async fn audit_csv(
    req: &Request,
    Path(slug): Path<String>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let (_, tenant) = match open(state, req, &slug).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let query: Params =
        crate::oidc::authorize::parse_params(req.uri().query().unwrap_or_default()).unwrap_or_default();
    let event_type = field(&query, "type").trim().to_string();
    let mut out = String::from(
        "created_at,event_type,outcome,target,actor_id,actor_tenant,user_id,ip,user_agent,details\r\n",
    );
    let mut cursor: Option<String> = None;
    let mut rows = 0;
    loop {
        let filter = AuditFilter {
            event_type: (!event_type.is_empty()).then(|| event_type.clone()),
            ..AuditFilter::default()
        };
        let page = match admin::audit::list(state, &tenant, filter, cursor.as_deref(), Some(admin::MAX_PAGE))
            .await
        {
            Ok(p) => p,
            Err(e) => return failed(None, &e),
        };
        for e in &page.items {
            let opt = |v: Option<String>| v.unwrap_or_default();
            let cells = [
                e.created_at.to_rfc3339(),
                e.event_type.clone(),
                e.outcome.clone(),
                opt(e.target.clone()),
                opt(e.actor_id.map(|i| i.to_string())),
                opt(e.actor_tenant.clone()),
                opt(e.user_id.map(|i| i.to_string())),
                opt(e.ip.clone()),
                opt(e.user_agent.clone()),
                e.details.to_string(),
            ];
            out.push_str(&cells.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(","));
            out.push_str("\r\n");
            rows += 1;
        }
        cursor = page.next_cursor;
        if cursor.is_none() || rows >= CSV_MAX_ROWS {
            break;
        }
    }
    Response::builder()
        .content_type("text/csv; charset=utf-8")
        .header("Content-Disposition", format!("attachment; filename=\"audit-{slug}.csv\""))
        .header("Cache-Control", "no-store")
        .header("X-Content-Type-Options", "nosniff")
        .body(out)
}

/// A CSV cell (RFC 4180 quoting), defused for spreadsheets: a leading `=`, `+`, `-`, `@`, tab
/// or carriage return gets a `'` in front.
fn csv_cell(v: &str) -> String {
    let defused =
        if v.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{v}") } else { v.to_string() };
    format!("\"{}\"", defused.replace('"', "\"\""))
}

pub(super) fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `GET /console/t/{tenant}/outbox`: the newest outgoing mails (never their bodies).
#[handler]
pub(super) async fn outbox_page(
    req: &Request,
    Path(slug): Path<String>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let (console, tenant) = match open(state, req, &slug).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let rows = match admin::mail::outbox(state, &tenant, None).await {
        Ok(r) => r,
        Err(e) => return failed(None, &e),
    };
    let rows = rows
        .iter()
        .map(|m| {
            vec![
                Cell::Text(panel::when(m.created_at)),
                Cell::Text(m.kind.clone()),
                Cell::Text(m.recipient.clone()),
                Cell::Text(m.subject.clone()),
                Cell::Text(m.status.clone()),
                Cell::Text(m.attempts.to_string()),
            ]
        })
        .collect();
    let sections = [
        Section::new(
            "Mail",
            vec![Block::Table {
                caption: "Newest outgoing mail".into(),
                headers: ["Queued", "Kind", "To", "Subject", "Status", "Attempts"].map(String::from).to_vec(),
                rows,
            }],
        ),
        sign_out_section(&console),
    ];
    let nav = nav(Some(&slug), &format!("/console/t/{slug}/outbox"));
    let chrome = Chrome { title: "Email outbox", nav: &nav, ..Chrome::default() };
    render(StatusCode::OK, &chrome, &sections)
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(super::csv_cell(r#"say "hi""#), r#""say ""hi""""#);
        assert_eq!(super::csv_cell("=HYPERLINK(\"x\")"), r#""'=HYPERLINK(""x"")""#);
        assert_eq!(super::csv_cell("-1"), r#""'-1""#);
        assert_eq!(super::csv_cell("user.created"), r#""user.created""#);
    }
}
