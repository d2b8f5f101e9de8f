//! `/console`: the admin console. Operators sign in through the `system` tenant and see every
//! tenant; tenant admins sign in through their own tenant and see only it. Signed in as the
//! first-party client `gatehouse-console` of that tenant; every page and action builds the
//! same [`Admin`] as the admin API's bearer check and calls the same `admin::` functions with
//! the same `managed_tenant` check, audited with channel `console`.
mod clients;
mod providers;
mod tenant;
mod users;

use std::sync::Arc;

use gatehouse_ui::{Block, Cell, Field, Form, Link, Section};
use poem::{Body, EndpointExt as _, Request, Response, Route, handler, http::StatusCode, web::Data};

use super::panel::{self, Chrome, field};
use crate::{
    admin::{self, Admin},
    audit::Actor,
    auth::{self, ClientMeta, ROLE_ADMIN, ROLE_TENANT_ADMIN},
    client_ip::client_meta,
    error::ApiError,
    oidc::{
        authorize::Params,
        first_party::{self, Face, WebSession},
    },
    state::AppState,
    tenancy::{SYSTEM_TENANT, TenantContext, TenantSettings},
};

/// The console's routes, nested at `/console` by `app::routes`.
pub fn console_routes() -> impl poem::Endpoint {
    Route::new()
        .at("/", poem::get(start))
        .at("/sign-in", poem::get(sign_in))
        .at("/callback", poem::get(callback))
        .at("/sign-out", poem::post(sign_out))
        .at("/tenants", poem::get(tenants_page).post(create_tenant))
        .at("/t/:tenant", poem::get(tenant::settings_page).post(tenant::save_settings))
        .at("/t/:tenant/clients", poem::get(clients::list_page).post(clients::create_client))
        .at("/t/:tenant/clients/:client_id", poem::get(clients::client_page).post(clients::client_action))
        .at("/t/:tenant/users", poem::get(users::list_page).post(users::create_user))
        .at("/t/:tenant/users/:id", poem::get(users::user_page).post(users::user_action))
        .at("/t/:tenant/keys", poem::get(tenant::keys_page).post(tenant::rotate_keys))
        .at("/t/:tenant/providers", poem::get(providers::providers_page).post(providers::provider_action))
        .at("/t/:tenant/audit", poem::get(tenant::audit_page))
        .at("/t/:tenant/audit.csv", poem::get(tenant::audit_csv))
        .at("/t/:tenant/outbox", poem::get(tenant::outbox_page))
        .map_to_response()
}

/// A signed-in console user: the web session, the admin it acts as, and its home tenant.
pub(super) struct Console {
    pub session: WebSession,
    pub admin: Admin,
    pub home: Arc<TenantContext>,
    cookie: String,
}

impl Console {
    pub fn csrf(&self) -> &str {
        &self.session.csrf
    }
}

fn meta(req: &Request) -> ClientMeta {
    ClientMeta { channel: Some("console"), ..client_meta(req) }
}

/// The console session of this browser, or the page to show instead (signed out: the console's
/// start; signed in without an admin role: 403).
pub(super) async fn require(state: &AppState, req: &Request) -> Result<Console, Response> {
    let raw = panel::read_cookie(req, panel::console_cookie(state));
    let Some((slug, cookie)) = raw.split_once('.') else { return Err(super::redirect("/console")) };
    let Ok(Some(home)) = state.tenants.get_active(slug).await else {
        return Err(super::redirect("/console"));
    };
    let now = chrono::Utc::now();
    let session = match first_party::current(state, &home, Face::Console, cookie, now).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(super::redirect("/console")),
        Err(e) => return Err(super::failure(e)),
    };
    let user = match crate::account::profile::active_user(state, &home, session.user_id).await {
        Ok(Some(u)) => u,
        Ok(None) => return Err(super::redirect("/console")),
        Err(e) => return Err(failed(None, &e)),
    };
    let roles = auth::roles_of(&user);
    let admin = Admin {
        operator: home.slug == SYSTEM_TENANT && roles.iter().any(|r| r == ROLE_ADMIN),
        tenant_admin: roles.iter().any(|r| r == ROLE_TENANT_ADMIN),
        actor: Actor { id: user.id, tenant: home.slug.clone() },
        meta: meta(req),
    };
    if !admin.operator && !admin.tenant_admin {
        return Err(super::error_page(
            Some(&home),
            StatusCode::FORBIDDEN,
            "This account has no admin role, so it cannot use the console.",
        ));
    }
    Ok(Console { session, admin, home, cookie: cookie.to_string() })
}

