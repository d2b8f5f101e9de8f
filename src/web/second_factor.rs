//! The hosted second step: after the first factor, a page asking for a code (or a recovery
//! code), or, for a user who must have a second factor and has none, enrolling an
//! authenticator app and then showing the recovery codes once. Each form carries the challenge
//! token and the pending request's CSRF token; the request finishes as any sign-in does.
use std::sync::Arc;

use gatehouse_ui::{self as ui, StepForm};
use poem::{
    Body, Request, Response, handler,
    http::{StatusCode, header},
    web::{Data, Path},
};

use super::{
    EXPIRED, active_tenant, error_page, failure, finish_authorization, load_pending, page, params_of,
};
use crate::{
    auth::ClientMeta,
    client_ip::client_meta,
    domain::authn,
    mfa::{self, Challenge, Method, MfaError, Proof, Purpose, Step},
    oidc::PendingAuthorization,
    state::AppState,
    store::{self, entities::users},
    tenancy::TenantContext,
};

/// Opens the second step of a hosted sign-in: a challenge, then the code prompt or enrolment.
#[allow(clippy::too_many_arguments)]
pub(super) async fn start(
    state: &AppState,
    tenant: &TenantContext,
    request_id: &str,
    pending: &PendingAuthorization,
    user: &users::Model,
    step: Step,
    amr: Vec<String>,
    meta: &ClientMeta,
    now: chrono::DateTime<chrono::Utc>,
) -> Response {
    let (purpose, methods) = match step {
        Step::Verify(m) => (Purpose::Verify, m),
        Step::Enrol(m) => (Purpose::Enrol, m),
        Step::Done => (Purpose::Verify, Vec::new()),
    };
    let challenge = Challenge {
        user_id: user.id,
        purpose,
        methods,
        amr,
        auth_time: now.timestamp(),
        request_id: Some(request_id.to_string()),
        passed: None,
    };
    let token = match mfa::challenge::issue(state, tenant, &challenge).await {
        Ok(t) => t,
        Err(e) => return failure(e.into()),
    };
    let form = StepForm { slug: &tenant.slug, challenge: &token, csrf: &pending.csrf };
    let passkey = challenge.methods.contains(&Method::Passkey) && mfa::passkey::offered(state, tenant);
    match purpose {
        Purpose::Verify => code_page(state, tenant, form, &challenge, None, StatusCode::OK),
        Purpose::Enrol if !challenge.methods.contains(&Method::Totp) => {
            passkey_enrol_page(tenant, form, None, StatusCode::OK)
        }
        Purpose::Enrol => match mfa::totp::begin(state, tenant, user.id, &user.username, meta, now).await {
            Ok(setup) => enrol_page(tenant, form, &setup, passkey, None, StatusCode::OK),
            Err(e) => failure(e.into()),
        },
    }
}

/// Enrolling a passkey where no authenticator app is allowed.
pub(super) fn passkey_enrol_page(
    tenant: &TenantContext,
    form: StepForm<'_>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    page(status, Some(tenant), |layout| ui::render(&ui::EnrolPasskey { layout, form, error }))
}

pub(super) fn code_page(
    state: &AppState,
    tenant: &TenantContext,
    form: StepForm<'_>,
    challenge: &Challenge,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let recovery_codes = challenge.methods.contains(&Method::RecoveryCode);
    let codes = recovery_codes || challenge.methods.contains(&Method::Totp);
    let passkey = challenge.methods.contains(&Method::Passkey) && mfa::passkey::offered(state, tenant);
    page(status, Some(tenant), |layout| {
        let remember_days = tenant.settings.second_factor.remember_device_days;
        ui::render(&ui::SecondFactor { layout, form, recovery_codes, codes, passkey, remember_days, error })
    })
}

/// The key grouped by four, as authenticator apps show it.
fn grouped(secret: &str) -> String {
    secret.as_bytes().chunks(4).filter_map(|c| std::str::from_utf8(c).ok()).collect::<Vec<_>>().join(" ")
}

