//! Sign-in with an external provider: the start (a redirect to the provider, bound to this
//! browser) and the callback (code exchange, user resolution, back to the app or "linked").
use std::sync::Arc;

use gatehouse_ui as ui;
use poem::{
    Body, Request, Response, handler,
    http::{StatusCode, header},
    web::{Data, Path},
};

use super::{
    EXPIRED, active_tenant, continue_authorization, cookie, error_page, failure, load_pending, page,
    params_of, redirect,
};
use crate::{
    client_ip::client_meta,
    oidc::{
        authorize::{self, Outcome},
        sso,
    },
    state::AppState,
    strategy::{
        StrategyError,
        flow::{self, FinishError, Purpose},
        link::ResolveError,
    },
    tenancy::TenantContext,
};

fn binding_cookie_name(state: &AppState, tenant: &str) -> String {
    if state.settings.oidc.insecure_dev_cookies {
        format!("gh_xl_{tenant}")
    } else {
        format!("__Host-gh_xl_{tenant}")
    }
}

fn back_link(tenant: &TenantContext, purpose: Option<&Purpose>) -> Option<String> {
    match purpose {
        Some(Purpose::SignIn { request_id }) => {
            Some(format!("/t/{}/login?request={request_id}", tenant.slug))
        }
        _ => None,
    }
}

fn sign_in_error(tenant: &TenantContext, status: StatusCode, message: &str, back: Option<&str>) -> Response {
    page(status, Some(tenant), |layout| ui::render(&ui::SignInError { layout, message, back }))
}

