//! Browser-facing endpoints that answer with HTML or redirects, one file per flow: the
//! landing page at `/`, the authorization endpoint, the hosted sign-in form, external
//! providers, account recovery and RP-initiated logout. Plain poem handlers; not in the OpenAPI spec, which describes JSON. This file holds
//! only what the flows share: cookies, page responses, redirects and the pending request.
mod account_page;
mod assets;
mod authorize;
mod console;
mod email_change;
mod email_sign_in;
mod external;
mod landing;
mod origin;
mod panel;
mod passkey;
mod recovery;
mod second_factor;
mod sign_in;
mod sign_out;

use std::sync::Arc;

use gatehouse_ui::{self as ui, Brand, Layout};
use poem::{
    Body, Request, Response,
    http::{Method, StatusCode, header},
};

pub use self::{
    account_page::{account_action, account_callback, account_home},
    assets::{passkey_script, stylesheet},
    authorize::authorize_endpoint,
    console::*,
    email_change::{confirm_email_page, undo_email_change_page},
    email_sign_in::{email_sign_in_code, email_sign_in_link, email_sign_in_request},
    external::{external_callback, external_start},
    landing::landing_page,
    passkey::{
        enrol_endpoint as passkey_enrol_endpoint, options_endpoint as passkey_options_endpoint,
        sign_in_endpoint as passkey_sign_in_endpoint, verify_endpoint as passkey_verify_endpoint,
    },
    recovery::{
        forgot_form, forgot_submit, reset_form, reset_submit, verify_form, verify_resend, verify_submit,
    },
    second_factor::{continue_endpoint, enrol_endpoint, second_factor_endpoint},
    sign_in::{login_endpoint, login_form},
    sign_out::logout_endpoint,
};
use crate::{
    auth::{self, AuthError},
    crypto::random_token,
    oidc::{self, PendingAuthorization, authorize::Params, sso},
    state::AppState,
    tenancy::TenantContext,
};

fn cookie<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// How the pages present `tenant`: its branding, else its name and the default colour.
fn brand(tenant: Option<&TenantContext>) -> Brand<'_> {
    let Some(t) = tenant else { return Brand::default() };
    let b = &t.settings.branding;
    Brand {
        name: b.name.as_deref().unwrap_or(&t.display_name),
        logo_url: b.logo_url.as_deref(),
        colour: b.primary_color.as_deref().unwrap_or(ui::DEFAULT_COLOUR),
    }
}

/// Headers every HTML response carries. Styles come from the served stylesheet (`'self'`)
/// and the one `<style>` element carrying this response's nonce (the brand colour); scripts
/// only from our own `/assets` (the passkey module), which fetches its options same-origin.
fn html(status: StatusCode, body: String, nonce: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header(
            "Content-Security-Policy",
            format!(
                "default-src 'none'; style-src 'self' 'nonce-{nonce}'; script-src 'self'; \
                 connect-src 'self'; img-src https: data:; frame-ancestors 'none'; base-uri 'none'"
            ),
        )
        .header("X-Frame-Options", "DENY")
        .header("X-Content-Type-Options", "nosniff")
        // Nothing leaves for other origins; `no-referrer` would also make browsers send
        // `Origin: null` on our own form posts, which the cross-site check refuses.
        .header("Referrer-Policy", "same-origin")
        .header("Cache-Control", "no-store")
        .body(body)
}

