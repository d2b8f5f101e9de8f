//! Signing in by a mailed link or code (`account::email_sign_in`) in the hosted flow: the
//! sign-in page's "Email me a sign-in link" form, the "check your inbox" page with its code
//! form, and the page the link opens (a button; only its POST signs in). A cookie holding a
//! random nonce binds the mail to the browser that asked; its hash is stored with the token.
use std::sync::Arc;

use gatehouse_ui::{self as ui, ConfirmAction, ConfirmKind, EmailSent, NoticeKind};
use poem::{
    Body, Request, Response, handler,
    http::{HeaderValue, StatusCode, header},
    web::{Data, Path},
};

use super::{
    EXPIRED, active_tenant, continue_authorization, cookie, email_change::notice, error_page, failure,
    load_pending, page, params_of, sign_in::csrf_ok,
};
use crate::{
    account::email_sign_in::{self as service, AMR_EMAIL, LinkState, Outcome, Requested},
    auth::AuthError,
    client_ip::client_meta,
    crypto::random_token,
    oidc::{PendingAuthorization, authorize::Params, sso},
    state::AppState,
    tenancy::TenantContext,
};

fn binding_cookie_name(state: &AppState, tenant: &str) -> String {
    if state.settings.oidc.insecure_dev_cookies {
        format!("gh_esi_{tenant}")
    } else {
        format!("__Host-gh_esi_{tenant}")
    }
}

