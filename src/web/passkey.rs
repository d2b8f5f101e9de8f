//! Passkeys on the hosted pages, driven by `/assets/passkey.js`: options for the browser's
//! ceremony (as JSON, for the script), then the browser's answer posted with the page's form:
//! a usernameless sign-in from the sign-in page, the second step, or enrolment at sign-in.
//! Every post carries the pending request's CSRF token; the ceremony is single use.
use std::sync::Arc;

use gatehouse_ui::StepForm;
use poem::{
    Body, Request, Response, handler,
    http::StatusCode,
    web::{Data, Path},
};

use super::{
    EXPIRED, active_tenant, error_page, failure, finish_authorization, load_pending, params_of,
    second_factor::{self, Posted},
    sign_in::{csrf_ok, login_page},
};
use crate::{
    auth::{self, AuthError},
    client_ip::client_meta,
    domain::authn,
    mfa::{MfaError, Purpose, passkey},
    state::AppState,
};

fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .header("Cache-Control", "no-store")
        .header("X-Content-Type-Options", "nosniff")
        .body(body.to_string())
}

fn refused_json(e: &MfaError) -> Response {
    json(
        StatusCode::FORBIDDEN,
        &serde_json::json!({ "code": "passkey_unavailable", "message": e.to_string() }),
    )
}

/// `POST /t/{tenant}/login/passkey/options`: a ceremony for the page's passkey form. `purpose`
/// is `sign-in` (with the pending `request`, and a `username` when one was typed), `verify` or
/// `enrol` (with the second step's `challenge`); the CSRF token must match as for the form.
#[handler]
pub async fn options_endpoint(
    req: &Request,
    Path(slug): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let bytes = body.into_vec().await.unwrap_or_default();
    let raw = String::from_utf8_lossy(&bytes).to_string();
    let purpose = crate::oidc::authorize::parse_params(&raw)
        .ok()
        .and_then(|p| p.get("purpose").cloned())
        .unwrap_or_default();
    let started = match purpose.as_str() {
        "verify" | "enrol" => {
            let step = if purpose == "verify" { Purpose::Verify } else { Purpose::Enrol };
            let p = match second_factor::posted(state, req, &slug, Body::from(bytes), step).await {
                Ok(p) => p,
                Err(r) => return r,
            };
            if step == Purpose::Verify {
                passkey::start_assertion(state, &p.tenant, Some(p.user.id), None).await
            } else {
                let extra = serde_json::json!({});
                passkey::start_registration(state, &p.tenant, p.user.id, &p.user.username, extra).await
            }
        }
        _ => {
            let tenant = match active_tenant(state, &slug).await {
                Ok(t) => t,
                Err(r) => return r,
            };
            if let Some(refused) = super::cross_site(state, &tenant, req) {
                return refused;
            }
            let form = match params_of(req, Body::from(bytes)).await {
                Ok(f) => f,
                Err(r) => return r,
            };
            let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
            let pending = match load_pending(state, &tenant, field("request")).await {
                Ok(Some(p)) => p,
                Ok(None) => return error_page(Some(&tenant), StatusCode::BAD_REQUEST, EXPIRED),
                Err(e) => return failure(e),
            };
            if !csrf_ok(state, req, &slug, field("csrf"), &pending) {
                return error_page(Some(&tenant), StatusCode::FORBIDDEN, EXPIRED);
            }
            match field("username").trim() {
                "" => passkey::start_assertion(state, &tenant, None, None).await,
                name => match auth::passkey::passkey_start(state, &slug, Some(name)).await {
                    Ok(started) => Ok(started),
                    Err(AuthError::Mfa(e)) => Err(e),
                    Err(e) => return failure(e),
                },
            }
        }
    };
    match started {
        Ok((ceremony, options)) => {
            json(StatusCode::OK, &serde_json::json!({ "ceremony": ceremony, "options": options }))
        }
        Err(e @ (MfaError::MethodNotAllowed | MfaError::PasskeysUnavailable(_))) => refused_json(&e),
        Err(e) => failure(e.into()),
    }
}

