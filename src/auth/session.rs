//! Sessions and the tokens they issue: opening one, signing access tokens, refresh rotation
//! with reuse detection, and logout.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use uuid::Uuid;

use super::*;
use crate::{
    audit::{self, Event},
    metrics::Grant,
    state::AppState,
    store::{self, entities::users, refresh_tokens::Rotation, sessions::NewSession},
    tenancy::TenantContext,
    tokens::{AccessClaims, refresh},
};

/// Opens a first-party session for a user who authenticated with `amr` (RFC 8176 values),
/// which its tokens carry, refreshed ones too.
pub(crate) async fn open_session(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
    audience: Audience,
    amr: &[String],
    meta: ClientMeta,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, AuthError> {
    let refresh = refresh::generate();
    let ttl = i64::try_from(tenant.settings.refresh_token_ttl_secs).unwrap_or(i64::MAX);
    let new = NewSession {
        id: None,
        user_id,
        client_id: None,
        parent_id: None,
        scope: None,
        auth_time: None,
        amr: amr.to_vec(),
        ip: meta.ip,
        user_agent: meta.user_agent,
        expires_at: now + ChronoDuration::seconds(ttl),
    };
    let session =
        store::sessions::create_with_refresh_token(&state.db, tenant.id, new, refresh.hash, now).await?;
    let (access_token, expires_in) = issue_access_token(tenant, user_id, session.id, audience, amr, now)?;
    Ok(IssuedTokens { access_token, expires_in, refresh_token: refresh.token })
}

pub(crate) fn issue_access_token(
    tenant: &TenantContext,
    user_id: Uuid,
    session_id: Uuid,
    audience: Audience,
    amr: &[String],
    now: DateTime<Utc>,
) -> Result<(String, u64), AuthError> {
    let scope = match audience {
        Audience::Tenant => FIRST_PARTY_SCOPE,
        Audience::Admin => "admin",
    };
    let grant = AccessGrant {
        subject: user_id.to_string(),
        session_id: Some(session_id.to_string()),
        audience,
        scope,
        client_id: None,
        ttl_secs: None,
        amr,
    };
    sign_access_token(tenant, &grant, now)
}

/// What an access token grants, for [`sign_access_token`].
pub struct AccessGrant<'a> {
    pub subject: String,
    /// The `sid`; `None` for client-credentials tokens, which have no session.
    pub session_id: Option<String>,
    pub audience: Audience,
    pub scope: &'a str,
    pub client_id: Option<&'a str>,
    /// Overrides the tenant's access-token lifetime (a client setting).
    pub ttl_secs: Option<u64>,
    /// How the user authenticated; empty for client credentials (no `amr`, no `acr`).
    pub amr: &'a [String],
}

/// Signs an access token with the tenant's key; returns it with its lifetime in seconds.
///
/// # Errors
/// The signing key is unusable.
pub fn sign_access_token(
    tenant: &TenantContext,
    grant: &AccessGrant<'_>,
    now: DateTime<Utc>,
) -> Result<(String, u64), AuthError> {
    let ttl = grant.ttl_secs.unwrap_or(tenant.settings.access_token_ttl_secs);
    let iat = now.timestamp();
    let claims = AccessClaims {
        iss: tenant.issuer.clone(),
        sub: grant.subject.clone(),
        aud: match grant.audience {
            Audience::Tenant => tenant.audience.clone(),
            Audience::Admin => tenant.admin_audience.clone(),
        },
        exp: iat + i64::try_from(ttl).unwrap_or(600),
        nbf: iat,
        iat,
        jti: crate::crypto::random_id(),
        sid: grant.session_id.clone(),
        scope: grant.scope.to_string(),
        client_id: grant.client_id.map(str::to_string),
        amr: grant.amr.to_vec(),
        acr: (!grant.amr.is_empty()).then(|| crate::domain::authn::acr_for(grant.amr).to_string()),
    };
    let token = tenant.signer.sign(&claims).map_err(|e| anyhow::anyhow!("signing failed: {e}"))?;
    Ok((token, ttl))
}

