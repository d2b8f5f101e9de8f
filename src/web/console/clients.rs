//! Client apps in the console: list, create (a confidential client's secret shown once),
//! redirect URIs, enable/disable and secret rotation, through `admin::clients`.
use std::sync::Arc;

use gatehouse_ui::{Block, Cell, Field, Form, Link, Section};
use poem::{
    Body, Request, Response, handler,
    http::StatusCode,
    web::{Data, Path},
};

use super::{Console, confirmed, failed, nav, open, open_post, render, sign_out_section};
use crate::{
    admin::{
        self,
        clients::{ClientChanges, ClientWithSecret, NewClientInput},
    },
    error::ApiError,
    oidc::authorize::Params,
    state::AppState,
    store::{clients::ClientFilter, entities::clients},
    tenancy::TenantContext,
    web::panel::{self, Chrome, field},
};

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

/// `GET /console/t/{tenant}/clients`.
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
    list_view(state, &console, &tenant, StatusCode::OK, None, &query).await
}

async fn list_view(
    state: &AppState,
    console: &Console,
    tenant: &TenantContext,
    status: StatusCode,
    error: Option<&str>,
    entered: &Params,
) -> Response {
    let slug = &tenant.slug;
    let cursor = entered.get("cursor").filter(|c| !c.is_empty()).map(String::as_str);
    let page = match admin::clients::list(state, tenant, ClientFilter::default(), cursor, None).await {
        Ok(p) => p,
        Err(e) => return failed(None, &e),
    };
    let rows = page
        .items
        .iter()
        .map(|c| {
            vec![
                Cell::Link(Link::new(format!("/console/t/{slug}/clients/{}", c.client_id), c.name.clone())),
                Cell::Text(c.client_id.clone()),
                Cell::Text(c.client_type.clone()),
                Cell::Text(if c.enabled { "enabled" } else { "disabled" }.into()),
            ]
        })
        .collect();
    let mut blocks = vec![Block::Table {
        caption: "Client apps".into(),
        headers: ["Name", "Client id", "Type", "Status"].map(String::from).to_vec(),
        rows,
    }];
    if let Some(next) = &page.next_cursor {
        blocks.push(Block::Links(vec![Link::new(
            format!("/console/t/{slug}/clients?cursor={next}"),
            "Next page",
        )]));
    }
    let kind = entered.get("client_type").map_or("confidential", String::as_str);
    let create =
        Form::post("new-client", format!("/console/t/{slug}/clients"), console.csrf(), "Create client app")
            .field(Field::input("name", "App name", "text", field(entered, "name"), true))
            .field(Field::select(
                "client_type",
                "Type",
                &[
                    ("confidential", "Confidential: a server that keeps a secret"),
                    ("public", "Public: a browser or mobile app"),
                ],
                kind,
            ))
            .field(
                Field::textarea("redirect_uris", "Redirect URIs", field(entered, "redirect_uris"))
                    .hint("One a line; where the app receives the sign-in result."),
            );
    let sections = [
        Section::new("Apps", blocks),
        Section::new("New client app", vec![Block::Form(create)]),
        sign_out_section(console),
    ];
    let nav = nav(Some(slug), &format!("/console/t/{slug}/clients"));
    let notice = (field(entered, "done") == "deleted").then_some("The app is deleted.");
    let chrome = Chrome { title: "Client apps", nav: &nav, notice, error };
    render(status, &chrome, &sections)
}

/// `POST /console/t/{tenant}/clients`: creates an app; a confidential one's secret is shown on
/// the answer, once.
#[handler]
pub(super) async fn create_client(
    req: &Request,
    Path(slug): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let (console, tenant, form) = match open_post(state, req, body, &slug).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let input = NewClientInput {
        name: field(&form, "name").to_string(),
        client_type: field(&form, "client_type").to_string(),
        redirect_uris: lines(field(&form, "redirect_uris")),
        post_logout_redirect_uris: Vec::new(),
        grant_types: Vec::new(),
        scopes: ["openid", "profile", "email"].map(String::from).to_vec(),
        access_token_ttl_secs: None,
        refresh_token_ttl_secs: None,
        enabled: true,
        pkce_required: true,
        require_second_factor: false,
    };
    match admin::clients::create(state, &console.admin, &tenant, input, chrono::Utc::now()).await {
        Ok(created) => client_view(
            &console,
            &tenant,
            &created.client,
            created.secret.as_deref(),
            StatusCode::CREATED,
            Some("The app is created."),
            None,
        ),
        Err(e) => {
            let (status, message) = panel::problem(&e);
            list_view(state, &console, &tenant, status, Some(&message), &form).await
        }
    }
}

/// `GET /console/t/{tenant}/clients/{client_id}`.
#[handler]
pub(super) async fn client_page(
    req: &Request,
    Path((slug, client_id)): Path<(String, String)>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let (console, tenant) = match open(state, req, &slug).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let notice = (panel::notice_key(req) == "saved").then_some("The app is saved.");
    match admin::clients::get(state, &tenant, &client_id).await {
        Ok(c) => client_view(&console, &tenant, &c, None, StatusCode::OK, notice, None),
        Err(e) => failed(None, &e),
    }
}

