//! The hosted sign-in form: shown for a pending authorization request, posted back with the
//! username and password, shown again with an error when they do not match.
use std::sync::Arc;

use gatehouse_ui::{self as ui, ProviderButton};
use poem::{
    Body, Request, Response, handler,
    http::{StatusCode, header},
    web::{Data, Path},
};

use super::{
    EXPIRED, active_tenant, continue_authorization, cookie, error_page, failure, load_pending, page,
    params_of,
};
use crate::{
    auth::AuthError,
    client_ip::client_meta,
    oidc::{PendingAuthorization, authorize, sso},
    state::AppState,
    tenancy::TenantContext,
};

fn csrf_cookie_name(state: &AppState, tenant: &str) -> String {
    if state.settings.oidc.insecure_dev_cookies {
        format!("gh_csrf_{tenant}")
    } else {
        format!("__Host-gh_csrf_{tenant}")
    }
}

/// Whether a hosted form's CSRF token matches the pending request and the browser's cookie.
pub(super) fn csrf_ok(
    state: &AppState,
    req: &Request,
    slug: &str,
    form: &str,
    pending: &PendingAuthorization,
) -> bool {
    let from_cookie = cookie(req, &csrf_cookie_name(state, slug)).unwrap_or_default();
    let same = |a: &str, b: &str| {
        aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
    };
    same(form, &pending.csrf) && same(from_cookie, &pending.csrf)
}

pub(super) fn login_page(
    state: &AppState,
    tenant: &TenantContext,
    request_id: &str,
    pending: &PendingAuthorization,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let slug = tenant.slug.as_str();
    let providers: Vec<ProviderButton> = tenant
        .strategies
        .external()
        .map(|s| ProviderButton {
            href: format!("/t/{slug}/auth/{}/start?request={request_id}", s.info().provider_id),
            label: s.info().display_name.clone(),
        })
        .collect();
    let mut resp = page(status, Some(tenant), |layout| {
        let csrf = &pending.csrf;
        let email_sign_in = tenant.strategies.email_sign_in().is_some();
        let passkey = crate::mfa::passkey::offered(state, tenant);
        ui::render(&ui::SignIn {
            layout,
            slug,
            request_id,
            csrf,
            username,
            error,
            providers: &providers,
            email_sign_in,
            passkey,
        })
    });
    let name = csrf_cookie_name(state, &tenant.slug);
    let max_age = i64::try_from(state.settings.oidc.authorization_ttl_secs).unwrap_or(900);
    let value = sso::set_cookie(&state.settings, &name, &pending.csrf, max_age)
        .replace("SameSite=Lax", "SameSite=Strict");
    if let Ok(v) = poem::http::HeaderValue::from_str(&value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// `POST /t/{tenant}/login`: the hosted form. Checks the CSRF token (form, cookie and the
/// pending request must agree), the password, then opens the SSO session and returns to the
/// client with a code.
#[handler]
pub async fn login_endpoint(
    req: &Request,
    Path(slug): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let tenant = match active_tenant(state, &slug).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    if let Some(refused) = super::cross_site(state, &tenant, req) {
        return refused;
    }
    let form = match params_of(req, body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let request_id = field("request");
    let pending = match load_pending(state, &tenant, request_id).await {
        Ok(Some(p)) => p,
        Ok(None) => return error_page(Some(&tenant), StatusCode::BAD_REQUEST, EXPIRED),
        Err(e) => return failure(e),
    };
    if !csrf_ok(state, req, &slug, field("csrf"), &pending) {
        return error_page(Some(&tenant), StatusCode::FORBIDDEN, EXPIRED);
    }
    let now = chrono::Utc::now();
    let meta = client_meta(req);
    let devices = crate::auth::device::from_cookie_headers(
        req.headers().get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()),
    );
    let signed_in = crate::auth::password_sign_in(
        state,
        &tenant,
        field("username"),
        field("password").to_string(),
        &devices,
        &meta,
        "hosted_form",
        now,
    )
    .await;
    let user = match signed_in {
        Ok(u) => u,
        Err(AuthError::Forbidden(_)) => {
            return login_page(
                state,
                &tenant,
                request_id,
                &pending,
                field("username"),
                Some("Signing in with a password is turned off here. Use one of the options below."),
                StatusCode::FORBIDDEN,
            );
        }
        Err(AuthError::InvalidCredentials) => {
            return login_page(
                state,
                &tenant,
                request_id,
                &pending,
                field("username"),
                Some("Invalid username or password."),
                StatusCode::UNAUTHORIZED,
            );
        }
        Err(AuthError::EmailNotVerified { user_id }) => {
            return super::recovery::held_sign_in(state, req, &tenant, request_id, user_id).await;
        }
        Err(AuthError::Locked { retry_after }) => {
            let message =
                format!("Too many failed attempts. Try again in {} minute(s).", retry_after.div_ceil(60));
            let mut resp = login_page(
                state,
                &tenant,
                request_id,
                &pending,
                field("username"),
                Some(&message),
                StatusCode::TOO_MANY_REQUESTS,
            );
            if let Ok(v) = poem::http::HeaderValue::from_str(&retry_after.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return resp;
        }
        Err(e) => return failure(e),
    };
    let amr = vec![crate::domain::authn::AMR_PWD.to_string()];
    let mut resp = continue_authorization(
        state,
        &tenant,
        request_id,
        &pending,
        &user.user,
        amr,
        &super::remembered(req),
        meta,
        now,
    )
    .await;
    if let Ok(v) = poem::http::HeaderValue::from_str(&user.device_cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// `GET /t/{tenant}/login?request=...`: the login form of a pending request again (the way
/// back after a failed external sign-in).
#[handler]
pub async fn login_form(
    req: &Request,
    Path(slug): Path<String>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let tenant = match active_tenant(state, &slug).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let params = authorize::parse_params(req.uri().query().unwrap_or_default()).unwrap_or_default();
    let request_id = params.get("request").map(String::as_str).unwrap_or_default();
    match load_pending(state, &tenant, request_id).await {
        Ok(Some(pending)) => {
            let hint = pending.login_hint.clone().unwrap_or_default();
            login_page(state, &tenant, request_id, &pending, &hint, None, StatusCode::OK)
        }
        Ok(None) => error_page(Some(&tenant), StatusCode::BAD_REQUEST, EXPIRED),
        Err(e) => failure(e),
    }
}
