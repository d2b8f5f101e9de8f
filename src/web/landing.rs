//! `GET /`: what this server is, for a person who opens it in a browser (a page) or a program
//! that asks for JSON (a small index of links). Outside the OpenAPI document, like `/docs`.
use std::sync::Arc;

use gatehouse_ui as ui;
use poem::{
    Request, Response, handler,
    http::{StatusCode, header},
    web::Data,
};
use serde_json::json;

use crate::{state::AppState, tenancy::DEFAULT_TENANT};

/// HTML when the client accepts it (browsers), else JSON.
#[handler]
pub fn landing_page(req: &Request, Data(state): Data<&Arc<AppState>>) -> Response {
    let discovery = format!("/t/{DEFAULT_TENANT}/.well-known/openid-configuration");
    let jwks = format!("/t/{DEFAULT_TENANT}/.well-known/jwks.json");
    let mut resp = if wants_html(req) {
        super::page(StatusCode::OK, None, |layout| {
            ui::render(&ui::Landing {
                layout,
                default_tenant: DEFAULT_TENANT,
                discovery: &discovery,
                jwks: &jwks,
            })
        })
    } else {
        let base = state.settings.public_url();
        let body = json!({
            "name": "Gatehouse",
            "description": "A multi-tenant identity service: users, sign-in, tokens and OpenID Connect.",
            "version": env!("CARGO_PKG_VERSION"),
            "docs": format!("{base}/docs"),
            "openapi": format!("{base}/openapi.json"),
            "console": format!("{base}/console"),
            "default_tenant": {
                "issuer": format!("{base}/t/{DEFAULT_TENANT}"),
                "openid_configuration": format!("{base}{discovery}"),
                "jwks_uri": format!("{base}{jwks}"),
                "account": format!("{base}/t/{DEFAULT_TENANT}/account"),
            },
        });
        Response::builder()
            .content_type("application/json")
            .header("X-Content-Type-Options", "nosniff")
            .body(body.to_string())
    };
    resp.headers_mut().insert(header::VARY, header::HeaderValue::from_static("accept"));
    resp
}

/// Whether `text/html` is acceptable and not ranked below `application/json`.
fn wants_html(req: &Request) -> bool {
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let quality = |wanted: &str| {
        accept
            .split(',')
            .filter_map(|item| {
                let mut parts = item.split(';').map(str::trim);
                let media = parts.next()?;
                (media.eq_ignore_ascii_case(wanted)).then(|| {
                    parts
                        .find_map(|p| p.strip_prefix("q="))
                        .and_then(|q| q.parse::<f32>().ok())
                        .unwrap_or(1.0)
                })
            })
            .fold(0.0_f32, f32::max)
    };
    let html = quality("text/html");
    html > 0.0 && html >= quality("application/json")
}