fn enrol_page(
    tenant: &TenantContext,
    form: StepForm<'_>,
    setup: &mfa::totp::Setup,
    passkey: bool,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let qr = setup.qr_data_url();
    let secret = grouped(&setup.secret);
    page(status, Some(tenant), |layout| {
        ui::render(&ui::EnrolTotp { layout, form, qr: &qr, secret: &secret, passkey, error })
    })
}

/// What every second-step post shares: the tenant, the form, a live challenge of `purpose`,
/// its pending request (CSRF checked against it and the cookie) and its user.
pub(super) struct Posted {
    pub(super) tenant: Arc<TenantContext>,
    pub(super) form: std::collections::HashMap<String, String>,
    pub(super) token: String,
    pub(super) challenge: Challenge,
    request_id: String,
    pub(super) pending: PendingAuthorization,
    pub(super) user: users::Model,
}

pub(super) async fn posted(
    state: &AppState,
    req: &Request,
    slug: &str,
    body: Body,
    purpose: Purpose,
) -> Result<Posted, Response> {
    let tenant = active_tenant(state, slug).await?;
    if let Some(refused) = super::cross_site(state, &tenant, req) {
        return Err(refused);
    }
    let form = params_of(req, body).await?;
    let token = form.get("challenge").cloned().unwrap_or_default();
    let expired = || error_page(Some(&tenant), StatusCode::BAD_REQUEST, EXPIRED);
    let challenge = match mfa::challenge::load(state, &tenant, &token, purpose).await {
        Ok(c) => c,
        Err(MfaError::InvalidChallenge) => return Err(expired()),
        Err(e) => return Err(failure(e.into())),
    };
    let request_id = challenge.request_id.clone().unwrap_or_default();
    let pending = match load_pending(state, &tenant, &request_id).await {
        Ok(Some(p)) => p,
        Ok(None) => return Err(expired()),
        Err(e) => return Err(failure(e)),
    };
    let csrf = form.get("csrf").map(String::as_str).unwrap_or_default();
    if !super::sign_in::csrf_ok(state, req, slug, csrf, &pending) {
        return Err(error_page(Some(&tenant), StatusCode::FORBIDDEN, EXPIRED));
    }
    let user = match store::users::find_by_id(&state.db, tenant.id, challenge.user_id).await {
        Ok(Some(u)) if u.status == "active" => u,
        Ok(_) => return Err(expired()),
        Err(e) => return Err(failure(e.into())),
    };
    Ok(Posted { tenant, form, token, challenge, request_id, pending, user })
}

