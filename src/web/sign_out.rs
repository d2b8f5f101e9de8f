//! RP-initiated logout: ends the SSO session and its grants, after a confirmation when the
//! request carries no valid ID token hint.
use std::sync::Arc;

use gatehouse_ui as ui;
use poem::{
    Body, Request, Response, handler,
    http::{Method, StatusCode, header},
    web::{Data, Path},
};

use super::{active_tenant, cookie, error_page, failure, page, params_of, redirect};
use crate::{oidc::authorize, oidc::sso, state::AppState};

/// `GET|POST /t/{tenant}/oauth2/logout`: RP-initiated logout. With a valid `id_token_hint`
/// (or a confirmed form post) it ends the SSO session and every grant opened from it, then
/// returns to a registered `post_logout_redirect_uri`.
#[handler]
pub async fn logout_endpoint(
    req: &Request,
    Path(slug): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let tenant = match active_tenant(state, &slug).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    if req.method() == Method::POST
        && let Some(refused) = super::cross_site(state, &tenant, req)
    {
        return refused;
    }
    let params = match params_of(req, body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let now = chrono::Utc::now();
    let hint = params.get("id_token_hint").and_then(|h| {
        let kid = crate::tokens::keys::kid_of(h)?;
        tenant.id_token_verifier(&kid)?.verify_hint(h).ok()
    });
    if params.contains_key("id_token_hint") && hint.is_none() {
        return error_page(Some(&tenant), StatusCode::BAD_REQUEST, "The id_token_hint is not valid.");
    }
    let client_id = hint
        .as_ref()
        .and_then(|h| h.get("aud").and_then(|a| a.as_str()).map(str::to_string))
        .or_else(|| params.get("client_id").cloned());
    let mut target = None;
    if let Some(uri) = params.get("post_logout_redirect_uri") {
        let client = match &client_id {
            Some(id) => match crate::store::clients::find(&state.db, tenant.id, id).await {
                Ok(c) => c,
                Err(e) => return failure(e.into()),
            },
            None => None,
        };
        let registered = client
            .map(|c| serde_json::from_value::<Vec<String>>(c.post_logout_redirect_uris).unwrap_or_default())
            .unwrap_or_default();
        if !registered.iter().any(|r| r == uri) {
            return error_page(
                Some(&tenant),
                StatusCode::BAD_REQUEST,
                "The post_logout_redirect_uri is not registered for this application.",
            );
        }
        let state_param = params.get("state").map(String::as_str);
        let mut q = Vec::new();
        if let Some(s) = state_param {
            q.push(("state", s));
        }
        target = Some(if q.is_empty() { uri.clone() } else { authorize::with_query(uri, &q) });
    }
    // Without a valid hint, a cross-site GET could sign the user out: ask to confirm.
    let confirmed =
        hint.is_some() || (req.method() == Method::POST && params.get("confirm").is_some_and(|c| c == "yes"));
    if !confirmed {
        let keep: Vec<(&str, &str)> = ["post_logout_redirect_uri", "state", "client_id"]
            .into_iter()
            .filter_map(|k| params.get(k).map(|v| (k, v.as_str())))
            .collect();
        return page(StatusCode::OK, Some(&tenant), |layout| {
            ui::render(&ui::ConfirmSignOut { layout, slug: &slug, keep: &keep })
        });
    }
    let cookie_name = sso::cookie_name(&state.settings, &slug);
    let mut ended = Vec::new();
    if let Some(value) = cookie(req, &cookie_name) {
        match sso::current(state, &tenant, value, now).await {
            Ok(Some(s)) => ended.push(s.session_id),
            Ok(None) => {}
            Err(e) => return failure(e),
        }
        if let Err(e) = sso::forget(state, &tenant, value).await {
            return failure(e);
        }
    }
    if let Some(sid) = hint
        .as_ref()
        .and_then(|h| h.get("sid"))
        .and_then(|s| s.as_str())
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
    {
        ended.push(sid);
    }
    let meta = crate::client_ip::client_meta(req);
    for sid in ended {
        if let Err(e) = sso::sign_out(state, &tenant, sid, client_id.as_deref(), &meta, now).await {
            return failure(e);
        }
    }
    let mut resp = match target {
        Some(location) => redirect(&location),
        None => page(StatusCode::OK, Some(&tenant), |layout| ui::render(&ui::SignedOut { layout })),
    };
    if let Ok(v) = poem::http::HeaderValue::from_str(&sso::set_cookie(&state.settings, &cookie_name, "", 0)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}
