//! The authorization endpoint (OpenID Connect Core 3.1.2, RFC 6749 4.1, RFC 7636, RFC 9207).
//! Until the client and its redirect URI are trusted, errors are shown to the user; after
//! that they go back to the client with `error`, `state` and `iss`.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{CodeRecord, IssuedCode, PendingAuthorization, redirect, sso::SsoSession};
use crate::{
    auth::AuthError,
    crypto::{random_token, sha256_b64},
    domain::authn,
    state::AppState,
    store::{self, entities::clients},
    tenancy::TenantContext,
};

/// What the browser gets next.
pub enum Outcome {
    /// The request cannot be trusted enough to redirect: show this message.
    ErrorPage(String),
    /// Back to the client with an error.
    Redirect(String),
    /// The user must sign in; the pending request is stored under this id.
    Login { request_id: String, pending: PendingAuthorization },
}

/// Parameters as received: each may appear at most once (RFC 6749 3.1).
pub type Params = HashMap<String, String>;

/// Parses a query string or form body, refusing repeated parameters.
///
/// # Errors
/// The name of a repeated parameter.
pub fn parse_params(raw: &str) -> Result<Params, String> {
    let mut out = Params::new();
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(k.to_string());
        }
    }
    Ok(out)
}

pub fn pending_key(tenant: &TenantContext, id: &str) -> String {
    format!("authz:{{{}}}:{id}", tenant.id)
}

fn code_key(tenant: &TenantContext, code: &str) -> String {
    format!("code:{{{}}}:{}", tenant.id, sha256_b64(code))
}

/// `uri` with `params` appended to its query.
pub fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{}", s.finish())
}

fn error_redirect(
    tenant: &TenantContext,
    uri: &str,
    error: &str,
    description: &str,
    state: Option<&str>,
) -> Outcome {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(s) = state {
        params.push(("state", s));
    }
    params.push(("iss", &tenant.issuer));
    Outcome::Redirect(with_query(uri, &params))
}