fn client_view(
    console: &Console,
    tenant: &TenantContext,
    client: &clients::Model,
    secret: Option<&str>,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Response {
    let slug = &tenant.slug;
    let here = format!("/console/t/{slug}/clients/{}", client.client_id);
    let mut blocks = vec![Block::Facts(vec![
        ("Client id".into(), client.client_id.clone()),
        ("Type".into(), client.client_type.clone()),
        ("Status".into(), if client.enabled { "enabled" } else { "disabled" }.into()),
        ("Grant types".into(), strings(&client.grant_types).join(", ")),
        ("Scopes".into(), strings(&client.scopes).join(", ")),
        ("Issuer".into(), tenant.issuer.clone()),
    ])];
    if let Some(secret) = secret {
        blocks.push(Block::Text(
            "The client secret, shown only now: copy it to the app's configuration.".into(),
        ));
        blocks.push(Block::Codes { label: "Client secret".into(), codes: vec![secret.to_string()] });
    }
    let uris = strings(&client.redirect_uris).join("\n");
    let save = Form::post("redirects", here.clone(), console.csrf(), "Save redirect URIs")
        .field(Field::hidden("action", "redirects"))
        .field(Field::textarea("redirect_uris", "Redirect URIs", uris).hint("One a line."));
    let toggle = if client.enabled {
        Form::post("disable", here.clone(), console.csrf(), "Disable app")
            .field(Field::hidden("action", "disable"))
            .field(Field::checkbox(
                "confirm",
                "Yes, end every session of this app and refuse new ones",
                false,
            ))
            .danger()
    } else {
        Form::post("enable", here.clone(), console.csrf(), "Enable app")
            .field(Field::hidden("action", "enable"))
    };
    let mut actions = vec![Block::Form(save), Block::Form(toggle)];
    actions.push(Block::Form(
        Form::post("delete", here.clone(), console.csrf(), "Delete app")
            .field(Field::hidden("action", "delete"))
            .field(Field::checkbox("confirm", "Yes, delete this app and end its sessions", false))
            .danger(),
    ));
    if client.client_type == admin::clients::CONFIDENTIAL {
        actions.push(Block::Form(
            Form::post("rotate", here, console.csrf(), "Rotate secret")
                .field(Field::hidden("action", "rotate"))
                .field(Field::checkbox("confirm", "Yes, the current secret stops working at once", false))
                .danger(),
        ));
    }
    let sections = [Section::new("App", blocks), Section::new("Change", actions), sign_out_section(console)];
    let nav = nav(Some(slug), &format!("/console/t/{slug}/clients"));
    let chrome = Chrome { title: &client.name, nav: &nav, notice, error };
    render(status, &chrome, &sections)
}

/// `POST /console/t/{tenant}/clients/{client_id}`: `action` is `redirects`, `enable`,
/// `disable`, `rotate` or `delete` (the last three confirmed, after a recent sign-in).
#[handler]
pub(super) async fn client_action(
    req: &Request,
    Path((slug, client_id)): Path<(String, String)>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let (console, tenant, form) = match open_post(state, req, body, &slug).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let dangerous = matches!(field(&form, "action"), "disable" | "rotate" | "delete");
    if let Some(again) =
        super::step_up(&console, &format!("/console/t/{slug}/clients/{client_id}")).filter(|_| dangerous)
    {
        return again;
    }
    let now = chrono::Utc::now();
    let admin = &console.admin;
    let update =
        |changes: ClientChanges| admin::clients::update(state, admin, &tenant, &client_id, changes, now);
    let result: Result<Option<ClientWithSecret>, ApiError> = match field(&form, "action") {
        "redirects" => {
            let changes = ClientChanges {
                redirect_uris: Some(lines(field(&form, "redirect_uris"))),
                ..ClientChanges::default()
            };
            update(changes).await.map(|_| None)
        }
        "enable" => {
            update(ClientChanges { enabled: Some(true), ..ClientChanges::default() }).await.map(|_| None)
        }
        "disable" => match confirmed(&form) {
            Ok(()) => {
                update(ClientChanges { enabled: Some(false), ..ClientChanges::default() }).await.map(|_| None)
            }
            Err(e) => Err(e),
        },
        "delete" => match confirmed(&form) {
            Ok(()) => match admin::clients::delete(state, admin, &tenant, &client_id, now).await {
                Ok(()) => return panel::done(&format!("/console/t/{slug}/clients"), "deleted"),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        },
        "rotate" => match confirmed(&form) {
            Ok(()) => admin::clients::rotate_secret(state, admin, &tenant, &client_id, now).await.map(Some),
            Err(e) => Err(e),
        },
        _ => Err(ApiError::bad_request("unknown_action", "no such action")),
    };
    match result {
        Ok(Some(rotated)) => client_view(
            &console,
            &tenant,
            &rotated.client,
            rotated.secret.as_deref(),
            StatusCode::OK,
            Some("A new secret is in use."),
            None,
        ),
        Ok(None) => panel::done(&format!("/console/t/{slug}/clients/{client_id}"), "saved"),
        Err(e) => {
            let (status, message) = panel::problem(&e);
            match admin::clients::get(state, &tenant, &client_id).await {
                Ok(c) => client_view(&console, &tenant, &c, None, status, None, Some(&message)),
                Err(e) => failed(None, &e),
            }
        }
    }
}