/// [`require`] plus a checked form post: the session's CSRF token and our own origin.
pub(super) async fn require_post(
    state: &AppState,
    req: &Request,
    body: Body,
) -> Result<(Console, Params), Response> {
    let console = require(state, req).await?;
    let form = panel::form_of(req, body).await?;
    if let Some(refused) = panel::csrf_refused(state, None, req, &form, &console.session) {
        return Err(refused);
    }
    Ok((console, form))
}

/// [`require`] and the tenant at `slug` if this admin may manage it (the admin API's check:
/// 403 before 404).
pub(super) async fn open(
    state: &AppState,
    req: &Request,
    slug: &str,
) -> Result<(Console, Arc<TenantContext>), Response> {
    let console = require(state, req).await?;
    let tenant = admin::managed_tenant(state, &console.admin, slug).await.map_err(|e| failed(None, &e))?;
    Ok((console, tenant))
}

/// [`require_post`] and the managed tenant at `slug`.
pub(super) async fn open_post(
    state: &AppState,
    req: &Request,
    body: Body,
    slug: &str,
) -> Result<(Console, Arc<TenantContext>, Params), Response> {
    let (console, form) = require_post(state, req, body).await?;
    let tenant = admin::managed_tenant(state, &console.admin, slug).await.map_err(|e| failed(None, &e))?;
    Ok((console, tenant, form))
}

pub(super) fn failed(tenant: Option<&TenantContext>, e: &ApiError) -> Response {
    let (status, message) = panel::problem(e);
    super::error_page(tenant, status, &message)
}

/// The navigation: tenants, and the pages of the tenant in view.
pub(super) fn nav(slug: Option<&str>, current: &str) -> Vec<Link> {
    let mut links = vec![Link::new("/console/tenants", "Tenants")];
    if let Some(s) = slug {
        links.extend([
            Link::new(format!("/console/t/{s}"), format!("Settings of {s}")),
            Link::new(format!("/console/t/{s}/clients"), "Client apps"),
            Link::new(format!("/console/t/{s}/users"), "Users"),
            Link::new(format!("/console/t/{s}/providers"), "Login providers"),
            Link::new(format!("/console/t/{s}/keys"), "Signing keys"),
            Link::new(format!("/console/t/{s}/audit"), "Audit log"),
            Link::new(format!("/console/t/{s}/outbox"), "Email outbox"),
        ]);
    }
    for l in &mut links {
        l.current = l.href == current;
    }
    links
}

/// The sign-out form every console page ends with.
pub(super) fn sign_out_section(console: &Console) -> Section {
    let who = if console.admin.operator { "an operator" } else { "a tenant admin" };
    Section::new(
        "Your session",
        vec![
            Block::Text(format!("Signed in to {} as {who}.", console.home.slug)),
            Block::Form(Form::post("signout", "/console/sign-out", console.csrf(), "Sign out")),
        ],
    )
}

/// A console page in the console's (Gatehouse's) branding.
pub(super) fn render(status: StatusCode, chrome: &Chrome<'_>, sections: &[Section]) -> Response {
    panel::render(status, None, chrome, sections)
}

/// `GET /console`: the tenant list when signed in, else how to sign in.
#[handler]
async fn start(req: &Request, Data(state): Data<&Arc<AppState>>) -> Response {
    let raw = panel::read_cookie(req, panel::console_cookie(state));
    if !raw.is_empty() && require(state, req).await.is_ok() {
        return super::redirect("/console/tenants");
    }
    let sections = [
        Section::new(
            "Operators",
            vec![Block::Links(vec![Link::new(
                format!("/console/sign-in?tenant={SYSTEM_TENANT}"),
                "Sign in as an operator",
            )])],
        ),
        Section::new(
            "Tenant admins",
            vec![Block::Form(
                Form::get("tenant", "/console/sign-in", "Sign in to this tenant").field(
                    Field::input("tenant", "Your tenant", "text", "", true)
                        .hint("The tenant's short name, as in /t/{tenant}/."),
                ),
            )],
        ),
    ];
    let chrome = Chrome { title: "Admin console", ..Chrome::default() };
    render(StatusCode::OK, &chrome, &sections)
}