fn json_strings(v: &serde_json::Value) -> Vec<String> {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

/// The client and the redirect URI to use, or the message to show.
///
/// # Errors
/// Infrastructure failures.
pub async fn trusted_client(
    state: &AppState,
    tenant: &TenantContext,
    params: &Params,
) -> Result<Result<(clients::Model, String), String>, AuthError> {
    let Some(client_id) = params.get("client_id").filter(|c| !c.is_empty()) else {
        return Ok(Err("The request has no client_id.".into()));
    };
    let client = store::clients::find(&state.db, tenant.id, client_id).await?.filter(|c| c.enabled);
    let Some(client) = client else {
        return Ok(Err("The application is not known to this sign-in service.".into()));
    };
    let Some(requested) = params.get("redirect_uri").filter(|r| !r.is_empty()) else {
        return Ok(Err("The request has no redirect_uri.".into()));
    };
    if !json_strings(&client.redirect_uris).iter().any(|r| redirect::matches(r, requested)) {
        return Ok(Err("The redirect_uri is not registered for this application.".into()));
    }
    Ok(Ok((client, requested.clone())))
}

/// Validates an authorization request and decides: sign in, redirect with a code, or error.
///
/// # Errors
/// Infrastructure failures.
pub async fn authorize(
    state: &AppState,
    tenant: &TenantContext,
    params: &Params,
    sso_cookie: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Outcome, AuthError> {
    let (client, redirect_uri) = match trusted_client(state, tenant, params).await? {
        Ok(v) => v,
        Err(message) => return Ok(Outcome::ErrorPage(message)),
    };
    let client_state = params.get("state").map(String::as_str);
    let fail = |error: &str, description: &str| {
        error_redirect(tenant, &redirect_uri, error, description, client_state)
    };

    if client_state.is_some_and(|s| s.len() > 1024) || params.get("nonce").is_some_and(|n| n.len() > 1024) {
        return Ok(fail("invalid_request", "state and nonce must be at most 1024 characters"));
    }
    match params.get("response_type").map(String::as_str) {
        Some("code") => {}
        None => return Ok(fail("invalid_request", "response_type is required")),
        Some(_) => return Ok(fail("unsupported_response_type", "only the code flow is supported")),
    }
    if params.get("response_mode").is_some_and(|m| m != "query") {
        return Ok(fail("invalid_request", "only response_mode=query is supported"));
    }
    if params.contains_key("request") || params.contains_key("request_uri") {
        return Ok(fail("request_not_supported", "request objects are not supported"));
    }
    if !json_strings(&client.grant_types).iter().any(|g| g == "authorization_code") {
        return Ok(fail("unauthorized_client", "this client may not use the authorization code flow"));
    }
    let scope = params
        .get("scope")
        .map(|s| s.split(' ').filter(|x| !x.is_empty()).collect::<Vec<_>>())
        .unwrap_or_default();
    if scope.is_empty() {
        return Ok(fail("invalid_scope", "scope is required"));
    }
    let allowed = json_strings(&client.scopes);
    if let Some(bad) = scope.iter().find(|s| !allowed.iter().any(|a| a == *s)) {
        return Ok(fail("invalid_scope", &format!("scope {bad} is not allowed for this client")));
    }
    let challenge = params.get("code_challenge");
    match (challenge, params.get("code_challenge_method").map(String::as_str)) {
        (Some(c), Some("S256")) if super::valid_challenge(c) => {}
        (Some(_), Some("S256")) => {
            return Ok(fail("invalid_request", "code_challenge must be 43 characters of base64url (S256)"));
        }
        (Some(_), _) => return Ok(fail("invalid_request", "code_challenge_method must be S256")),
        (None, Some(_)) => {
            return Ok(fail("invalid_request", "code_challenge_method without code_challenge"));
        }
        (None, None) if super::pkce_required(&client) => {
            return Ok(fail(
                "invalid_request",
                "PKCE (code_challenge with S256) is required for this client",
            ));
        }
        (None, None) => {}
    }
    let prompts: Vec<&str> =
        params.get("prompt").map(|p| p.split(' ').filter(|x| !x.is_empty()).collect()).unwrap_or_default();
    if prompts.contains(&"none") && prompts.len() > 1 {
        return Ok(fail("invalid_request", "prompt=none cannot be combined with other values"));
    }
    let max_age = match params.get("max_age").map(|m| m.parse::<u64>()) {
        None => None,
        Some(Ok(m)) => Some(i64::try_from(m).unwrap_or(i64::MAX)),
        Some(Err(_)) => return Ok(fail("invalid_request", "max_age must be a non-negative integer")),
    };

    let (mut acr_level, mut essential) = match requested_acr(params) {
        Ok(v) => v,
        Err(message) => return Ok(fail("invalid_request", message)),
    };
    // The client's own policy: every sign-in it starts needs a second factor.
    if client.require_second_factor {
        (acr_level, essential) = (Some(2), true);
    }
    if acr_level == Some(2) && essential && tenant.settings.second_factor.is_off() {
        return Ok(fail(
            "unmet_authentication_requirements",
            "this tenant has second factors turned off, so the essential acr cannot be met",
        ));
    }
    let session = match sso_cookie {
        Some(c) => super::sso::current(state, tenant, c, now).await?,
        None => None,
    };
    let too_old = |s: &SsoSession| max_age.is_some_and(|m| s.auth_time.saturating_add(m) < now.timestamp());
    let strong_enough = |s: &SsoSession| acr_level.is_none_or(|l| s.level() >= l);
    let usable = session.filter(|s| !prompts.contains(&"login") && !too_old(s) && strong_enough(s));
    let pending = PendingAuthorization {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.clone(),
        scope: scope.join(" "),
        state: client_state.map(str::to_string),
        nonce: params.get("nonce").cloned(),
        code_challenge: challenge.cloned(),
        login_hint: params.get("login_hint").cloned(),
        csrf: random_token(""),
        acr_level,
    };
    if let Some(session) = usable {
        let user_active = store::users::find_by_id(&state.db, tenant.id, session.user_id)
            .await?
            .is_some_and(|u| u.status == "active");
        if user_active {
            return Ok(Outcome::Redirect(issue_code(state, tenant, &pending, &session).await?));
        }
    }
    if prompts.contains(&"none") {
        return Ok(fail("login_required", "the user is not signed in"));
    }
    let request_id = random_token("");
    let value = serde_json::to_string(&pending).map_err(anyhow::Error::from)?;
    let ttl = std::time::Duration::from_secs(state.settings.oidc.authorization_ttl_secs);
    state.kv.set_many_ex(&[(pending_key(tenant, &request_id), value, ttl)]).await?;
    Ok(Outcome::Login { request_id, pending })
}

/// The level asked for by `acr_values` or, taking precedence, the `claims` parameter's
/// `id_token.acr` (`value` or `values`), and whether the latter marked it essential. Values we
/// do not know ask for nothing.
///
/// # Errors
/// A `claims` parameter that is not a JSON object.
fn requested_acr(params: &Params) -> Result<(Option<u8>, bool), &'static str> {
    let mut level = params.get("acr_values").and_then(|v| authn::requested_level(v.split(' ')));
    let mut essential = false;
    if let Some(raw) = params.get("claims") {
        let claims: serde_json::Value =
            serde_json::from_str(raw).map_err(|_| "claims must be a JSON object")?;
        if !claims.is_object() {
            return Err("claims must be a JSON object");
        }
        if let Some(acr) = claims.get("id_token").and_then(|t| t.get("acr")).filter(|a| a.is_object()) {
            let values: Vec<&str> = match (acr.get("values"), acr.get("value")) {
                (Some(serde_json::Value::Array(vs)), _) => {
                    vs.iter().filter_map(serde_json::Value::as_str).collect()
                }
                (_, Some(serde_json::Value::String(v))) => vec![v.as_str()],
                _ => Vec::new(),
            };
            if let Some(l) = authn::requested_level(values) {
                level = Some(l);
                essential = acr.get("essential").and_then(serde_json::Value::as_bool).unwrap_or(false);
            }
        }
    }
    Ok((level, essential))
}

/// Issues a single-use code for a signed-in user and returns the client redirect carrying it.
///
/// # Errors
/// Infrastructure failures.
pub async fn issue_code(
    state: &AppState,
    tenant: &TenantContext,
    pending: &PendingAuthorization,
    session: &SsoSession,
) -> Result<String, AuthError> {
    let code = random_token("ghc_");
    let record = CodeRecord::Issued(IssuedCode {
        client_id: pending.client_id.clone(),
        redirect_uri: pending.redirect_uri.clone(),
        user_id: session.user_id,
        scope: pending.scope.clone(),
        nonce: pending.nonce.clone(),
        code_challenge: pending.code_challenge.clone(),
        auth_time: session.auth_time,
        sso_session_id: session.session_id,
        amr: session.amr.clone(),
    });
    let value = serde_json::to_string(&record).map_err(anyhow::Error::from)?;
    let ttl = std::time::Duration::from_secs(state.settings.oidc.code_ttl_secs);
    state.kv.set_many_ex(&[(code_key(tenant, &code), value, ttl)]).await?;
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = &pending.state {
        params.push(("state", s));
    }
    params.push(("iss", &tenant.issuer));
    Ok(with_query(&pending.redirect_uri, &params))
}

/// What a code stands for, without consuming it.
///
/// # Errors
/// Infrastructure failures.
pub async fn peek_code(
    state: &AppState,
    tenant: &TenantContext,
    code: &str,
) -> Result<Option<CodeRecord>, AuthError> {
    let value = state.kv.get(&code_key(tenant, code)).await?;
    Ok(value.and_then(|v| serde_json::from_str(&v).ok()))
}

/// Consumes a code for `client_id`: the first redemption gets its record, later ones learn
/// which session the first one opened (to revoke it: RFC 6749 4.1.2).
///
/// # Errors
/// Infrastructure failures.
pub async fn redeem_code(
    state: &AppState,
    tenant: &TenantContext,
    code: &str,
    client_id: &str,
    session_id: Uuid,
) -> Result<Option<CodeRecord>, AuthError> {
    let marker = CodeRecord::Redeemed { session_id, client_id: Some(client_id.to_string()) };
    let marker = serde_json::to_string(&marker).map_err(anyhow::Error::from)?;
    // The marker outlives the code so a late replay is still recognised.
    let keep = std::time::Duration::from_secs(600);
    let old = state.kv.replace(&code_key(tenant, code), &marker, keep).await?;
    Ok(old.and_then(|o| serde_json::from_str(&o).ok()))
}
