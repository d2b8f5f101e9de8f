//! Browser SSO sessions (the express-session idea): an opaque random id in a `__Host-`
//! cookie, the session data in the shared store with an idle timeout, an absolute limit, and
//! a row in `sessions` so admins can list and revoke it like any other session.
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    auth::{AuthError, ClientMeta},
    config::Settings,
    crypto::{random_token, sha256_b64},
    state::AppState,
    store::{self, sessions::NewSession},
    tenancy::TenantContext,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SsoSession {
    pub session_id: Uuid,
    pub user_id: Uuid,
    /// Unix seconds of the sign-in.
    pub auth_time: i64,
    /// How the user authenticated (RFC 8176), so a later request can tell whether the
    /// session is strong enough for it (`acr_values`).
    #[serde(default)]
    pub amr: Vec<String>,
}

fn store_key(tenant: &TenantContext, cookie: &str) -> String {
    // Only a hash of the cookie is stored: a store dump does not yield usable session cookies.
    format!("sso:{{{}}}:{}", tenant.id, sha256_b64(cookie))
}

/// One cookie per tenant, so signing in to one tenant never replaces another's session.
pub fn cookie_name(settings: &Settings, tenant: &str) -> String {
    if settings.oidc.insecure_dev_cookies {
        format!("gh_sso_{tenant}")
    } else {
        format!("__Host-gh_sso_{tenant}")
    }
}

pub fn set_cookie(settings: &Settings, name: &str, value: &str, max_age: i64) -> String {
    let secure = if settings.oidc.insecure_dev_cookies { "" } else { "; Secure" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

/// Opens an SSO session after a successful sign-in; returns the cookie value.
///
/// # Errors
/// Infrastructure failures.
pub async fn start(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
    amr: Vec<String>,
    meta: ClientMeta,
    now: DateTime<Utc>,
) -> Result<(String, SsoSession), AuthError> {
    let absolute = i64::try_from(state.settings.oidc.sso_absolute_secs).unwrap_or(i64::MAX);
    let new = NewSession {
        id: None,
        user_id,
        client_id: None,
        parent_id: None,
        scope: None,
        auth_time: Some(now),
        ip: meta.ip,
        user_agent: meta.user_agent,
        expires_at: now + ChronoDuration::seconds(absolute),
    };
    let row = store::sessions::create(&state.db, tenant.id, new, now).await?;
    let cookie = random_token("");
    let session = SsoSession { session_id: row.id, user_id, auth_time: now.timestamp(), amr };
    let value = serde_json::to_string(&session).map_err(anyhow::Error::from)?;
    let idle = std::time::Duration::from_secs(state.settings.oidc.sso_idle_secs);
    state.kv.set_many_ex(&[(store_key(tenant, &cookie), value, idle)]).await?;
    Ok((cookie, session))
}

/// The live session behind a cookie, extending its idle timeout; `None` when expired,
/// revoked or unknown.
///
/// # Errors
/// Infrastructure failures.
pub async fn current(
    state: &AppState,
    tenant: &TenantContext,
    cookie: &str,
    now: DateTime<Utc>,
) -> Result<Option<SsoSession>, AuthError> {
    let key = store_key(tenant, cookie);
    let Some(raw) = state.kv.get(&key).await? else { return Ok(None) };
    let Ok(session) = serde_json::from_str::<SsoSession>(&raw) else { return Ok(None) };
    let absolute = i64::try_from(state.settings.oidc.sso_absolute_secs).unwrap_or(i64::MAX);
    if session.auth_time + absolute <= now.timestamp()
        || state.revocations.is_session_revoked(tenant.id, session.session_id).await?
    {
        state.kv.delete(&key).await?;
        return Ok(None);
    }
    let idle = std::time::Duration::from_secs(state.settings.oidc.sso_idle_secs);
    state.kv.set_many_ex(&[(key, raw, idle)]).await?;
    Ok(Some(session))
}

/// Ends the SSO session and every client grant opened from it.
///
/// # Errors
/// Infrastructure failures.
pub async fn end(
    state: &AppState,
    tenant: &TenantContext,
    session_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    let mut ids = store::sessions::revoke_children(&state.db, tenant.id, session_id, now).await?;
    ids.push(session_id);
    state.revocations.revoke_sessions(tenant.id, &ids).await?;
    store::sessions::revoke(&state.db, tenant.id, session_id, now).await?;
    Ok(())
}

/// Ends the SSO session because its user signed out (RP-initiated logout) and audits it, with
/// the session, its user and the client that sent the user, as the JSON logout does.
///
/// # Errors
/// Infrastructure failures.
pub async fn sign_out(
    state: &AppState,
    tenant: &TenantContext,
    session_id: Uuid,
    client_id: Option<&str>,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    let session = store::sessions::find(&state.db, tenant.id, session_id).await?;
    end(state, tenant, session_id, now).await?;
    let user = session.as_ref().map(|s| s.user_id);
    let how = serde_json::json!({ "via": "end_session_endpoint" });
    crate::auth::record_logout(state, tenant.id, user, Some(session_id), client_id, how, meta, now).await;
    Ok(())
}

/// Forgets a cookie's session data (the session itself is ended by [`end`]).
///
/// # Errors
/// Infrastructure failures.
pub async fn forget(state: &AppState, tenant: &TenantContext, cookie: &str) -> Result<(), AuthError> {
    Ok(state.kv.delete(&store_key(tenant, cookie)).await?)
}
