//! Browser-facing endpoints that answer with HTML or redirects: the authorization endpoint,
//! the hosted login form and RP-initiated logout. Plain poem handlers; not in the OpenAPI
//! spec, which describes JSON.
use std::sync::Arc;

use poem::{
    Body, Request, Response, handler,
    http::{Method, StatusCode, header},
    web::{Data, Path},
};

use crate::{
    auth::{self, AuthError},
    client_ip::client_meta,
    crypto::random_token,
    oidc::{
        PendingAuthorization,
        authorize::{self, Outcome, Params},
        pages::{self, LoginForm, ProviderButton},
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

fn csrf_cookie_name(state: &AppState, tenant: &str) -> String {
    if state.settings.oidc.insecure_dev_cookies {
        format!("gh_csrf_{tenant}")
    } else {
        format!("__Host-gh_csrf_{tenant}")
    }
}

fn page(status: StatusCode, render: impl FnOnce(&str) -> String) -> Response {
    let nonce = random_token("");
    pages::html(status, render(&nonce), &nonce)
}

fn error_page(tenant: Option<&TenantContext>, status: StatusCode, message: &str) -> Response {
    page(status, |n| pages::error(tenant, message, n))
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
    authorize::parse_params(&raw).map_err(|name| {
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

fn login_page(
    state: &AppState,
    tenant: &TenantContext,
    request_id: &str,
    pending: &PendingAuthorization,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let slug = &tenant.slug;
    let providers: Vec<ProviderButton> = tenant
        .strategies
        .external()
        .map(|s| ProviderButton {
            href: format!("/t/{slug}/auth/{}/start?request={request_id}", s.info().provider_id),
            label: s.info().display_name.clone(),
        })
        .collect();
    let form = LoginForm { tenant, request_id, csrf: &pending.csrf, username, error, providers: &providers };
    let mut resp = page(status, |n| pages::login(&form, n));
    let name = csrf_cookie_name(state, &tenant.slug);
    let max_age = i64::try_from(state.settings.oidc.authorization_ttl_secs).unwrap_or(900);
    let value = sso::set_cookie(&state.settings, &name, &pending.csrf, max_age)
        .replace("SameSite=Lax", "SameSite=Strict");
    if let Ok(v) = poem::http::HeaderValue::from_str(&value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// `GET|POST /t/{tenant}/oauth2/authorize`
#[handler]
pub async fn authorize_endpoint(
    req: &Request,
    Path(slug): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let tenant = match active_tenant(state, &slug).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let params = match params_of(req, body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let sso_cookie = cookie(req, &sso::cookie_name(&state.settings, &slug));
    match authorize::authorize(state, &tenant, &params, sso_cookie, chrono::Utc::now()).await {
        Ok(Outcome::ErrorPage(message)) => error_page(Some(&tenant), StatusCode::BAD_REQUEST, &message),
        Ok(Outcome::Redirect(location)) => redirect(&location),
        Ok(Outcome::Login { request_id, pending }) => {
            let hint = pending.login_hint.clone().unwrap_or_default();
            login_page(state, &tenant, &request_id, &pending, &hint, None, StatusCode::OK)
        }
        Err(e) => failure(e),
    }
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
    let form = match params_of(req, body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let request_id = field("request");
    let key = authorize::pending_key(&tenant, request_id);
    let pending = match load_pending(state, &tenant, request_id).await {
        Ok(Some(p)) => p,
        Ok(None) => return error_page(Some(&tenant), StatusCode::BAD_REQUEST, EXPIRED),
        Err(e) => return failure(e),
    };
    let from_cookie = cookie(req, &csrf_cookie_name(state, &slug)).unwrap_or_default();
    let same = |a: &str, b: &str| {
        aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
    };
    if !(same(field("csrf"), &pending.csrf) && same(from_cookie, &pending.csrf)) {
        return error_page(Some(&tenant), StatusCode::FORBIDDEN, EXPIRED);
    }
    let now = chrono::Utc::now();
    let meta = client_meta(req);
    let devices = auth::device::from_cookie_headers(
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
    let mut resp = continue_authorization(state, &tenant, &key, &pending, user.user.id, meta, now).await;
    if let Ok(v) = poem::http::HeaderValue::from_str(&user.device_cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// After a successful sign-in by any strategy: opens the SSO session, consumes the pending
/// request and returns to the client app with a code.
async fn continue_authorization(
    state: &AppState,
    tenant: &TenantContext,
    pending_key: &str,
    pending: &PendingAuthorization,
    user_id: uuid::Uuid,
    meta: auth::ClientMeta,
    now: chrono::DateTime<chrono::Utc>,
) -> Response {
    let (cookie_value, session) = match sso::start(state, tenant, user_id, meta, now).await {
        Ok(v) => v,
        Err(e) => return failure(e),
    };
    if let Err(e) = state.kv.delete(pending_key).await {
        return failure(e.into());
    }
    let location = match authorize::issue_code(state, tenant, pending, &session).await {
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
    let raw = state.kv.get(&authorize::pending_key(tenant, request_id)).await?;
    Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
}

const EXPIRED: &str = "This sign-in form has expired. Go back to the application and start again.";

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
    page(status, |n| pages::error_with_back(tenant, message, back, n))
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
    let user = match flow::finish(state, &tenant, &pending, param("code"), &meta, now).await {
        Ok(u) => u,
        Err(e) => return finish_error(&tenant, &name, e, back),
    };
    let mut resp = match &pending.purpose {
        Purpose::Link { .. } => page(StatusCode::OK, |n| pages::linked(&tenant, &name, n)),
        Purpose::SignIn { request_id } => match load_pending(state, &tenant, request_id).await {
            Ok(Some(authz)) => {
                let key = authorize::pending_key(&tenant, request_id);
                continue_authorization(state, &tenant, &key, &authz, user.id, meta, now).await
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
    let params = match params_of(req, body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let now = chrono::Utc::now();
    let hint = params.get("id_token_hint").and_then(|h| {
        let kid = crate::tokens::keys::kid_of(h)?;
        tenant.verifier(&kid)?.verify_hint(h).ok()
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
        let action = format!("/t/{}/oauth2/logout", pages::escape(&slug));
        let keep: String = ["post_logout_redirect_uri", "state", "client_id"]
            .iter()
            .filter_map(|k| {
                params
                    .get(*k)
                    .map(|v| format!(r#"<input type="hidden" name="{k}" value="{}">"#, pages::escape(v)))
            })
            .collect();
        return page(StatusCode::OK, |n| {
            pages::confirm_logout(
                &tenant,
                &format!(
                    r#"<form method="POST" action="{action}">{keep}<input type="hidden" name="confirm" value="yes"><button type="submit">Sign out</button></form>"#
                ),
                n,
            )
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
    for sid in ended {
        if let Err(e) = sso::end(state, &tenant, sid, now).await {
            return failure(e);
        }
    }
    let mut resp = match target {
        Some(location) => redirect(&location),
        None => page(StatusCode::OK, |n| pages::logged_out(&tenant, n)),
    };
    if let Ok(v) = poem::http::HeaderValue::from_str(&sso::set_cookie(&state.settings, &cookie_name, "", 0)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}