/// A page from a template, in `tenant`'s branding, with a fresh CSP nonce.
fn page(
    status: StatusCode,
    tenant: Option<&TenantContext>,
    render: impl FnOnce(Layout<'_>) -> Result<String, ui::Error>,
) -> Response {
    let nonce = random_token("");
    match render(Layout { brand: brand(tenant), nonce: &nonce }) {
        Ok(body) => html(status, body, &nonce),
        Err(e) => {
            tracing::error!(error = %e, "page did not render");
            html(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side.".into(), &nonce)
        }
    }
}

/// A 403 page when a hosted form is posted from another site (see `origin`).
fn cross_site(state: &AppState, tenant: &TenantContext, req: &Request) -> Option<Response> {
    let why = origin::refused(req, &state.settings.public_url())?;
    tracing::warn!(tenant = %tenant.slug, header = why, "cross-site form post refused");
    Some(error_page(Some(tenant), StatusCode::FORBIDDEN, origin::MESSAGE))
}

fn error_page(tenant: Option<&TenantContext>, status: StatusCode, message: &str) -> Response {
    page(status, tenant, |layout| ui::render(&ui::ErrorPage { layout, message }))
}

fn redirect(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, location)
        .header(header::CACHE_CONTROL, "no-store")
        .finish()
}

/// Infrastructure failures become a page, never a redirect: the request may not be trusted.
fn failure(e: AuthError) -> Response {
    match e {
        AuthError::Store(crate::store::StoreError::Unavailable(_)) | AuthError::Kv(_) => {
            let mut r = error_page(
                None,
                StatusCode::SERVICE_UNAVAILABLE,
                "The sign-in service is busy. Try again in a moment.",
            );
            r.headers_mut().insert(header::RETRY_AFTER, poem::http::HeaderValue::from_static("2"));
            r
        }
        other => {
            tracing::error!(error = %other, "browser flow failure");
            error_page(None, StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side.")
        }
    }
}

async fn params_of(req: &Request, body: Body) -> Result<Params, Response> {
    let raw = if req.method() == Method::POST {
        String::from_utf8(body.into_vec().await.unwrap_or_default()).unwrap_or_default()
    } else {
        req.uri().query().unwrap_or_default().to_string()
    };
    oidc::authorize::parse_params(&raw).map_err(|name| {
        error_page(None, StatusCode::BAD_REQUEST, &format!("The parameter {name} appears more than once."))
    })
}

async fn active_tenant(state: &AppState, slug: &str) -> Result<Arc<TenantContext>, Response> {
    match state.tenants.get_active(slug).await {
        Ok(Some(t)) => Ok(t),
        Ok(_) => Err(error_page(None, StatusCode::NOT_FOUND, "This sign-in page does not exist.")),
        Err(e) => Err(failure(AuthError::from(e))),
    }
}

/// The remember-device cookies of a request (`mfa::remember`).
fn remembered(req: &Request) -> Vec<String> {
    crate::mfa::remember::from_cookie_headers(
        req.headers().get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()),
    )
}

/// After a first factor by any strategy (which achieved `amr`): the second step when the
/// tenant's policy or the client's `acr_values` call for one, else [`finish_authorization`].
/// A browser the user had remembered (`remembered`: its cookies) skips the step unless the
/// client asked for a second factor; the sign-in then claims only `amr`.
#[allow(clippy::too_many_arguments)]
async fn continue_authorization(
    state: &AppState,
    tenant: &TenantContext,
    request_id: &str,
    pending: &PendingAuthorization,
    user: &crate::store::entities::users::Model,
    amr: Vec<String>,
    remembered: &[String],
    meta: auth::ClientMeta,
    now: chrono::DateTime<chrono::Utc>,
) -> Response {
    let wants_mfa = pending.acr_level == Some(2);
    let step = match crate::mfa::next_step(state, tenant, user.id, auth::is_admin(user), wants_mfa).await {
        Ok(crate::mfa::Step::Verify(methods)) if !wants_mfa => {
            match crate::mfa::remember::recognised(state, tenant, user.id, remembered, &meta, now).await {
                Ok(true) => Ok(crate::mfa::Step::Done),
                Ok(false) => Ok(crate::mfa::Step::Verify(methods)),
                Err(e) => Err(e),
            }
        }
        other => other,
    };
    match step {
        Ok(crate::mfa::Step::Done) => {
            finish_authorization(state, tenant, request_id, pending, user.id, amr, meta, now).await
        }
        Ok(step) => {
            second_factor::start(state, tenant, request_id, pending, user, step, amr, &meta, now).await
        }
        Err(e) => failure(e.into()),
    }
}

/// Once the sign-in is complete: opens the SSO session (remembering `amr`), consumes the
/// pending request and returns to the client app with a code.
#[allow(clippy::too_many_arguments)]
async fn finish_authorization(
    state: &AppState,
    tenant: &TenantContext,
    request_id: &str,
    pending: &PendingAuthorization,
    user_id: uuid::Uuid,
    amr: Vec<String>,
    meta: auth::ClientMeta,
    now: chrono::DateTime<chrono::Utc>,
) -> Response {
    let pending_key = oidc::authorize::pending_key(tenant, request_id);
    let (cookie_value, session) = match sso::start(state, tenant, user_id, amr, meta, now).await {
        Ok(v) => v,
        Err(e) => return failure(e),
    };
    if let Err(e) = state.kv.delete(&pending_key).await {
        return failure(e.into());
    }
    let location = match oidc::authorize::issue_code(state, tenant, pending, &session).await {
        Ok(l) => l,
        Err(e) => return failure(e),
    };
    let mut resp = redirect(&location);
    let name = sso::cookie_name(&state.settings, &tenant.slug);
    let max_age = i64::try_from(state.settings.oidc.sso_absolute_secs).unwrap_or(0);
    if let Ok(v) =
        poem::http::HeaderValue::from_str(&sso::set_cookie(&state.settings, &name, &cookie_value, max_age))
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

async fn load_pending(
    state: &AppState,
    tenant: &TenantContext,
    request_id: &str,
) -> Result<Option<PendingAuthorization>, AuthError> {
    if request_id.is_empty() || request_id.len() > 256 {
        return Ok(None);
    }
    let raw = state.kv.get(&oidc::authorize::pending_key(tenant, request_id)).await?;
    Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
}

const EXPIRED: &str = "This sign-in form has expired. Go back to the application and start again.";
