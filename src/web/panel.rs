//! What the account page and the console share: their session cookies, the CSRF check on
//! every post (the hosted forms' check: the browser's origin headers, then the session's token
//! compared in constant time), form bodies, and rendering a [`ui::Panel`] or an admin error.
use gatehouse_ui::{self as ui, Link, Section};
use poem::{
    Body, Request, Response,
    http::{HeaderValue, StatusCode, header},
};

use super::{cookie, page};
use crate::{
    error::ApiError, oidc::authorize::Params, oidc::first_party::WebSession, oidc::sso, state::AppState,
    tenancy::TenantContext,
};

/// The account page's cookie, one per tenant.
pub(super) fn account_cookie(state: &AppState, slug: &str) -> String {
    if state.settings.oidc.insecure_dev_cookies {
        format!("gh_acct_{slug}")
    } else {
        format!("__Host-gh_acct_{slug}")
    }
}

/// The console's cookie; its value is `{home tenant}.{token}`.
pub(super) fn console_cookie(state: &AppState) -> &'static str {
    if state.settings.oidc.insecure_dev_cookies { "gh_console" } else { "__Host-gh_console" }
}

/// The short cookie holding the `state` of a sign-in in flight (see `first_party::Started`).
pub(super) fn flow_cookie(state: &AppState, face: &str) -> String {
    if state.settings.oidc.insecure_dev_cookies {
        format!("gh_flow_{face}")
    } else {
        format!("__Host-gh_flow_{face}")
    }
}

/// A redirect to the tenant's sign-in, with the flow cookie set.
pub(super) fn start_flow(
    state: &AppState,
    face: &str,
    started: &crate::oidc::first_party::Started,
) -> Response {
    let mut resp = super::redirect(&started.location);
    let max_age = i64::try_from(state.settings.oidc.authorization_ttl_secs).unwrap_or(900);
    let value = sso::set_cookie(&state.settings, &flow_cookie(state, face), &started.state, max_age);
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

pub(super) fn read_cookie<'a>(req: &'a Request, name: &str) -> &'a str {
    cookie(req, name).unwrap_or_default()
}

/// Sets (or with an empty value, clears) a session cookie: HttpOnly, SameSite=Lax, Secure (and
/// `__Host-`) unless development cookies are on; it lives as long as an SSO session may.
pub(super) fn set_cookie(state: &AppState, resp: &mut Response, name: &str, value: &str) {
    let max_age =
        if value.is_empty() { 0 } else { i64::try_from(state.settings.oidc.sso_absolute_secs).unwrap_or(0) };
    if let Ok(v) = HeaderValue::from_str(&sso::set_cookie(&state.settings, name, value, max_age)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// A posted form, refusing repeated fields like the authorization endpoint does.
pub(super) async fn form_of(req: &Request, body: Body) -> Result<Params, Response> {
    super::params_of(req, body).await
}

pub(super) fn field<'a>(form: &'a Params, name: &str) -> &'a str {
    form.get(name).map(String::as_str).unwrap_or_default()
}

/// A 403 page unless the post comes from our own pages and carries the session's token.
pub(super) fn csrf_refused(
    state: &AppState,
    tenant: Option<&TenantContext>,
    req: &Request,
    form: &Params,
    session: &WebSession,
) -> Option<Response> {
    if let Some(why) = super::origin::refused(req, &state.settings.public_url()) {
        tracing::warn!(face = session.face.as_str(), header = why, "cross-site form post refused");
        return Some(super::error_page(tenant, StatusCode::FORBIDDEN, super::origin::MESSAGE));
    }
    let sent = field(form, "csrf");
    let same =
        aws_lc_rs::constant_time::verify_slices_are_equal(sent.as_bytes(), session.csrf.as_bytes()).is_ok();
    if sent.is_empty() || !same {
        tracing::warn!(face = session.face.as_str(), "form post without the session's CSRF token refused");
        return Some(super::error_page(
            tenant,
            StatusCode::FORBIDDEN,
            "This form has expired. Reload the page and try again.",
        ));
    }
    None
}

/// What the page shows besides its sections.
#[derive(Default)]
pub(super) struct Chrome<'a> {
    pub title: &'a str,
    pub nav: &'a [Link],
    pub notice: Option<&'a str>,
    pub error: Option<&'a str>,
}

pub(super) fn render(
    status: StatusCode,
    tenant: Option<&TenantContext>,
    chrome: &Chrome<'_>,
    sections: &[Section],
) -> Response {
    page(status, tenant, |layout| {
        ui::render(&ui::Panel {
            layout,
            title: chrome.title,
            nav: chrome.nav,
            notice: chrome.notice,
            error: chrome.error,
            sections,
        })
    })
}

/// The status and message of an admin or account failure, for the page that shows it.
pub(super) fn problem(e: &ApiError) -> (StatusCode, String) {
    let p = match e {
        ApiError::BadRequest(p)
        | ApiError::Unauthorized(p, _)
        | ApiError::Forbidden(p)
        | ApiError::NotFound(p)
        | ApiError::Conflict(p)
        | ApiError::PayloadTooLarge(p)
        | ApiError::UnsupportedMediaType(p)
        | ApiError::Unprocessable(p)
        | ApiError::TooManyRequests(p, ..)
        | ApiError::Unavailable(p, _)
        | ApiError::Internal(p) => &p.0,
    };
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut message = p.detail.clone();
    if let Some(first) = message.get(..1) {
        message = format!("{}{}", first.to_uppercase(), &message[1..]);
    }
    if !message.ends_with('.') {
        message.push('.');
    }
    (status, message)
}

/// A 303 back to `to` with a notice key the page turns into a message.
pub(super) fn done(to: &str, notice: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    super::redirect(&format!("{to}{sep}done={notice}"))
}

/// The `done` key of the query, if any.
pub(super) fn notice_key(req: &Request) -> String {
    crate::oidc::authorize::parse_params(req.uri().query().unwrap_or_default())
        .ok()
        .and_then(|p| p.get("done").cloned())
        .unwrap_or_default()
}

/// Short, readable time for tables (UTC).
pub(super) fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}
