//! The hosted account-recovery pages: "Forgot password?" from the sign-in form, the pages a
//! mailed link opens (reset, verify), and "check your inbox" when the tenant requires a
//! verified address. A link's GET only shows a form; its POST spends the token, so mail
//! scanners that fetch links burn nothing. Every page is sent with `Referrer-Policy:
//! no-referrer` (the URL may hold a token) and every form carries a double-submit CSRF token.
use std::sync::Arc;

use gatehouse_ui as ui;
use poem::{
    Body, Request, Response, handler,
    http::{HeaderValue, StatusCode, header},
    web::{Data, Path},
};

use super::{active_tenant, cookie, error_page, page, params_of};
use crate::{
    account::{self, AccountError, Proof, Sent},
    auth::AuthError,
    client_ip::client_meta,
    crypto::random_token,
    oidc::{authorize::Params, sso},
    state::AppState,
    tenancy::TenantContext,
};

const BAD_CODE: &str = "This code is wrong, expired or already used.";
const SPENT_LINK: &str = "This link has expired, was already used, or a newer one replaced it.";

fn csrf_cookie_name(state: &AppState, slug: &str) -> String {
    if state.settings.oidc.insecure_dev_cookies {
        format!("gh_acsrf_{slug}")
    } else {
        format!("__Host-gh_acsrf_{slug}")
    }
}

/// The CSRF token of this browser: the cookie's, or a new one.
fn csrf_of(state: &AppState, req: &Request, slug: &str) -> String {
    cookie(req, &csrf_cookie_name(state, slug))
        .filter(|v| v.len() == 43)
        .map_or_else(|| random_token(""), str::to_string)
}