/// Rotates a first-party refresh token (JSON API sessions, not client grants).
///
/// # Errors
/// `InvalidRefreshToken`, or infrastructure failures.
pub async fn refresh(
    state: &AppState,
    tenant_slug: &str,
    presented: &str,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, AuthError> {
    let tenant = tenant(state, tenant_slug).await?;
    let rotated = rotate_refresh(state, &tenant, presented, None, None, meta, now).await?;
    let audience = if is_admin(&rotated.user) { Audience::Admin } else { Audience::Tenant };
    let amr = session_amr(&rotated.session);
    let (access_token, expires_in) =
        issue_access_token(&tenant, rotated.user.id, rotated.session.id, audience, &amr, now)?;
    state.metrics.tokens_issued(Grant::RefreshToken, true, false);
    Ok(IssuedTokens { access_token, expires_in, refresh_token: rotated.refresh_token })
}

/// The `amr` a session's sign-in achieved, for its refreshed tokens (none for sessions from
/// before it was recorded).
pub fn session_amr(session: &store::entities::sessions::Model) -> Vec<String> {
    session.amr.as_deref().map(|a| a.split(' ').map(str::to_string).collect()).unwrap_or_default()
}

pub struct Rotated {
    pub session: store::entities::sessions::Model,
    pub user: users::Model,
    pub refresh_token: String,
    /// The scope of the new tokens: the one asked for, else the session's.
    pub scope: String,
}

/// The scope a refresh asking for `asked` gets from a session granted `granted`: at most
/// what was granted (RFC 6749 section 6).
///
/// # Errors
/// The first scope that was not granted.
pub fn narrowed_scope(granted: &str, asked: Option<&str>) -> Result<String, String> {
    let Some(asked) = asked else { return Ok(granted.to_string()) };
    let wanted: Vec<&str> = asked.split(' ').filter(|s| !s.is_empty()).collect();
    match wanted.iter().find(|s| !granted.split(' ').any(|g| g == **s)) {
        Some(bad) => Err(format!("scope {bad} was not granted")),
        None => Ok(wanted.join(" ")),
    }
}

/// Rotates a refresh token belonging to `client` (`None`: first-party sessions), for new
/// tokens of `scope` (`None`: the granted scope). Presenting a token that was already rotated
/// revokes its whole family and the access tokens of that session (RFC 9700 section 4.14); a
/// token of another client, or a scope wider than the grant, is refused and the token left
/// unused.
///
/// # Errors
/// `InvalidRefreshToken`, `InvalidScope`, or infrastructure failures.
pub async fn rotate_refresh(
    state: &AppState,
    tenant: &TenantContext,
    presented: &str,
    client: Option<&str>,
    scope: Option<&str>,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<Rotated, AuthError> {
    let presented_hash = refresh::hash_presented(presented).ok_or(AuthError::InvalidRefreshToken)?;
    let next = refresh::generate();
    let grace =
        chrono::Duration::seconds(i64::try_from(state.settings.tokens.refresh_reuse_grace_secs).unwrap_or(0));
    // Every parameter is checked inside the rotation, before it commits: a refused request
    // leaves the token usable.
    let mut narrowed = None;
    let admit = |s: &store::entities::sessions::Model| {
        narrowed = Some(narrowed_scope(s.scope.as_deref().unwrap_or_default(), scope)?);
        Ok(())
    };
    let rotation = store::refresh_tokens::rotate(
        &state.db,
        tenant.id,
        &presented_hash,
        next.hash,
        client,
        admit,
        grace,
        now,
    )
    .await?;
    match rotation {
        Rotation::Rotated { session } => {
            // The shared revocation list is authoritative: a session revoked there (by a
            // concurrent code replay, say) is dead even if its row has not caught up.
            let checked = state.revocations.check_session(tenant.id, session.id, session.user_id).await?;
            if checked.revoked {
                store::sessions::revoke(&state.db, tenant.id, session.id, now).await?;
                return Err(AuthError::InvalidRefreshToken);
            }
            let user = active_user(state, tenant.id, session.user_id, checked.user_version)
                .await?
                .ok_or(AuthError::InvalidRefreshToken)?;
            let scope = narrowed.unwrap_or_default();
            Ok(Rotated { session: *session, user, refresh_token: next.token, scope })
        }
        Rotation::Reused { session_id } => {
            tracing::warn!(tenant = %tenant.slug, session = %session_id, "refresh token reuse: revoking the session");
            state.metrics.refresh_reuse();
            state.revocations.revoke_sessions(tenant.id, &[session_id]).await?;
            store::sessions::revoke(&state.db, tenant.id, session_id, now).await?;
            // A replayed token may mean a stolen one: the investigator needs the session, its
            // user and client, and where the replay came from.
            let session = store::sessions::find(&state.db, tenant.id, session_id).await?;
            let event = Event {
                tenant_id: tenant.id,
                event_type: "refresh_token.reused",
                actor: None,
                user_id: session.as_ref().map(|s| s.user_id),
                target: Some(format!("session:{session_id}")),
                success: false,
                meta,
                details: serde_json::json!({
                    "session_id": session_id,
                    "client_id": session.as_ref().and_then(|s| s.client_id.clone()),
                    "presented_by": client,
                    "reason": "a rotated refresh token was presented again; the session was revoked",
                }),
            };
            audit::record(&state.db, event, now).await;
            Err(AuthError::InvalidRefreshToken)
        }
        Rotation::Invalid => Err(AuthError::InvalidRefreshToken),
        Rotation::Refused(why) => Err(AuthError::InvalidScope(why)),
    }
}

/// Ends the caller's session (or, with `everywhere`, every session of the user): the access
/// token and the session's refresh family stop working on every instance at once.
///
/// # Errors
/// Infrastructure failures; nothing is half-done from the client's point of view, a retry
/// completes it.
pub async fn logout(
    state: &AppState,
    principal: &Principal,
    everywhere: bool,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    let tenant = principal.tenant.id;
    let sid = principal.claims.sid.as_deref().and_then(|s| Uuid::parse_str(s).ok());
    state.revocations.revoke_token(tenant, &principal.claims, now.timestamp()).await?;
    if let Some(sid) = sid {
        state.revocations.revoke_sessions(tenant, &[sid]).await?;
    }
    if everywhere {
        end_all_sessions(state, tenant, principal.user_id, now).await?;
    } else if let Some(sid) = sid {
        store::sessions::revoke(&state.db, tenant, sid, now).await?;
    }
    let how = serde_json::json!({ "everywhere": everywhere });
    let client = principal.claims.client_id.as_deref();
    record_logout(state, tenant, Some(principal.user_id), sid, client, how, meta, now).await;
    Ok(())
}

/// Audits a logout, whichever way it came (JSON API, RP-initiated logout): the session, its
/// user and client, and `how` (an object whose fields join the details).
pub async fn record_logout(
    state: &AppState,
    tenant: Uuid,
    user_id: Option<Uuid>,
    session_id: Option<Uuid>,
    client_id: Option<&str>,
    how: serde_json::Value,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) {
    let mut details = serde_json::json!({ "session_id": session_id, "client_id": client_id });
    if let (Some(d), serde_json::Value::Object(extra)) = (details.as_object_mut(), how) {
        d.extend(extra);
    }
    let event = Event {
        tenant_id: tenant,
        event_type: "logout",
        actor: None,
        user_id,
        target: session_id.map(|s| format!("session:{s}")),
        success: true,
        meta,
        details,
    };
    audit::record(&state.db, event, now).await;
}

/// Ends every session of a user: refresh families in the database, access tokens in the
/// revocation list (the "revoked before" time, plus each session for tokens of this second),
/// and the remembered devices, so the next sign-in everywhere asks for the second factor.
///
/// # Errors
/// Infrastructure failures; a retry completes the job.
pub async fn end_all_sessions(
    state: &AppState,
    tenant: Uuid,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    store::remembered_devices::delete(&state.db, tenant, user, None).await?;
    state.revocations.revoke_user_before(tenant, user, now.timestamp()).await?;
    let ids = store::sessions::revoke_all_for_user(&state.db, tenant, user, now).await?;
    state.revocations.revoke_sessions(tenant, &ids).await?;
    Ok(())
}

/// Ends everything a client app holds: its sessions (refresh families) and, through a
/// "revoked before" time, every access token issued to it, on every instance at once. For a
/// client that is disabled or deleted.
///
/// # Errors
/// Infrastructure failures; a retry completes the job.
pub async fn end_client_sessions(
    state: &AppState,
    tenant: Uuid,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    state.revocations.revoke_client_before(tenant, client_id, now.timestamp() + 1).await?;
    let ids = store::sessions::revoke_for_client(&state.db, tenant, client_id, now).await?;
    state.revocations.revoke_sessions(tenant, &ids).await?;
    Ok(())
}
