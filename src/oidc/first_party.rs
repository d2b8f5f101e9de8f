//! The account page and the console as first-party clients of a tenant: they sign people in
//! through the tenant's own authorization endpoint (so SSO, second factors and external
//! providers apply as for any app), with PKCE, and keep a server-side web session in the
//! shared store behind an opaque cookie. The session stands on the token session the code
//! exchange opened, so signing out everywhere, an admin's revocation or a disabled user ends it.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::token::{self, TokenRequest};
use crate::{
    auth::{AuthError, ClientMeta},
    crypto::{b64url, random_token, sha256_b64},
    state::AppState,
    store::{self, entities::clients},
    tenancy::TenantContext,
};

/// Which face signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Face {
    Account,
    Console,
}

impl Face {
    /// The reserved client id of the internal client in each tenant.
    pub fn client_id(self) -> &'static str {
        match self {
            Self::Account => "gatehouse-account",
            Self::Console => "gatehouse-console",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Account => "Account page",
            Self::Console => "Admin console",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Console => "console",
        }
    }

    /// Where the tenant sends the browser back with the code.
    pub fn redirect_uri(self, public_url: &str, slug: &str) -> String {
        match self {
            Self::Account => format!("{public_url}/t/{slug}/account/callback"),
            Self::Console => format!("{public_url}/console/callback"),
        }
    }
}

/// A signed-in browser of the account page or console.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebSession {
    pub face: Face,
    /// The tenant the user signed in to (the console's admin's home tenant).
    pub tenant: String,
    pub user_id: Uuid,
    /// The token session the code exchange opened (a child of the SSO session).
    pub session_id: Uuid,
    /// The SSO session it came from.
    pub sso_session_id: Option<Uuid>,
    pub amr: Vec<String>,
    /// Unix seconds of the web session's start (the sign-in, or SSO reuse).
    pub started: i64,
    /// Unix seconds of the sign-in behind it (`auth_time`: earlier than `started` when SSO
    /// let the user straight in), for actions that want a recent one.
    #[serde(default)]
    pub auth_time: i64,
    /// Every form of this session carries it.
    pub csrf: String,
}

/// A sign-in in flight: what the callback needs, keyed by the `state` it sent.
#[derive(Serialize, Deserialize)]
struct Pending {
    face: Face,
    verifier: String,
    return_to: String,
}

fn pending_key(tenant: &TenantContext, state_param: &str) -> String {
    format!("fp:{{{}}}:{}", tenant.id, sha256_b64(state_param))
}

fn session_key(tenant_slug: &str, face: Face, cookie: &str) -> String {
    // Only a hash of the cookie is stored, as for SSO sessions.
    format!("web:{}:{tenant_slug}:{}", face.as_str(), sha256_b64(cookie))
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

/// The internal client of `face` in `tenant`, created the first time it is needed: public,
/// PKCE required, the authorization-code grant only, one redirect URI. `None` when the reserved
/// id is taken by a client that is disabled or does not name that redirect URI (an admin
/// changed it): the face then refuses to sign anyone in rather than send codes elsewhere.
///
/// # Errors
/// Infrastructure failures.
pub async fn ensure_client(
    state: &AppState,
    tenant: &TenantContext,
    face: Face,
    now: DateTime<Utc>,
) -> Result<Option<clients::Model>, AuthError> {
    let redirect = face.redirect_uri(&state.settings.public_url(), &tenant.slug);
    if let Some(c) = store::clients::find(&state.db, tenant.id, face.client_id()).await? {
        let ok = c.enabled && c.client_type == "public" && strings(&c.redirect_uris).contains(&redirect);
        return Ok(ok.then_some(c));
    }
    let row = clients::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        client_id: face.client_id().into(),
        name: face.name().into(),
        client_type: "public".into(),
        secret_hash: None,
        redirect_uris: json!([redirect]),
        post_logout_redirect_uris: json!([]),
        grant_types: json!(["authorization_code"]),
        scopes: json!(["openid", "profile", "email"]),
        access_token_ttl_secs: None,
        refresh_token_ttl_secs: None,
        enabled: true,
        pkce_required: true,
        // The tenant's policy and the app's acr_values decide; the faces ask for nothing more.
        require_second_factor: false,
        created_at: now,
        updated_at: now,
    };
    match store::clients::insert(&state.db, row).await {
        Ok(c) => Ok(Some(c)),
        // Another instance created it at the same moment.
        Err(_) => Ok(store::clients::find(&state.db, tenant.id, face.client_id()).await?),
    }
}