/// A recovery page: no referrer, the CSRF cookie (re)set.
fn respond(
    state: &AppState,
    tenant: &TenantContext,
    csrf: &str,
    status: StatusCode,
    render: impl FnOnce(ui::Layout<'_>) -> Result<String, ui::Error>,
) -> Response {
    let mut resp = page(status, Some(tenant), render);
    resp.headers_mut().insert("Referrer-Policy", HeaderValue::from_static("no-referrer"));
    let max_age = i64::try_from(state.settings.oidc.authorization_ttl_secs).unwrap_or(900);
    let name = csrf_cookie_name(state, &tenant.slug);
    let value =
        sso::set_cookie(&state.settings, &name, csrf, max_age).replace("SameSite=Lax", "SameSite=Strict");
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// A parsed POST that passed the cross-site and CSRF checks.
struct Post {
    tenant: Arc<TenantContext>,
    form: Params,
    csrf: String,
}

impl Post {
    fn field(&self, name: &str) -> &str {
        self.form.get(name).map(String::as_str).unwrap_or_default()
    }

    /// The sign-in form to go back to, when the flow started from one.
    fn back(&self) -> Option<String> {
        let request = self.field("request");
        let ok = !request.is_empty()
            && request.len() <= 256
            && request.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| format!("/t/{}/login?request={request}", self.tenant.slug))
    }
}

async fn checked_post(state: &AppState, req: &Request, slug: &str, body: Body) -> Result<Post, Response> {
    let tenant = active_tenant(state, slug).await?;
    if let Some(why) = super::origin::refused_without_referrer(req, &state.settings.public_url()) {
        tracing::warn!(tenant = %tenant.slug, header = why, "cross-site recovery form post refused");
        return Err(error_page(Some(&tenant), StatusCode::FORBIDDEN, super::origin::MESSAGE));
    }
    let form = params_of(req, body).await?;
    let csrf = cookie(req, &csrf_cookie_name(state, slug)).unwrap_or_default().to_string();
    let sent = form.get("csrf").map(String::as_str).unwrap_or_default();
    let same = aws_lc_rs::constant_time::verify_slices_are_equal(sent.as_bytes(), csrf.as_bytes()).is_ok();
    if csrf.is_empty() || !same {
        return Err(error_page(
            Some(&tenant),
            StatusCode::FORBIDDEN,
            "This form has expired. Open the page again and resend it.",
        ));
    }
    Ok(Post { tenant, form, csrf })
}

fn query(req: &Request) -> Params {
    crate::oidc::authorize::parse_params(req.uri().query().unwrap_or_default()).unwrap_or_default()
}

fn failure(e: AccountError) -> Response {
    match e {
        AccountError::Auth(a) => super::failure(a),
        AccountError::Store(s) => super::failure(AuthError::Store(s)),
        AccountError::Kv(k) => super::failure(AuthError::Kv(k)),
        other => super::failure(AuthError::Unexpected(anyhow::anyhow!(other.to_string()))),
    }
}

/// `GET /t/{tenant}/account/forgot-password`: asks for the address.
#[handler]
pub async fn forgot_form(
    req: &Request,
    Path(slug): Path<String>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let tenant = match active_tenant(state, &slug).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let q = query(req);
    let request = q.get("request").map(String::as_str).unwrap_or_default();
    let csrf = csrf_of(state, req, &slug);
    respond(state, &tenant, &csrf, StatusCode::OK, |layout| {
        ui::render(&ui::ForgotPassword { layout, slug: &slug, csrf: &csrf, request, email: "", error: None })
    })
}

/// `POST /t/{tenant}/account/forgot-password`: queues the mail (or not) and shows the code
/// form, the same page whatever the address.
#[handler]
pub async fn forgot_submit(
    req: &Request,
    Path(slug): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let post = match checked_post(state, req, &slug, body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (email, request) = (post.field("email"), post.field("request"));
    let asked =
        account::reset::request(state, post.tenant.clone(), email, client_meta(req), chrono::Utc::now())
            .await;
    let (csrf, tenant) = (&post.csrf, &post.tenant);
    match asked {
        Ok(()) => respond(state, tenant, csrf, StatusCode::OK, |layout| {
            let page = ui::ResetPassword {
                layout,
                slug: &slug,
                csrf,
                request,
                token: None,
                email,
                sent: true,
                error: None,
            };
            ui::render(&page)
        }),
        Err(AccountError::Validation(_)) => respond(state, tenant, csrf, StatusCode::BAD_REQUEST, |layout| {
            let error = Some("Enter a valid email address.");
            ui::render(&ui::ForgotPassword { layout, slug: &slug, csrf, request, email, error })
        }),
        Err(AccountError::Forbidden(why)) => error_page(Some(tenant), StatusCode::FORBIDDEN, why),
        Err(e) => failure(e),
    }
}

/// `GET /t/{tenant}/account/reset-password[?token=...]`: the new-password form for a live
/// link (spending nothing), or the code form.
#[handler]
pub async fn reset_form(
    req: &Request,
    Path(slug): Path<String>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let tenant = match active_tenant(state, &slug).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let q = query(req);
    let token = q.get("token").map(String::as_str);
    let csrf = csrf_of(state, req, &slug);
    if let Some(t) = token {
        match account::reset::link_is_live(state, &tenant, t, chrono::Utc::now()).await {
            Ok(true) => {}
            Ok(false) => return spent_link(state, &tenant, &csrf, "reset"),
            Err(e) => return failure(e),
        }
    }
    respond(state, &tenant, &csrf, StatusCode::OK, |layout| {
        ui::render(&ui::ResetPassword {
            layout,
            slug: &slug,
            csrf: &csrf,
            request: "",
            token,
            email: "",
            sent: false,
            error: None,
        })
    })
}

fn spent_link(state: &AppState, tenant: &TenantContext, csrf: &str, flow: &str) -> Response {
    let slug = &tenant.slug;
    let (again, label) = if flow == "reset" {
        (format!("/t/{slug}/account/forgot-password"), "Send a new link")
    } else {
        (format!("/t/{slug}/account/verify-email"), "Enter a code instead")
    };
    respond(state, tenant, csrf, StatusCode::BAD_REQUEST, |layout| {
        ui::render(&ui::LinkInvalid { layout, message: SPENT_LINK, again: &again, again_label: label })
    })
}

/// `POST /t/{tenant}/account/reset-password`: sets the new password with the link's token or
/// the address and code.
#[handler]
pub async fn reset_submit(
    req: &Request,
    Path(slug): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let post = match checked_post(state, req, &slug, body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let token = post.form.get("token").map(String::as_str).filter(|t| !t.is_empty());
    let (email, request) = (post.field("email"), post.field("request"));
    let proof = match token {
        Some(t) => Proof::Link(t),
        None => Proof::Code { email, code: post.field("code") },
    };
    let password = post.field("password").to_string();
    let done =
        account::reset::complete(state, &post.tenant, proof, password, &client_meta(req), chrono::Utc::now())
            .await;
    let (csrf, tenant) = (&post.csrf, &post.tenant);
    let again = |status: StatusCode, error: &str| {
        respond(state, tenant, csrf, status, |layout| {
            let page = ui::ResetPassword {
                layout,
                slug: &slug,
                csrf,
                request,
                token,
                email,
                sent: false,
                error: Some(error),
            };
            ui::render(&page)
        })
    };
    match done {
        Ok(_) => {
            let back = post.back();
            let sessions_ended = tenant.settings.email.reset_ends_sessions;
            respond(state, tenant, csrf, StatusCode::OK, |layout| {
                ui::render(&ui::PasswordChanged { layout, sessions_ended, back: back.as_deref() })
            })
        }
        Err(AccountError::InvalidToken) if token.is_some() => spent_link(state, tenant, csrf, "reset"),
        Err(AccountError::InvalidToken) => again(StatusCode::BAD_REQUEST, BAD_CODE),
        Err(AccountError::Validation(v)) => again(StatusCode::BAD_REQUEST, &v.message),
        Err(AccountError::Forbidden(why)) => error_page(Some(tenant), StatusCode::FORBIDDEN, why),
        Err(e) => failure(e),
    }
}

/// `GET /t/{tenant}/account/verify-email[?token=...]`: a button for a live link (spending
/// nothing), or the code form.
#[handler]
pub async fn verify_form(
    req: &Request,
    Path(slug): Path<String>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let tenant = match active_tenant(state, &slug).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let q = query(req);
    let csrf = csrf_of(state, req, &slug);
    let Some(token) = q.get("token") else {
        return check_inbox(state, &tenant, &csrf, "", CODE_NOTICE, None, StatusCode::OK);
    };
    match account::verify::link_is_live(state, &tenant, token, chrono::Utc::now()).await {
        Ok(true) => respond(state, &tenant, &csrf, StatusCode::OK, |layout| {
            ui::render(&ui::ConfirmEmail { layout, slug: &slug, csrf: &csrf, token })
        }),
        Ok(false) => spent_link(state, &tenant, &csrf, "verify"),
        Err(e) => failure(e),
    }
}

const CODE_NOTICE: &str = "Enter the address and the code from the email we sent you.";
const HELD_NOTICE: &str = "Confirm your email address to finish signing in: follow the link in the email we sent you, or enter its code here.";

/// The "check your inbox" page.
pub(super) fn check_inbox(
    state: &AppState,
    tenant: &TenantContext,
    csrf: &str,
    request: &str,
    notice: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    respond(state, tenant, csrf, status, |layout| {
        ui::render(&ui::CheckInbox { layout, slug: &tenant.slug, csrf, request, notice, error })
    })
}

/// What the sign-in form shows when the password was right and the address must be verified
/// first: remembers the user for "Send a new email".
pub(super) async fn held_sign_in(
    state: &AppState,
    req: &Request,
    tenant: &TenantContext,
    request_id: &str,
    user: uuid::Uuid,
) -> Response {
    if let Err(e) = account::verify::hold_sign_in(state, tenant, request_id, user).await {
        return failure(e);
    }
    let csrf = csrf_of(state, req, &tenant.slug);
    check_inbox(state, tenant, &csrf, request_id, HELD_NOTICE, None, StatusCode::FORBIDDEN)
}

/// `POST /t/{tenant}/account/verify-email`: confirms with the link's token or the address and code.
#[handler]
pub async fn verify_submit(
    req: &Request,
    Path(slug): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let post = match checked_post(state, req, &slug, body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let token = post.form.get("token").map(String::as_str).filter(|t| !t.is_empty());
    let proof = match token {
        Some(t) => Proof::Link(t),
        None => Proof::Code { email: post.field("email"), code: post.field("code") },
    };
    let (csrf, tenant) = (&post.csrf, &post.tenant);
    match account::verify::confirm(state, tenant, proof, &client_meta(req), chrono::Utc::now()).await {
        Ok(_) => {
            let back = post.back();
            respond(state, tenant, csrf, StatusCode::OK, |layout| {
                ui::render(&ui::EmailVerified { layout, back: back.as_deref() })
            })
        }
        Err(AccountError::InvalidToken) if token.is_some() => spent_link(state, tenant, csrf, "verify"),
        Err(AccountError::InvalidToken) => {
            let request = post.field("request");
            check_inbox(state, tenant, csrf, request, CODE_NOTICE, Some(BAD_CODE), StatusCode::BAD_REQUEST)
        }
        Err(e) => failure(e),
    }
}

/// `POST /t/{tenant}/account/verify-email/resend`: a new mail for the held sign-in.
#[handler]
pub async fn verify_resend(
    req: &Request,
    Path(slug): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let post = match checked_post(state, req, &slug, body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let request = post.field("request");
    let (csrf, tenant) = (&post.csrf, &post.tenant);
    match account::verify::resend_for_sign_in(state, tenant, request, &client_meta(req), chrono::Utc::now())
        .await
    {
        Ok(Sent::Queued | Sent::Nothing) => {
            let notice = "We sent you a new email. Follow its link, or enter its code here.";
            check_inbox(state, tenant, csrf, request, notice, None, StatusCode::OK)
        }
        Ok(Sent::Throttled { .. }) => {
            let error = Some("We sent several emails already. Wait a while before asking for another.");
            check_inbox(state, tenant, csrf, request, HELD_NOTICE, error, StatusCode::TOO_MANY_REQUESTS)
        }
        Err(AccountError::InvalidToken) => error_page(Some(tenant), StatusCode::BAD_REQUEST, super::EXPIRED),
        Err(e) => failure(e),
    }
}