/// A refused code: the same page again with why (429 with `Retry-After` when locked).
pub(super) fn refused(e: MfaError, render: impl FnOnce(&str, StatusCode) -> Response) -> Response {
    match e {
        MfaError::PasskeyRejected | MfaError::PasskeyCeremonyInvalid | MfaError::PasskeyDuplicate => render(
            "That passkey was not accepted. Try again, or use another way to continue.",
            StatusCode::UNAUTHORIZED,
        ),
        MfaError::InvalidCode => {
            render("That code did not work. Check it and try again.", StatusCode::UNAUTHORIZED)
        }
        MfaError::MethodNotAllowed => {
            render("That kind of code is not accepted here.", StatusCode::UNAUTHORIZED)
        }
        MfaError::Locked { retry_after } => {
            let message =
                format!("Too many failed attempts. Try again in {} minute(s).", retry_after.div_ceil(60));
            let mut resp = render(&message, StatusCode::TOO_MANY_REQUESTS);
            if let Ok(v) = poem::http::HeaderValue::from_str(&retry_after.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
        other => failure(other.into()),
    }
}

/// Spends the challenge and finishes the sign-in with `amr`.
pub(super) async fn finish(state: &AppState, p: Posted, amr: Vec<String>, meta: ClientMeta) -> Response {
    match mfa::challenge::spend(state, &p.tenant, &p.token).await {
        Ok(()) => {}
        Err(MfaError::InvalidChallenge) => {
            return error_page(Some(&p.tenant), StatusCode::BAD_REQUEST, EXPIRED);
        }
        Err(e) => return failure(e.into()),
    }
    let now = chrono::Utc::now();
    finish_authorization(state, &p.tenant, &p.request_id, &p.pending, p.user.id, amr, meta, now).await
}

/// `POST /t/{tenant}/login/second-factor`: a code from the app, or a recovery code.
#[handler]
pub async fn second_factor_endpoint(
    req: &Request,
    Path(slug): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let p = match posted(state, req, &slug, body, Purpose::Verify).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let meta = client_meta(req);
    let code = p.form.get("code").map(String::as_str).unwrap_or_default();
    let now = chrono::Utc::now();
    let proof = Proof::guess(code);
    match mfa::verify(state, &p.tenant, &p.user, &p.challenge.methods, proof, &meta, "hosted_form", now).await
    {
        Ok(method) => {
            let amr = authn::with_second_factor(&p.challenge.amr, method);
            let remember = p.form.get("remember").is_some_and(|v| v == "yes");
            let (tenant, user_id) = (Arc::clone(&p.tenant), p.user.id);
            let mut resp = finish(state, p, amr, meta.clone()).await;
            if remember && resp.status().is_redirection() {
                match mfa::remember::remember(state, &tenant, user_id, &meta, now).await {
                    Ok(Some(cookie)) => {
                        if let Ok(v) = poem::http::HeaderValue::from_str(&cookie) {
                            resp.headers_mut().append(header::SET_COOKIE, v);
                        }
                    }
                    Ok(None) => {}
                    Err(e) => return failure(e.into()),
                }
            }
            resp
        }
        Err(e) => {
            let form = StepForm { slug: &p.tenant.slug, challenge: &p.token, csrf: &p.pending.csrf };
            refused(e, |m, status| code_page(state, &p.tenant, form, &p.challenge, Some(m), status))
        }
    }
}

/// `POST /t/{tenant}/login/enrol`: the first code of the app being enrolled. Shows the new
/// recovery codes, or finishes the sign-in when the tenant has none.
#[handler]
pub async fn enrol_endpoint(
    req: &Request,
    Path(slug): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let mut p = match posted(state, req, &slug, body, Purpose::Enrol).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let meta = client_meta(req);
    let code = p.form.get("code").map(String::as_str).unwrap_or_default();
    let now = chrono::Utc::now();
    let codes = match mfa::totp::confirm(state, &p.tenant, p.user.id, code, &meta, now).await {
        Ok(c) => c,
        Err(e @ (MfaError::InvalidCode | MfaError::Locked { .. })) => {
            let setup = match mfa::totp::pending_setup(state, &p.tenant, p.user.id, &p.user.username).await {
                Ok(s) => s,
                Err(e) => return failure(e.into()),
            };
            let form = StepForm { slug: &p.tenant.slug, challenge: &p.token, csrf: &p.pending.csrf };
            let passkey =
                p.challenge.methods.contains(&Method::Passkey) && mfa::passkey::offered(state, &p.tenant);
            return refused(e, |m, status| enrol_page(&p.tenant, form, &setup, passkey, Some(m), status));
        }
        Err(MfaError::NotEnrolling | MfaError::AlreadyEnrolled) => {
            return error_page(Some(&p.tenant), StatusCode::BAD_REQUEST, EXPIRED);
        }
        Err(e) => return failure(e.into()),
    };
    let amr = authn::with_second_factor(&p.challenge.amr, Method::Totp);
    if codes.is_empty() {
        return finish(state, p, amr, meta).await;
    }
    p.challenge.passed = Some(amr);
    if let Err(e) = mfa::challenge::save(state, &p.tenant, &p.token, &p.challenge).await {
        return failure(e.into());
    }
    let form = StepForm { slug: &p.tenant.slug, challenge: &p.token, csrf: &p.pending.csrf };
    page(StatusCode::OK, Some(&p.tenant), |layout| {
        ui::render(&ui::RecoveryCodes { layout, form, codes: &codes })
    })
}

/// `POST /t/{tenant}/login/continue`: after the recovery codes were shown.
#[handler]
pub async fn continue_endpoint(
    req: &Request,
    Path(slug): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let p = match posted(state, req, &slug, body, Purpose::Enrol).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(amr) = p.challenge.passed.clone() else {
        return error_page(Some(&p.tenant), StatusCode::BAD_REQUEST, EXPIRED);
    };
    finish(state, p, amr, client_meta(req)).await
}
