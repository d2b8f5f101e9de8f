//! Login providers in the console: the tenant's providers with the callback URL to register
//! upstream, enabled or disabled through `admin::providers::update`. Adding one (kinds,
//! presets, secrets) is the admin API's for now ([login providers](../../../docs/login-providers.md)).
use std::sync::Arc;

use gatehouse_ui::{Block, Cell, Field, Form, Section};
use poem::{
    Body, Request, Response, handler,
    http::StatusCode,
    web::{Data, Path},
};

use super::{Console, confirmed, failed, nav, open, open_post, render, sign_out_section};
use crate::{
    admin::{self, providers::ProviderChanges},
    error::ApiError,
    state::AppState,
    store::providers::ProviderFilter,
    tenancy::TenantContext,
    web::panel::{self, Chrome, field},
};

/// `GET /console/t/{tenant}/providers`.
#[handler]
pub(super) async fn providers_page(
    req: &Request,
    Path(slug): Path<String>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let (console, tenant) = match open(state, req, &slug).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let notice = (panel::notice_key(req) == "saved").then_some("The provider is saved.");
    providers_view(state, &console, &tenant, StatusCode::OK, notice, None).await
}

async fn providers_view(
    state: &AppState,
    console: &Console,
    tenant: &TenantContext,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Response {
    let slug = &tenant.slug;
    let page =
        match admin::providers::list(state, tenant, ProviderFilter::default(), None, Some(admin::MAX_PAGE))
            .await
        {
            Ok(p) => p,
            Err(e) => return failed(None, &e),
        };
    let here = format!("/console/t/{slug}/providers");
    let rows = page
        .items
        .iter()
        .map(|p| {
            let id = &p.row.provider_id;
            let toggle = if p.row.enabled {
                Form::post(&format!("disable-{id}"), here.clone(), console.csrf(), "Disable")
                    .field(Field::hidden("action", "disable"))
                    .field(Field::hidden("provider", id.clone()))
                    .field(Field::checkbox(
                        "confirm",
                        &format!("Yes, turn off sign-in with {}", p.row.display_name),
                        false,
                    ))
                    .named(format!("Disable {}", p.row.display_name))
                    .danger()
            } else {
                Form::post(&format!("enable-{id}"), here.clone(), console.csrf(), "Enable")
                    .field(Field::hidden("action", "enable"))
                    .field(Field::hidden("provider", id.clone()))
                    .named(format!("Enable {}", p.row.display_name))
            };
            vec![
                Cell::Text(p.row.display_name.clone()),
                Cell::Text(id.clone()),
                Cell::Text(p.row.kind.clone()),
                Cell::Text(if p.row.enabled { "enabled" } else { "disabled" }.into()),
                Cell::Text(p.callback_url.clone().unwrap_or_default()),
                Cell::Forms(vec![toggle]),
            ]
        })
        .collect();
    let sections = [
        Section::new(
            "Providers",
            vec![
                Block::Table {
                    caption: "Ways to sign in to this tenant".into(),
                    headers: ["Name", "Id", "Kind", "Status", "Callback URL to register", "Actions"]
                        .map(String::from)
                        .to_vec(),
                    rows,
                },
                Block::Text("Add providers (OpenID Connect, OAuth2, Google, GitHub, Microsoft, GitLab) with the admin API: see docs/login-providers.md.".into()),
            ],
        ),
        sign_out_section(console),
    ];
    let nav = nav(Some(slug), &here);
    let chrome = Chrome { title: "Login providers", nav: &nav, notice, error };
    render(status, &chrome, &sections)
}

/// `POST /console/t/{tenant}/providers`: `action` `enable` or `disable` (confirmed, after a
/// recent sign-in) of `provider`.
#[handler]
pub(super) async fn provider_action(
    req: &Request,
    Path(slug): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let (console, tenant, form) = match open_post(state, req, body, &slug).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let here = format!("/console/t/{slug}/providers");
    let enabled = match field(&form, "action") {
        "enable" => Ok(true),
        "disable" => match super::step_up(&console, &here) {
            Some(again) => return again,
            None => confirmed(&form).map(|()| false),
        },
        _ => Err(ApiError::bad_request("unknown_action", "no such action")),
    };
    let changes = |enabled| ProviderChanges { enabled: Some(enabled), ..ProviderChanges::default() };
    let result = match enabled {
        Ok(on) => {
            let provider = field(&form, "provider");
            admin::providers::update(
                state,
                &console.admin,
                &tenant,
                provider,
                changes(on),
                chrono::Utc::now(),
            )
            .await
            .map(|_| ())
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => panel::done(&here, "saved"),
        Err(e) => {
            let (status, message) = panel::problem(&e);
            providers_view(state, &console, &tenant, status, None, Some(&message)).await
        }
    }
}