/// A sign-in sent to the tenant's authorization endpoint.
pub struct Started {
    /// The authorization URL (a same-origin path).
    pub location: String,
    /// The `state` sent; the face keeps it in a short cookie so that only the browser that
    /// started the sign-in can finish it (no signing someone in to another's account).
    pub state: String,
}

/// Starts a sign-in: remembers a PKCE verifier under a fresh `state`, and returns where to
/// send the browser; with `fresh`, the tenant signs the user in again even with an SSO
/// session. `None` as [`ensure_client`].
///
/// # Errors
/// Infrastructure failures.
pub async fn begin(
    state: &AppState,
    tenant: &TenantContext,
    face: Face,
    return_to: &str,
    fresh: bool,
    now: DateTime<Utc>,
) -> Result<Option<Started>, AuthError> {
    let Some(client) = ensure_client(state, tenant, face, now).await? else { return Ok(None) };
    let state_param = random_token("");
    let verifier = random_token("");
    let challenge =
        b64url(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref());
    let pending = Pending { face, verifier, return_to: return_to.into() };
    let value = serde_json::to_string(&pending).map_err(anyhow::Error::from)?;
    let ttl = std::time::Duration::from_secs(state.settings.oidc.authorization_ttl_secs);
    state.kv.set_many_ex(&[(pending_key(tenant, &state_param), value, ttl)]).await?;
    let redirect = face.redirect_uri(&state.settings.public_url(), &tenant.slug);
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if fresh {
        // A step-up: the tenant asks for the password (and second factor) again, SSO or not.
        query.append_pair("prompt", "login");
    }
    let query = query
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.client_id)
        .append_pair("redirect_uri", &redirect)
        .append_pair("scope", "openid profile email")
        .append_pair("state", &state_param)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    Ok(Some(Started { location: format!("/t/{}/oauth2/authorize?{query}", tenant.slug), state: state_param }))
}

/// A finished sign-in: the cookie value to set, the session, where to go next.
pub struct SignedIn {
    pub cookie: String,
    pub session: WebSession,
    pub return_to: String,
}

/// Finishes a sign-in at the callback: checks the `state` against the one the browser kept
/// (`browser_state`), spends it (once), redeems the code at the
/// token endpoint's own function with the PKCE verifier, verifies the access token it got like
/// any bearer token, and opens the web session. `None` for an unknown, spent or foreign state,
/// or a code the token endpoint refuses.
///
/// # Errors
/// Infrastructure failures.
pub async fn finish(
    state: &AppState,
    tenant: &TenantContext,
    face: Face,
    code: &str,
    state_param: &str,
    browser_state: &str,
    meta: ClientMeta,
    now: DateTime<Utc>,
) -> Result<Option<SignedIn>, AuthError> {
    let same =
        aws_lc_rs::constant_time::verify_slices_are_equal(state_param.as_bytes(), browser_state.as_bytes());
    if state_param.is_empty() || state_param.len() > 256 || same.is_err() {
        return Ok(None);
    }
    let key = pending_key(tenant, state_param);
    let spent = state.kv.replace(&key, "", std::time::Duration::from_secs(1)).await?;
    let Some(pending) = spent.and_then(|v| serde_json::from_str::<Pending>(&v).ok()) else { return Ok(None) };
    if pending.face != face {
        return Ok(None);
    }
    let Some(client) = ensure_client(state, tenant, face, now).await? else { return Ok(None) };
    let request = TokenRequest {
        grant_type: "authorization_code".into(),
        code: Some(code.into()),
        redirect_uri: Some(face.redirect_uri(&state.settings.public_url(), &tenant.slug)),
        code_verifier: Some(pending.verifier),
        refresh_token: None,
        scope: None,
    };
    let tokens = match token::exchange(state, tenant, &client, false, request, meta, now).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(tenant = %tenant.slug, face = face.as_str(), error = e.code(), "first-party code refused");
            return Ok(None);
        }
    };
    let principal = crate::auth::authenticate(state, &tenant.slug, &tokens.access_token).await?;
    let Some(session_id) = principal.claims.sid.as_deref().and_then(|s| Uuid::parse_str(s).ok()) else {
        return Ok(None);
    };
    let row = store::sessions::find(&state.db, tenant.id, session_id).await?;
    let sso_session_id = row.as_ref().and_then(|s| s.parent_id);
    let auth_time = row.and_then(|s| s.auth_time).map_or(now.timestamp(), |t| t.timestamp());
    let session = WebSession {
        face,
        tenant: tenant.slug.clone(),
        user_id: principal.user_id,
        session_id,
        sso_session_id,
        amr: principal.claims.amr.clone(),
        started: now.timestamp(),
        auth_time,
        csrf: random_token(""),
    };
    let cookie = random_token("");
    save(state, &cookie, &session).await?;
    Ok(Some(SignedIn { cookie, session, return_to: pending.return_to }))
}

