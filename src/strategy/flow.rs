//! The round trip through an external provider. `start` keeps what the callback needs (PKCE
//! verifier, nonce, purpose) in the shared store under a hash of the `state` value, bound to
//! the browser by a cookie; `finish` consumes it exactly once and turns the upstream answer
//! into a user through the linking policy.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{
    StrategyError,
    link::{self, ResolveError},
};
use crate::{
    audit::{self, Event},
    auth::{AuthError, ClientMeta},
    crypto::{random_token, sha256_b64},
    metrics::LoginOutcome,
    state::AppState,
    store::entities::users,
    tenancy::TenantContext,
    upstream::{Begin, Callback, Strategy},
};

/// Marks a consumed login so a replayed callback is told apart from an unknown one.
const USED: &str = "used";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Purpose {
    /// Continue a pending authorization request (the hosted login page's `request`).
    SignIn { request_id: String },
    /// Link the upstream account to this signed-in user.
    Link { user_id: Uuid },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingExternal {
    pub provider_row_id: Uuid,
    pub provider_id: String,
    /// SHA-256 of the browser-binding cookie: a callback from another browser is refused.
    pub browser: String,
    pub pkce_verifier: String,
    pub nonce: String,
    pub purpose: Purpose,
}

fn pending_key(tenant: &TenantContext, state_param: &str) -> String {
    format!("xl:{{{}}}:{}", tenant.id, sha256_b64(state_param))
}

fn ticket_key(tenant: &TenantContext, ticket: &str) -> String {
    format!("xlt:{{{}}}:{}", tenant.id, sha256_b64(ticket))
}

/// Our redirect URI at the provider; admins register it there.
pub fn callback_url(tenant: &TenantContext, provider_id: &str) -> String {
    format!("{}/auth/{provider_id}/callback", tenant.issuer)
}

pub struct Started {
    /// The upstream authorization URL.
    pub location: String,
    /// Value of the browser-binding cookie to set.
    pub browser: String,
}

/// # Errors
/// The provider cannot be reached (discovery) or the store failed.
pub async fn start(
    state: &AppState,
    tenant: &TenantContext,
    strategy: &dyn Strategy,
    purpose: Purpose,
) -> Result<Started, StrategyError> {
    let info = strategy.info();
    let state_param = random_token("");
    let browser = random_token("");
    let pending = PendingExternal {
        provider_row_id: info.row_id,
        provider_id: info.provider_id.clone(),
        browser: sha256_b64(&browser),
        pkce_verifier: random_token(""),
        nonce: random_token(""),
        purpose,
    };
    let redirect_uri = callback_url(tenant, &info.provider_id);
    let begin = Begin {
        state: &state_param,
        nonce: &pending.nonce,
        pkce_verifier: &pending.pkce_verifier,
        redirect_uri: &redirect_uri,
    };
    let location = strategy.begin(&state.upstream, &begin).await?;
    let value = serde_json::to_string(&pending).map_err(|e| AuthError::Unexpected(e.into()))?;
    let ttl = std::time::Duration::from_secs(state.settings.upstream.login_ttl_secs);
    state
        .kv
        .set_many_ex(&[(pending_key(tenant, &state_param), value, ttl)])
        .await
        .map_err(AuthError::from)?;
    Ok(Started { location, browser })
}

pub enum Taken {
    Pending(PendingExternal),
    /// Unknown, expired or already used.
    Unknown,
    /// The login exists but this browser did not start it; it stays usable by the one that did.
    OtherBrowser,
}

/// The pending login for a callback's `state`, consumed if `browser_cookie` is the one that
/// started it: a second callback with the same `state` gets [`Taken::Unknown`].
///
/// # Errors
/// The store failed.
pub async fn take(
    state: &AppState,
    tenant: &TenantContext,
    state_param: &str,
    browser_cookie: &str,
) -> Result<Taken, AuthError> {
    if state_param.is_empty() || state_param.len() > 256 {
        return Ok(Taken::Unknown);
    }
    let key = pending_key(tenant, state_param);
    let parse = |raw: Option<String>| {
        raw.filter(|o| o != USED).and_then(|o| serde_json::from_str::<PendingExternal>(&o).ok())
    };
    let Some(peeked) = parse(state.kv.get(&key).await?) else { return Ok(Taken::Unknown) };
    let same = aws_lc_rs::constant_time::verify_slices_are_equal(
        sha256_b64(browser_cookie).as_bytes(),
        peeked.browser.as_bytes(),
    );
    if browser_cookie.is_empty() || same.is_err() {
        return Ok(Taken::OtherBrowser);
    }
    let ttl = std::time::Duration::from_secs(state.settings.upstream.login_ttl_secs);
    // The swap decides between concurrent callbacks of the same browser: one wins.
    Ok(match parse(state.kv.replace(&key, USED, ttl).await?) {
        Some(p) => Taken::Pending(p),
        None => Taken::Unknown,
    })
}

/// A single-use ticket that lets a signed-in user's browser start linking a provider.
///
/// # Errors
/// The store failed.
pub async fn issue_link_ticket(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
) -> Result<String, AuthError> {
    let ticket = random_token("ghl_");
    let ttl = std::time::Duration::from_secs(state.settings.upstream.login_ttl_secs);
    state.kv.set_many_ex(&[(ticket_key(tenant, &ticket), user_id.to_string(), ttl)]).await?;
    Ok(ticket)
}

/// # Errors
/// The store failed.
pub async fn take_link_ticket(
    state: &AppState,
    tenant: &TenantContext,
    ticket: &str,
) -> Result<Option<Uuid>, AuthError> {
    if ticket.len() > 256 {
        return Ok(None);
    }
    let ttl = std::time::Duration::from_secs(state.settings.upstream.login_ttl_secs);
    let old = state.kv.replace(&ticket_key(tenant, ticket), USED, ttl).await?;
    Ok(old.and_then(|o| Uuid::parse_str(&o).ok()))
}

#[derive(Debug, thiserror::Error)]
pub enum FinishError {
    /// Disabled, deleted, or deleted and created again since the login started.
    #[error("this provider is not available any more")]
    ProviderGone,
    #[error(transparent)]
    Strategy(#[from] StrategyError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
}

/// Checks the response's issuer (RFC 9207, for issuers that have one), exchanges the code and
/// resolves the user. Every outcome is audited.
///
/// # Errors
/// See [`FinishError`]; no user, identity or session is created when it fails.
pub async fn finish(
    state: &AppState,
    tenant: &TenantContext,
    pending: &PendingExternal,
    code: &str,
    iss: Option<&str>,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<users::Model, FinishError> {
    let strategy = tenant
        .strategies
        .get(&pending.provider_id)
        .filter(|s| s.info().row_id == pending.provider_row_id && s.capabilities().redirect)
        .ok_or(FinishError::ProviderGone)?;
    let info = strategy.info();
    let redirect_uri = callback_url(tenant, &info.provider_id);
    let callback = Callback {
        code,
        iss,
        nonce: &pending.nonce,
        pkce_verifier: &pending.pkce_verifier,
        redirect_uri: &redirect_uri,
    };
    let link_to = match pending.purpose {
        Purpose::Link { user_id } => Some(user_id),
        Purpose::SignIn { .. } => None,
    };
    // The upstream subject, once the provider vouched for it: an investigator of a failed
    // login needs to know which upstream account was refused.
    let mut subject = None;
    let result = match strategy.complete(&state.upstream, callback).await {
        Ok(identity) => {
            subject = Some(identity.subject.clone());
            link::resolve(state, tenant, info, &identity, link_to, meta, now).await.map_err(FinishError::from)
        }
        Err(e) => Err(StrategyError::from(e).into()),
    };
    let (success, user_id, reason) = match &result {
        Ok(u) => (true, Some(u.id), None),
        Err(e) => (false, None, Some(e.to_string())),
    };
    let event = Event {
        tenant_id: tenant.id,
        event_type: if success { "login.succeeded" } else { "login.failed" },
        actor: None,
        user_id,
        target: Some(format!("provider:{}", info.provider_id)),
        success,
        meta,
        details: json!({ "strategy": info.kind, "provider": info.provider_id, "reason": reason,
                         "link": link_to.is_some(), "subject": subject }),
    };
    audit::record(&state.db, event, now).await;
    let outcome = if success { LoginOutcome::Succeeded } else { LoginOutcome::Failed };
    state.metrics.login(&info.kind, outcome);
    result
}