/// `GET /t/{tenant}/auth/{provider}/start`: sends the browser to an external provider. Starts
/// from the hosted login page (`request`), from a link ticket (`link`), or, for apps that
/// pick the provider themselves, from a full authorization request (`client_id`,
/// `redirect_uri`, PKCE...), which then ends with a code for that app like any sign-in.
#[handler]
pub async fn external_start(
    req: &Request,
    Path((slug, provider_id)): Path<(String, String)>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let tenant = match active_tenant(state, &slug).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some(strategy) = tenant.strategies.get(&provider_id).filter(|s| s.capabilities().redirect) else {
        return error_page(Some(&tenant), StatusCode::NOT_FOUND, "This sign-in method is not available.");
    };
    let mut params = match params_of(req, Body::empty()).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let now = chrono::Utc::now();
    let purpose = if let Some(ticket) = params.get("link") {
        match flow::take_link_ticket(state, &tenant, ticket).await {
            Ok(Some(user_id)) => Purpose::Link { user_id },
            Ok(None) => {
                return error_page(
                    Some(&tenant),
                    StatusCode::BAD_REQUEST,
                    "This link request has expired or was already used. Start again from the application.",
                );
            }
            Err(e) => return failure(e),
        }
    } else if let Some(request_id) = params.get("request") {
        match load_pending(state, &tenant, request_id).await {
            Ok(Some(_)) => Purpose::SignIn { request_id: request_id.clone() },
            Ok(None) => return error_page(Some(&tenant), StatusCode::BAD_REQUEST, EXPIRED),
            Err(e) => return failure(e),
        }
    } else {
        // The user chose this provider in the app: sign in afresh, whatever session exists.
        params.insert("prompt".into(), "login".into());
        match authorize::authorize(state, &tenant, &params, None, now).await {
            Ok(Outcome::Login { request_id, .. }) => Purpose::SignIn { request_id },
            Ok(Outcome::ErrorPage(message)) => {
                return error_page(Some(&tenant), StatusCode::BAD_REQUEST, &message);
            }
            Ok(Outcome::Redirect(location)) => return redirect(&location),
            Err(e) => return failure(e),
        }
    };
    let back = back_link(&tenant, Some(&purpose));
    let started = match flow::start(state, &tenant, strategy.as_ref(), purpose).await {
        Ok(s) => s,
        Err(StrategyError::Auth(e)) => return failure(e),
        Err(e) => {
            tracing::warn!(provider = %provider_id, tenant = %slug, error = %e, "external sign-in could not start");
            let message = format!(
                "{} cannot be reached right now. Try again in a moment.",
                strategy.info().display_name
            );
            return sign_in_error(&tenant, StatusCode::BAD_GATEWAY, &message, back.as_deref());
        }
    };
    let mut resp = redirect(&started.location);
    let max_age = i64::try_from(state.settings.upstream.login_ttl_secs).unwrap_or(600);
    let name = binding_cookie_name(state, &slug);
    if let Ok(v) =
        poem::http::HeaderValue::from_str(&sso::set_cookie(&state.settings, &name, &started.browser, max_age))
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// `GET /t/{tenant}/auth/{provider}/callback`: where the provider sends the browser back.
/// Checks `state` (single use, bound to this browser), exchanges the code (PKCE, nonce and
/// the ID token checked by the strategy), resolves the user by the linking policy, then
/// continues the app's authorization request.
#[handler]
pub async fn external_callback(
    req: &Request,
    Path((slug, provider_id)): Path<(String, String)>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let tenant = match active_tenant(state, &slug).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let params = match params_of(req, Body::empty()).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let param = |k: &str| params.get(k).map(String::as_str).unwrap_or_default();
    let from_cookie = cookie(req, &binding_cookie_name(state, &slug)).unwrap_or_default();
    let pending = match flow::take(state, &tenant, param("state"), from_cookie).await {
        Ok(flow::Taken::Pending(p)) if p.provider_id == provider_id => p,
        Ok(flow::Taken::OtherBrowser) => {
            let message =
                "This sign-in was started in another browser, or its cookie is missing. Start again.";
            return sign_in_error(&tenant, StatusCode::FORBIDDEN, message, None);
        }
        Ok(_) => {
            return sign_in_error(
                &tenant,
                StatusCode::BAD_REQUEST,
                "This sign-in attempt has expired or was already used. Start again.",
                None,
            );
        }
        Err(e) => return failure(e),
    };
    let back = back_link(&tenant, Some(&pending.purpose));
    let back = back.as_deref();
    let name =
        tenant.strategies.get(&provider_id).map_or(provider_id.clone(), |s| s.info().display_name.clone());
    if let Some(error) = params.get("error") {
        let message = if error == "access_denied" {
            format!("Signing in with {name} was cancelled.")
        } else {
            format!("{name} refused the sign-in ({}).", error.chars().take(64).collect::<String>())
        };
        return sign_in_error(&tenant, StatusCode::BAD_REQUEST, &message, back);
    }
    let now = chrono::Utc::now();
    let meta = client_meta(req);
    let user = match flow::finish(
        state,
        &tenant,
        &pending,
        param("code"),
        params.get("iss").map(String::as_str),
        &meta,
        now,
    )
    .await
    {
        Ok(u) => u,
        Err(e) => return finish_error(&tenant, &name, e, back),
    };
    let mut resp = match &pending.purpose {
        Purpose::Link { .. } => {
            page(StatusCode::OK, Some(&tenant), |layout| ui::render(&ui::Linked { layout, provider: &name }))
        }
        Purpose::SignIn { request_id } => match load_pending(state, &tenant, request_id).await {
            Ok(Some(authz)) => {
                // An upstream provider's word is one factor with no RFC 8176 value of its own.
                continue_authorization(
                    state,
                    &tenant,
                    request_id,
                    &authz,
                    &user,
                    Vec::new(),
                    &super::remembered(req),
                    meta,
                    now,
                )
                .await
            }
            Ok(None) => error_page(Some(&tenant), StatusCode::BAD_REQUEST, EXPIRED),
            Err(e) => return failure(e),
        },
    };
    let cleared = sso::set_cookie(&state.settings, &binding_cookie_name(state, &slug), "", 0);
    if let Ok(v) = poem::http::HeaderValue::from_str(&cleared) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

fn finish_error(tenant: &TenantContext, name: &str, e: FinishError, back: Option<&str>) -> Response {
    let (status, message) = match e {
        FinishError::ProviderGone => {
            (StatusCode::BAD_REQUEST, format!("Signing in with {name} is not available any more."))
        }
        FinishError::Strategy(StrategyError::Auth(a)) | FinishError::Resolve(ResolveError::Auth(a)) => {
            return failure(a);
        }
        FinishError::Strategy(StrategyError::Upstream(why)) => {
            tracing::warn!(tenant = %tenant.slug, provider = name, error = %why, "upstream failure");
            (
                StatusCode::BAD_GATEWAY,
                format!("{name} did not answer in time or answered with an error. Try again in a moment."),
            )
        }
        FinishError::Strategy(StrategyError::Rejected(why)) => {
            tracing::warn!(tenant = %tenant.slug, provider = name, error = %why, "upstream answer rejected");
            (
                StatusCode::BAD_REQUEST,
                format!("The answer from {name} could not be verified, so you were not signed in."),
            )
        }
        FinishError::Strategy(StrategyError::Unsupported) => {
            (StatusCode::BAD_REQUEST, "This sign-in method is not available.".into())
        }
        FinishError::Resolve(ResolveError::EmailInUse) => (
            StatusCode::CONFLICT,
            format!(
                "An account with the email address of your {name} account already exists. Sign in to it \
                 another way, then link {name} from your account settings."
            ),
        ),
        FinishError::Resolve(ResolveError::LinkedElsewhere) => {
            (StatusCode::CONFLICT, format!("This {name} account is already linked to another user."))
        }
        FinishError::Resolve(ResolveError::ProviderAlreadyLinked) => {
            (StatusCode::CONFLICT, format!("Your account already has another {name} account linked."))
        }
        FinishError::Resolve(ResolveError::RegistrationClosed) => (
            StatusCode::FORBIDDEN,
            "There is no account for you here and new accounts cannot be created.".into(),
        ),
        FinishError::Resolve(ResolveError::Disabled) => {
            (StatusCode::FORBIDDEN, "This account is disabled.".into())
        }
    };
    sign_in_error(tenant, status, &message, back)
}