fn credential_of(form: &std::collections::HashMap<String, String>) -> serde_json::Value {
    form.get("credential").and_then(|c| serde_json::from_str(c).ok()).unwrap_or_default()
}

/// `POST /t/{tenant}/login/passkey`: a passkey sign-in from the sign-in page (usernameless).
#[handler]
pub async fn sign_in_endpoint(
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
        Ok(f) => f,
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
    let meta = client_meta(req);
    let now = chrono::Utc::now();
    let credential = credential_of(&form);
    match passkey::finish_assertion(
        state,
        &tenant,
        field("ceremony"),
        None,
        &credential,
        &meta,
        "hosted_form",
        now,
    )
    .await
    {
        Ok(done) => {
            auth::passkey::login_event(state, &tenant, &done.user, &meta, "hosted_form", now).await;
            let amr = authn::with_passkey(&[], done.synced);
            finish_authorization(state, &tenant, request_id, &pending, done.user.id, amr, meta, now).await
        }
        Err(MfaError::PasskeyRejected | MfaError::PasskeyCeremonyInvalid) => login_page(
            state,
            &tenant,
            request_id,
            &pending,
            "",
            Some("That passkey was not accepted. Try again, or sign in with your password."),
            StatusCode::UNAUTHORIZED,
        ),
        Err(e) => failure(AuthError::from(e)),
    }
}

fn step_form(p: &Posted) -> StepForm<'_> {
    StepForm { slug: &p.tenant.slug, challenge: &p.token, csrf: &p.pending.csrf }
}

/// `POST /t/{tenant}/login/passkey/verify`: the second step answered with a passkey.
#[handler]
pub async fn verify_endpoint(
    req: &Request,
    Path(slug): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let p = match second_factor::posted(state, req, &slug, body, Purpose::Verify).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let meta = client_meta(req);
    let now = chrono::Utc::now();
    let ceremony = p.form.get("ceremony").cloned().unwrap_or_default();
    let credential = credential_of(&p.form);
    let verified = passkey::verify_second_step(
        state,
        &p.tenant,
        &p.user,
        &p.challenge.methods,
        &ceremony,
        &credential,
        &meta,
        "hosted_form",
        now,
    )
    .await;
    match verified {
        Ok(done) => {
            let amr = authn::with_passkey(&p.challenge.amr, done.synced);
            second_factor::finish(state, p, amr, meta).await
        }
        Err(e) => second_factor::refused(e, |m, status| {
            second_factor::code_page(state, &p.tenant, step_form(&p), &p.challenge, Some(m), status)
        }),
    }
}

/// `POST /t/{tenant}/login/passkey/enrol`: a passkey created at sign-in; it finishes the
/// sign-in (passkeys come without recovery codes).
#[handler]
pub async fn enrol_endpoint(
    req: &Request,
    Path(slug): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let p = match second_factor::posted(state, req, &slug, body, Purpose::Enrol).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let meta = client_meta(req);
    let now = chrono::Utc::now();
    let ceremony = p.form.get("ceremony").cloned().unwrap_or_default();
    let name = p.form.get("name").cloned();
    let registered =
        match passkey::finish_registration(state, &p.tenant, &ceremony, &credential_of(&p.form)).await {
            Ok(r) if r.user_id == p.user.id => r,
            Ok(_) => return error_page(Some(&p.tenant), StatusCode::BAD_REQUEST, EXPIRED),
            Err(e) => {
                return second_factor::refused(e, |m, status| {
                    second_factor::passkey_enrol_page(&p.tenant, step_form(&p), Some(m), status)
                });
            }
        };
    if let Err(e) =
        passkey::store_registration(state, &p.tenant, &registered, name.as_deref(), &meta, now).await
    {
        return second_factor::refused(e, |m, status| {
            second_factor::passkey_enrol_page(&p.tenant, step_form(&p), Some(m), status)
        });
    }
    let amr = authn::with_passkey(&p.challenge.amr, passkey::synced(&registered.passkey));
    second_factor::finish(state, p, amr, meta).await
}