/// `GET /console/sign-in?tenant=...[&fresh=1&return=/console/...]`: off to that tenant's
/// sign-in; `fresh` asks for the password again (the step-up before a dangerous action), and
/// `return` is the console page to come back to.
#[handler]
async fn sign_in(req: &Request, Data(state): Data<&Arc<AppState>>) -> Response {
    let query =
        crate::oidc::authorize::parse_params(req.uri().query().unwrap_or_default()).unwrap_or_default();
    let slug = query.get("tenant").map_or(SYSTEM_TENANT, String::as_str).trim().to_ascii_lowercase();
    let tenant = match super::active_tenant(state, &slug).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let fresh = query.get("fresh").is_some_and(|f| f == "1");
    let back = query.get("return").map_or("/console/tenants", String::as_str);
    let back = if console_path(back) { back } else { "/console/tenants" };
    match first_party::begin(state, &tenant, Face::Console, back, fresh, chrono::Utc::now()).await {
        Ok(Some(started)) => panel::start_flow(state, "console", &started),
        Ok(None) => super::error_page(
            Some(&tenant),
            StatusCode::SERVICE_UNAVAILABLE,
            "The console is switched off for this tenant: its app (gatehouse-console) was changed or disabled.",
        ),
        Err(e) => super::failure(e),
    }
}

/// A path of this console (never another site, `//host` or `/\host`).
fn console_path(p: &str) -> bool {
    p.starts_with("/console/") && !p.contains("//") && !p.contains('\\') && p.len() <= 512
}

/// Dangerous actions need a sign-in within `first_party::RECENT_SECS`: otherwise the browser is
/// sent to sign in again (password and second factor, SSO or not) and back to `back`, where the
/// admin repeats the action.
pub(super) fn step_up(console: &Console, back: &str) -> Option<Response> {
    if console.session.recent(chrono::Utc::now()) {
        return None;
    }
    let back = tenant::urlencoding(back);
    Some(super::redirect(&format!("/console/sign-in?tenant={}&fresh=1&return={back}", console.home.slug)))
}

/// `GET /console/callback?code&state&iss`: the issuer names the tenant signed in to.
#[handler]
async fn callback(req: &Request, Data(state): Data<&Arc<AppState>>) -> Response {
    let query =
        crate::oidc::authorize::parse_params(req.uri().query().unwrap_or_default()).unwrap_or_default();
    let get = |k: &str| query.get(k).map(String::as_str).unwrap_or_default();
    let expired = || {
        super::error_page(
            None,
            StatusCode::BAD_REQUEST,
            "This sign-in has expired or was already used. Open the console again.",
        )
    };
    let Some(slug) = state.tenants.slug_of_issuer(get("iss")) else { return expired() };
    let tenant = match super::active_tenant(state, slug).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let now = chrono::Utc::now();
    let flow = panel::flow_cookie(state, "console");
    let kept = panel::read_cookie(req, &flow);
    match first_party::finish(state, &tenant, Face::Console, get("code"), get("state"), kept, meta(req), now)
        .await
    {
        Ok(Some(signed)) => {
            let back = if console_path(&signed.return_to) { &signed.return_to } else { "/console/tenants" };
            let mut resp = super::redirect(back);
            let value = format!("{}.{}", tenant.slug, signed.cookie);
            panel::set_cookie(state, &mut resp, panel::console_cookie(state), &value);
            panel::set_cookie(state, &mut resp, &flow, "");
            resp
        }
        Ok(None) => expired(),
        Err(e) => super::failure(e),
    }
}

