//! `/t/{tenant}/account`: the signed-in user's own page (profile, password, second factors,
//! sessions, linked providers). Signed in through the tenant's authorization endpoint as the
//! first-party client `gatehouse-account`; every post carries the session's CSRF token and
//! calls the same service functions as the JSON account API, audited with channel `account`.
use std::sync::Arc;

use poem::{
    Body, Request, Response, handler,
    http::StatusCode,
    web::{Data, Path},
};

mod views;

use self::views::{codes_page, enrol_page, show};
use super::panel::{self, field};
use crate::{
    account::profile,
    auth::{self, ClientMeta},
    client_ip::client_meta,
    error::ApiError,
    mfa,
    oidc::first_party::{self, Face, WebSession},
    state::AppState,
    store::entities::users,
    strategy::link::{self, UnlinkError},
    tenancy::TenantContext,
};

const TITLE: &str = "Your account";

fn meta(req: &Request) -> ClientMeta {
    ClientMeta { channel: Some("account"), ..client_meta(req) }
}

fn home(slug: &str) -> String {
    format!("/t/{slug}/account")
}

/// The web session and its user, or where to go instead (a sign-in, a page).
async fn signed_in(
    state: &AppState,
    req: &Request,
    tenant: &TenantContext,
) -> Result<Option<(WebSession, users::Model)>, Response> {
    let cookie = panel::read_cookie(req, &panel::account_cookie(state, &tenant.slug));
    let now = chrono::Utc::now();
    let session = match first_party::current(state, tenant, Face::Account, cookie, now).await {
        Ok(s) => s,
        Err(e) => return Err(super::failure(e)),
    };
    let Some(session) = session else { return Ok(None) };
    match profile::active_user(state, tenant, session.user_id).await {
        Ok(Some(user)) => Ok(Some((session, user))),
        Ok(None) => Ok(None),
        Err(e) => Err(failed(tenant, &e)),
    }
}

fn failed(tenant: &TenantContext, e: &ApiError) -> Response {
    let (status, message) = panel::problem(e);
    super::error_page(Some(tenant), status, &message)
}

/// `GET /t/{tenant}/account`: the page, or off to the tenant's sign-in.
#[handler]
pub async fn account_home(
    req: &Request,
    Path(slug): Path<String>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let tenant = match super::active_tenant(state, &slug).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    match signed_in(state, req, &tenant).await {
        Ok(Some((session, user))) => {
            let notice = notice_text(&panel::notice_key(req));
            show(state, &tenant, &session, &user, StatusCode::OK, notice, None, Vec::new()).await
        }
        Ok(None) => sign_in(state, &tenant).await,
        Err(r) => r,
    }
}

async fn sign_in(state: &AppState, tenant: &TenantContext) -> Response {
    match first_party::begin(state, tenant, Face::Account, &home(&tenant.slug), false, chrono::Utc::now())
        .await
    {
        Ok(Some(started)) => panel::start_flow(state, &format!("acct_{}", tenant.slug), &started),
        Ok(None) => super::error_page(
            Some(tenant),
            StatusCode::SERVICE_UNAVAILABLE,
            "The account page is switched off here: its app (gatehouse-account) was changed or disabled.",
        ),
        Err(e) => super::failure(e),
    }
}

/// `GET /t/{tenant}/account/callback`: back from the tenant's sign-in with a code.
#[handler]
pub async fn account_callback(
    req: &Request,
    Path(slug): Path<String>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let tenant = match super::active_tenant(state, &slug).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let query =
        crate::oidc::authorize::parse_params(req.uri().query().unwrap_or_default()).unwrap_or_default();
    let get = |k: &str| query.get(k).map(String::as_str).unwrap_or_default();
    let flow = panel::flow_cookie(state, &format!("acct_{slug}"));
    let kept = panel::read_cookie(req, &flow);
    let now = chrono::Utc::now();
    let finished =
        first_party::finish(state, &tenant, Face::Account, get("code"), get("state"), kept, meta(req), now)
            .await;
    match finished {
        Ok(Some(signed)) => {
            let to = if signed.return_to.starts_with(&home(&slug)) { signed.return_to } else { home(&slug) };
            let mut resp = super::redirect(&to);
            panel::set_cookie(state, &mut resp, &panel::account_cookie(state, &slug), &signed.cookie);
            panel::set_cookie(state, &mut resp, &flow, "");
            resp
        }
        Ok(None) => super::error_page(
            Some(&tenant),
            StatusCode::BAD_REQUEST,
            "This sign-in has expired or was already used. Open your account page again.",
        ),
        Err(e) => super::failure(e),
    }
}

fn notice_text(key: &str) -> Option<&'static str> {
    Some(match key {
        "profile" => "Your profile is saved.",
        "password" => "Your password is changed.",
        "verification" => "We sent a new verification mail, if your address can receive one now.",
        "totp_removed" => "The authenticator app is removed.",
        "session" => "That session is signed out.",
        "others" => "Your other sessions are signed out.",
        "unlinked" => "The provider is unlinked.",
        _ => return None,
    })
}