/// `SameSite=Lax`: sent when the link is opened from a mail (a top-level navigation) and with
/// our own form posts, never with another site's post.
fn with_binding(
    state: &AppState,
    tenant: &TenantContext,
    mut resp: Response,
    value: &str,
    max_age: i64,
) -> Response {
    let name = binding_cookie_name(state, &tenant.slug);
    if let Ok(v) = HeaderValue::from_str(&sso::set_cookie(&state.settings, &name, value, max_age)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

#[allow(clippy::too_many_arguments)]
fn sent_page(
    tenant: &TenantContext,
    request_id: &str,
    pending: &PendingAuthorization,
    email: &str,
    valid_minutes: u64,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let slug = tenant.slug.as_str();
    page(status, Some(tenant), |layout| {
        let csrf = &pending.csrf;
        ui::render(&EmailSent { layout, slug, request_id, csrf, email, valid_minutes, error })
    })
}

/// The tenant, fields and pending request of a hosted form post, CSRF-checked; or the page
/// to show.
async fn checked_form(
    state: &AppState,
    req: &Request,
    slug: &str,
    body: Body,
) -> Result<(Arc<TenantContext>, Params, PendingAuthorization), Response> {
    let tenant = active_tenant(state, slug).await?;
    if let Some(refused) = super::cross_site(state, &tenant, req) {
        return Err(refused);
    }
    let form = params_of(req, body).await?;
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let pending = match load_pending(state, &tenant, field("request")).await {
        Ok(Some(p)) => p,
        Ok(None) => return Err(error_page(Some(&tenant), StatusCode::BAD_REQUEST, EXPIRED)),
        Err(e) => return Err(failure(e)),
    };
    if !csrf_ok(state, req, slug, field("csrf"), &pending) {
        return Err(error_page(Some(&tenant), StatusCode::FORBIDDEN, EXPIRED));
    }
    Ok((tenant, form, pending))
}

/// `POST /t/{tenant}/login/email`: mails a sign-in link and code if the address is an
/// account's, and answers alike either way.
#[handler]
pub async fn email_sign_in_request(
    req: &Request,
    Path(slug): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let (tenant, form, pending) = match checked_form(state, req, &slug, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let (request_id, email) = (field("request"), field("email").trim());
    let nonce = random_token("");
    let meta = client_meta(req);
    let requested =
        service::request(state, &tenant, email, request_id, &nonce, &meta, chrono::Utc::now()).await;
    let again = |message: &str, status: StatusCode| {
        super::sign_in::login_page(state, &tenant, request_id, &pending, "", Some(message), status)
    };
    match requested {
        Ok(Requested::Sent { valid_minutes }) => {
            let resp = sent_page(&tenant, request_id, &pending, email, valid_minutes, None, StatusCode::OK);
            let max_age = i64::try_from(valid_minutes * 60).unwrap_or(900);
            with_binding(state, &tenant, resp, &nonce, max_age)
        }
        Ok(Requested::Throttled) => again(
            "Too many sign-in emails were sent to this address. Try again in an hour, or sign in another way.",
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Err(AuthError::Validation(_)) => {
            again("Enter an email address like name@example.com.", StatusCode::BAD_REQUEST)
        }
        Err(AuthError::Forbidden(_)) => {
            error_page(Some(&tenant), StatusCode::NOT_FOUND, "Signing in by email is not offered here.")
        }
        Err(e) => failure(e),
    }
}

/// `POST /t/{tenant}/login/email/code`: the code typed on the "check your inbox" page.
#[handler]
pub async fn email_sign_in_code(
    req: &Request,
    Path(slug): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let (tenant, form, pending) = match checked_form(state, req, &slug, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let (request_id, email) = (field("request"), field("email"));
    let nonce = cookie(req, &binding_cookie_name(state, &slug));
    let now = chrono::Utc::now();
    let meta = client_meta(req);
    let outcome = service::sign_in_by_code(state, &tenant, email, field("code"), nonce, &meta, now).await;
    match outcome {
        Ok(Outcome::SignedIn { user, .. }) => {
            let amr = vec![AMR_EMAIL.to_string()];
            let resp = continue_authorization(
                state,
                &tenant,
                request_id,
                &pending,
                &user,
                amr,
                &super::remembered(req),
                meta,
                now,
            )
            .await;
            with_binding(state, &tenant, resp, "", 0)
        }
        Ok(Outcome::Invalid) => {
            let valid = tenant.strategies.email_sign_in().map_or(15, |c| c.valid_minutes);
            let message =
                "That code is wrong, used or expired. Check the newest email, or ask for a new one.";
            sent_page(&tenant, request_id, &pending, email, valid, Some(message), StatusCode::UNAUTHORIZED)
        }
        Ok(Outcome::OtherBrowser) => notice(&tenant, StatusCode::FORBIDDEN, NoticeKind::OtherBrowser),
        Err(e) => failure(e),
    }
}

/// `GET|POST /t/{tenant}/account/email-sign-in?token=...`: the page a sign-in link opens (GET:
/// a button, nothing spent) and its post (spends the link and continues the pending request).
#[handler]
pub async fn email_sign_in_link(
    req: &Request,
    Path(slug): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let (tenant, post, token) = match super::email_change::link_request(state, req, &slug, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let token = token.as_str();
    let nonce = cookie(req, &binding_cookie_name(state, &slug));
    let now = chrono::Utc::now();
    let request_id = match service::peek_link(state, &tenant, token, nonce, now).await {
        Ok(LinkState::Ready { request_id }) => request_id,
        Ok(LinkState::Invalid) => return notice(&tenant, StatusCode::BAD_REQUEST, NoticeKind::LinkExpired),
        Ok(LinkState::OtherBrowser) => {
            return notice(&tenant, StatusCode::FORBIDDEN, NoticeKind::OtherBrowser);
        }
        Err(e) => return failure(e),
    };
    // The pending request must still be there, or signing in would lead nowhere: then the
    // link is left unspent.
    let pending = match load_pending(state, &tenant, &request_id).await {
        Ok(Some(p)) => p,
        Ok(None) => return error_page(Some(&tenant), StatusCode::BAD_REQUEST, EXPIRED),
        Err(e) => return failure(e),
    };
    if !post {
        let action = format!("/t/{slug}/account/email-sign-in");
        return page(StatusCode::OK, Some(&tenant), |layout| {
            ConfirmAction { layout, kind: ConfirmKind::EmailSignIn, action: &action, token, address: "" }
                .render()
        });
    }
    let meta = client_meta(req);
    match service::sign_in_by_link(state, &tenant, token, nonce, &meta, now).await {
        Ok(Outcome::SignedIn { user, .. }) => {
            let amr = vec![AMR_EMAIL.to_string()];
            let resp = continue_authorization(
                state,
                &tenant,
                &request_id,
                &pending,
                &user,
                amr,
                &super::remembered(req),
                meta,
                now,
            )
            .await;
            with_binding(state, &tenant, resp, "", 0)
        }
        Ok(Outcome::Invalid) => notice(&tenant, StatusCode::BAD_REQUEST, NoticeKind::LinkExpired),
        Ok(Outcome::OtherBrowser) => notice(&tenant, StatusCode::FORBIDDEN, NoticeKind::OtherBrowser),
        Err(e) => failure(e),
    }
}