/// `POST /console/sign-out`.
#[handler]
async fn sign_out(req: &Request, body: Body, Data(state): Data<&Arc<AppState>>) -> Response {
    let (console, _) = match require_post(state, req, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let now = chrono::Utc::now();
    if let Err(e) = first_party::sign_out(
        state,
        &console.home,
        &console.cookie,
        &console.session,
        &console.admin.meta,
        now,
    )
    .await
    {
        return super::failure(e);
    }
    let mut resp =
        super::page(StatusCode::OK, None, |layout| gatehouse_ui::render(&gatehouse_ui::SignedOut { layout }));
    panel::set_cookie(state, &mut resp, panel::console_cookie(state), "");
    resp
}

/// `GET /console/tenants`: the tenants this admin manages, and (operators) a form to add one.
#[handler]
async fn tenants_page(req: &Request, Data(state): Data<&Arc<AppState>>) -> Response {
    let console = match require(state, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let notice = match panel::notice_key(req).as_str() {
        "created" => Some("The tenant is created."),
        "deleted" => Some("The tenant is deleted."),
        _ => None,
    };
    tenants_view(state, &console, StatusCode::OK, notice, None, &Params::default()).await
}

async fn tenants_view(
    state: &AppState,
    console: &Console,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
    entered: &Params,
) -> Response {
    let query = panel_query(entered, "cursor");
    let page =
        match admin::tenants::list(state, &console.admin, Default::default(), query.as_deref(), None).await {
            Ok(p) => p,
            Err(e) => return failed(None, &e),
        };
    let rows = page
        .items
        .iter()
        .map(|t| {
            vec![
                Cell::Link(Link::new(format!("/console/t/{}", t.slug), t.slug.clone())),
                Cell::Text(t.display_name.clone()),
                Cell::Text(t.status.clone()),
                Cell::Text(panel::when(t.created_at)),
            ]
        })
        .collect();
    let mut blocks = vec![Block::Table {
        caption: "Tenants you manage".into(),
        headers: ["Tenant", "Name", "Status", "Created"].map(String::from).to_vec(),
        rows,
    }];
    if let Some(next) = &page.next_cursor {
        blocks.push(Block::Links(vec![Link::new(format!("/console/tenants?cursor={next}"), "Next page")]));
    }
    let mut sections = vec![Section::new("Tenants", blocks)];
    if console.admin.operator {
        let form = Form::post("new-tenant", "/console/tenants", console.csrf(), "Create tenant")
            .field(
                Field::input("slug", "Short name", "text", field(entered, "slug"), true)
                    .hint("Lower-case letters, digits and inner hyphens; part of every URL."),
            )
            .field(Field::input("display_name", "Display name", "text", field(entered, "display_name"), true))
            .field(Field::checkbox(
                "registration_open",
                "Anyone may create an account",
                field(entered, "registration_open") == "on",
            ));
        sections.push(Section::new("New tenant", vec![Block::Form(form)]));
    }
    sections.push(sign_out_section(console));
    let nav = nav(None, "/console/tenants");
    let chrome = Chrome { title: "Tenants", nav: &nav, notice, error };
    render(status, &chrome, &sections)
}

fn panel_query(params: &Params, name: &str) -> Option<String> {
    params.get(name).filter(|v| !v.is_empty()).cloned()
}

/// `POST /console/tenants`: creates a tenant (operators), with the deployment's defaults.
#[handler]
async fn create_tenant(req: &Request, body: Body, Data(state): Data<&Arc<AppState>>) -> Response {
    let (console, form) = match require_post(state, req, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut settings = TenantSettings::from_config(&state.settings);
    settings.registration_open = field(&form, "registration_open") == "on";
    let new = admin::tenants::NewTenant {
        slug: field(&form, "slug").trim().to_string(),
        display_name: field(&form, "display_name").to_string(),
        settings,
    };
    match admin::tenants::create(state, &console.admin, new, chrono::Utc::now()).await {
        Ok(t) => panel::done(&format!("/console/t/{}", t.slug), "created"),
        Err(e) => {
            let (status, message) = panel::problem(&e);
            tenants_view(state, &console, status, None, Some(&message), &form).await
        }
    }
}

/// Whether a dangerous action's confirmation box was ticked; the page says so when not.
pub(super) fn confirmed(form: &Params) -> Result<(), ApiError> {
    if field(form, "confirm") == "on" {
        Ok(())
    } else {
        Err(ApiError::bad_request("confirmation_required", "tick the confirmation box to do this"))
    }
}