/// `POST /t/{tenant}/account/{action}`: one change, then back to the page (or a page of its
/// own for what is shown once: the QR code, recovery codes).
#[handler]
pub async fn account_action(
    req: &Request,
    Path((slug, action)): Path<(String, String)>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let tenant = match super::active_tenant(state, &slug).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let (session, user) = match signed_in(state, req, &tenant).await {
        Ok(Some(v)) => v,
        Ok(None) => {
            return super::error_page(
                Some(&tenant),
                StatusCode::UNAUTHORIZED,
                "You are signed out. Open your account page again to sign in.",
            );
        }
        Err(r) => return r,
    };
    let form = match panel::form_of(req, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    if let Some(refused) = panel::csrf_refused(state, Some(&tenant), req, &form, &session) {
        return refused;
    }
    let now = chrono::Utc::now();
    let meta = meta(req);
    let back = home(&slug);
    let keep = [Some(session.session_id), session.sso_session_id].into_iter().flatten().collect::<Vec<_>>();
    let result: Result<Response, ApiError> = match action.as_str() {
        "profile" => {
            profile::set_display_name(state, &tenant, user.clone(), field(&form, "display_name"), &meta, now)
                .await
                .map(|_| panel::done(&back, "profile"))
        }
        "password" => profile::change_password(
            state,
            &tenant,
            &user,
            field(&form, "current_password").to_string(),
            field(&form, "new_password").to_string(),
            field(&form, "end_others") == "on",
            &keep,
            &meta,
            now,
        )
        .await
        .map(|()| panel::done(&back, "password")),
        "resend-verification" => crate::account::verify::send(state, &tenant, &user, &meta, "account", now)
            .await
            .map_err(ApiError::from)
            .map(|_| panel::done(&back, "verification")),
        "totp" => match mfa::totp::begin(state, &tenant, user.id, &user.username, &meta, now).await {
            Ok(setup) => Ok(enrol_page(&tenant, &session, &setup, None, StatusCode::OK)),
            Err(e) => Err(e.into()),
        },
        "totp-confirm" => {
            match mfa::totp::confirm(state, &tenant, user.id, field(&form, "code"), &meta, now).await {
                Ok(codes) => Ok(codes_page(&tenant, &codes)),
                Err(e @ (mfa::MfaError::InvalidCode | mfa::MfaError::Locked { .. })) => {
                    let (status, message) = panel::problem(&e.into());
                    match mfa::totp::pending_setup(state, &tenant, user.id, &user.username).await {
                        Ok(setup) => Ok(enrol_page(&tenant, &session, &setup, Some(&message), status)),
                        Err(e) => Err(e.into()),
                    }
                }
                Err(e) => Err(e.into()),
            }
        }
        "totp-remove" => {
            mfa::totp::remove(state, &tenant, user.id, auth::is_admin(&user), &session.amr, &meta, now)
                .await
                .map_err(ApiError::from)
                .map(|()| panel::done(&back, "totp_removed"))
        }
        "recovery-codes" => mfa::recovery::regenerate(state, &tenant, user.id, &session.amr, &meta, now)
            .await
            .map_err(ApiError::from)
            .map(|codes| codes_page(&tenant, &codes)),
        "end-session" => match uuid::Uuid::parse_str(field(&form, "session")) {
            Ok(id) if keep.contains(&id) => {
                Err(ApiError::bad_request("current_session", "use Sign out to end the session you are using"))
            }
            Ok(id) => profile::end_session(state, &tenant, &user, id, &meta, now)
                .await
                .map(|()| panel::done(&back, "session")),
            Err(_) => Err(ApiError::validation("session", "must be a session id")),
        },
        "end-others" => profile::end_others(state, &tenant, &user, &keep, &meta, now)
            .await
            .map(|_| panel::done(&back, "others")),
        "unlink" => match link::unlink(state, &tenant, &user, field(&form, "provider"), &meta, now).await {
            Ok(()) => Ok(panel::done(&back, "unlinked")),
            Err(UnlinkError::NotLinked) => {
                Err(ApiError::not_found("identity_not_found", UnlinkError::NotLinked.to_string()))
            }
            Err(UnlinkError::LastLoginMethod) => {
                Err(ApiError::conflict("last_login_method", UnlinkError::LastLoginMethod.to_string()))
            }
            Err(UnlinkError::Auth(e)) => Err(e.into()),
        },
        "sign-out" => {
            let cookie_name = panel::account_cookie(state, &slug);
            let cookie = panel::read_cookie(req, &cookie_name);
            match first_party::sign_out(state, &tenant, cookie, &session, &meta, now).await {
                Ok(()) => {
                    let mut resp = super::page(StatusCode::OK, Some(&tenant), |layout| {
                        gatehouse_ui::render(&gatehouse_ui::SignedOut { layout })
                    });
                    panel::set_cookie(state, &mut resp, &cookie_name, "");
                    Ok(resp)
                }
                Err(e) => Err(e.into()),
            }
        }
        _ => Err(ApiError::not_found("not_found", "no such action")),
    };
    match result {
        Ok(resp) => resp,
        Err(e) => {
            let (status, message) = panel::problem(&e);
            // Fresh user row: a failed change may still have changed nothing, but show what is.
            let user = profile::active_user(state, &tenant, user.id).await.ok().flatten().unwrap_or(user);
            let entered = vec![("display_name", field(&form, "display_name").to_string())];
            show(state, &tenant, &session, &user, status, None, Some(&message), entered).await
        }
    }
}