async fn save(state: &AppState, cookie: &str, session: &WebSession) -> Result<(), AuthError> {
    let value = serde_json::to_string(session).map_err(anyhow::Error::from)?;
    let idle = std::time::Duration::from_secs(state.settings.oidc.sso_idle_secs);
    let key = session_key(&session.tenant, session.face, cookie);
    Ok(state.kv.set_many_ex(&[(key, value, idle)]).await?)
}

/// How recent a sign-in must be for the console's dangerous actions.
pub const RECENT_SECS: i64 = 600;

impl WebSession {
    /// Whether the user signed in (not just reused an SSO session) in the last [`RECENT_SECS`].
    pub fn recent(&self, now: DateTime<Utc>) -> bool {
        now.timestamp() - self.auth_time <= RECENT_SECS
    }
}

/// The live web session behind a cookie (extending its idle timeout), or `None` when it is
/// unknown, past the SSO absolute lifetime, or its token session was revoked.
///
/// # Errors
/// Infrastructure failures.
pub async fn current(
    state: &AppState,
    tenant: &TenantContext,
    face: Face,
    cookie: &str,
    now: DateTime<Utc>,
) -> Result<Option<WebSession>, AuthError> {
    if cookie.is_empty() || cookie.len() > 128 {
        return Ok(None);
    }
    let key = session_key(&tenant.slug, face, cookie);
    let Some(raw) = state.kv.get(&key).await? else { return Ok(None) };
    let absolute = i64::try_from(state.settings.oidc.sso_absolute_secs).unwrap_or(i64::MAX);
    let Ok(mut session) = serde_json::from_str::<WebSession>(&raw) else { return Ok(None) };
    let revoked = state.revocations.is_session_revoked(tenant.id, session.session_id).await?;
    let row = store::sessions::find(&state.db, tenant.id, session.session_id).await?;
    let live = row.as_ref().is_some_and(|r| r.revoked_at.is_none() && r.expires_at > now);
    if let Some(r) = &row {
        session.auth_time = r.auth_time.unwrap_or(r.created_at).timestamp();
    }
    if revoked || !live || session.started + absolute <= now.timestamp() || session.tenant != tenant.slug {
        state.kv.delete(&key).await?;
        return Ok(None);
    }
    save(state, cookie, &session).await?;
    Ok(Some(session))
}

/// Signs the browser out: ends the web session, its token session and the SSO session it
/// came from (the user asked to sign out, not just to leave this page). Audited as a logout.
///
/// # Errors
/// Infrastructure failures.
pub async fn sign_out(
    state: &AppState,
    tenant: &TenantContext,
    cookie: &str,
    session: &WebSession,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    state.kv.delete(&session_key(&tenant.slug, session.face, cookie)).await?;
    super::sso::end(state, tenant, session.session_id, now).await?;
    if let Some(sso) = session.sso_session_id {
        super::sso::end(state, tenant, sso, now).await?;
    }
    let how = json!({ "via": session.face.as_str() });
    let client = Some(session.face.client_id());
    crate::auth::record_logout(
        state,
        tenant.id,
        Some(session.user_id),
        Some(session.session_id),
        client,
        how,
        meta,
        now,
    )
    .await;
    Ok(())
}
