//! Authentication: the local username/password strategy, token issue, refresh rotation,
//! logout, and the bearer check every protected route runs (what passport-jwt does).
use std::sync::Arc;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use uuid::Uuid;

use crate::{
    audit::{self, Event},
    domain::{Email, Password, Username, ValidationError},
    error::ApiError,
    kv::KvError,
    metrics::{Grant, LoginOutcome},
    state::AppState,
    store::{
        self, StoreError,
        entities::users,
        refresh_tokens::Rotation,
        sessions::NewSession,
        users::{InsertUserError, NewUser},
    },
    tenancy::{TenantContext, TenantError},
    tokens::{AccessClaims, TokenError, keys::peek_header, refresh},
};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("the refresh token is invalid, expired or revoked")]
    InvalidRefreshToken,
    #[error("self-registration is closed for this tenant")]
    RegistrationClosed,
    #[error("this username is taken")]
    UsernameTaken,
    #[error("no such tenant")]
    TenantNotFound,
    #[error("{0}")]
    Forbidden(&'static str),
    /// A refresh asked for a scope its grant does not include.
    #[error("{0}")]
    InvalidScope(String),
    #[error("too many failed attempts; try again later")]
    Locked { retry_after: u64 },
    #[error(transparent)]
    Validation(#[from] ValidationError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Kv(#[from] KvError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<TenantError> for AuthError {
    fn from(e: TenantError) -> Self {
        match e {
            TenantError::Store(s) => Self::Store(s),
            other => Self::Unexpected(anyhow::anyhow!(other.to_string())),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidCredentials => Self::unauthorized("invalid_credentials", e.to_string()),
            AuthError::InvalidRefreshToken => Self::unauthorized("invalid_refresh_token", e.to_string()),
            AuthError::RegistrationClosed => Self::forbidden("registration_closed", e.to_string()),
            AuthError::UsernameTaken => Self::conflict("username_taken", e.to_string()),
            AuthError::TenantNotFound => Self::not_found("tenant_not_found", e.to_string()),
            AuthError::Forbidden(why) => Self::forbidden("forbidden", why),
            AuthError::InvalidScope(why) => Self::validation("scope", why),
            AuthError::Locked { retry_after } => Self::too_many("login_locked", &e.to_string(), retry_after),
            AuthError::Validation(v) => v.into(),
            AuthError::Token(t) => t.into(),
            AuthError::Store(s) => s.into(),
            AuthError::Kv(k) => k.into(),
            AuthError::Unexpected(u) => Self::internal(u),
        }
    }
}

pub use crate::domain::ClientMeta;

pub struct IssuedTokens {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: String,
}

/// A verified bearer token.
pub struct Principal {
    pub tenant: Arc<TenantContext>,
    pub claims: AccessClaims,
    pub user_id: Uuid,
    /// The user's change marker seen by the revocation check (see [`crate::cache`]).
    pub user_version: Option<String>,
}

/// Scopes granted to first-party logins through the JSON API.
const FIRST_PARTY_SCOPE: &str = "openid profile email";

async fn tenant(state: &AppState, slug: &str) -> Result<Arc<TenantContext>, AuthError> {
    state.tenants.get_active(slug).await?.ok_or(AuthError::TenantNotFound)
}

/// Creates a local user.
///
/// # Errors
/// Validation failures, a taken username, closed registration, or infrastructure failures.
pub async fn register(
    state: &AppState,
    tenant_slug: &str,
    username: &str,
    password: String,
    email: Option<&str>,
    now: DateTime<Utc>,
) -> Result<users::Model, AuthError> {
    let tenant = tenant(state, tenant_slug).await?;
    if !tenant.settings.registration_open {
        return Err(AuthError::RegistrationClosed);
    }
    let username = Username::parse(username)?;
    let email = email.map(Email::parse).transpose()?;
    let password = Password::parse(password, &tenant.settings.password_policy)?;
    let hash = state.hasher.hash(password.expose().to_string()).await.map_err(anyhow::Error::from)?;
    let new = NewUser {
        username: username.as_str().to_string(),
        email: email.map(|e| e.as_str().to_string()),
        password_hash: Some(hash),
        roles: Vec::new(),
    };
    match store::users::insert(&state.db, tenant.id, new, now).await {
        Ok(user) => Ok(user),
        Err(InsertUserError::UsernameTaken) => Err(AuthError::UsernameTaken),
        Err(InsertUserError::Store(e)) => Err(e.into()),
    }
}

/// Checks a username and password and opens a session.
///
/// Unknown users, wrong passwords and disabled accounts all cost one Argon2 verification and
/// end in the same error, so neither the body nor the timing tells them apart.
///
/// # Errors
/// `InvalidCredentials`, or infrastructure failures.
pub async fn login(
    state: &AppState,
    tenant_slug: &str,
    username: &str,
    password: String,
    meta: ClientMeta,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, AuthError> {
    let tenant = tenant(state, tenant_slug).await?;
    let user = password_sign_in(state, &tenant, username, password, &meta, "json", now).await?;
    let audience = if is_admin(&user) { Audience::Admin } else { Audience::Tenant };
    let issued = open_session(state, &tenant, user.id, audience, meta, now).await?;
    state.metrics.tokens_issued(Grant::Password, true, false);
    Ok(issued)
}

/// Why [`password_sign_in`] refused when the tenant has no enabled password strategy.
pub const PASSWORDS_OFF: &str = "signing in with a password is turned off for this tenant";

/// A username and password checked when the tenant's password strategy is enabled: the one
/// entry point for every password path (JSON API, hosted form).
///
/// # Errors
/// `Forbidden(PASSWORDS_OFF)` when password sign-in is disabled, `InvalidCredentials`,
/// `Locked`, or infrastructure failures.
pub async fn password_sign_in(
    state: &AppState,
    tenant: &TenantContext,
    username: &str,
    password: String,
    meta: &ClientMeta,
    path: &str,
    now: DateTime<Utc>,
) -> Result<users::Model, AuthError> {
    if tenant.strategies.password().is_none() {
        return Err(AuthError::Forbidden(PASSWORDS_OFF));
    }
    check_password(state, tenant, username, password, meta, path, now).await
}

/// The local strategy's check, shared by every login path (JSON API, hosted form): one
/// Argon2 verification whatever the outcome, an audit event, and one error for every failure.
///
/// # Errors
/// `InvalidCredentials`, or infrastructure failures.
pub async fn check_password(
    state: &AppState,
    tenant: &TenantContext,
    username: &str,
    password: String,
    meta: &ClientMeta,
    path: &str,
    now: DateTime<Utc>,
) -> Result<users::Model, AuthError> {
    let canonical = Username::parse(username).map(|u| u.as_str().to_string()).ok();
    // Locks key on the name as typed (normalised), whether or not such a user exists, so a
    // lock says nothing about existence. While locked no hash is computed.
    let lock_name = canonical.as_deref().unwrap_or(username);
    let lock = format!("lf:{{{}}}:{}", tenant.id, crate::crypto::sha256_b64(lock_name));
    let policy = &tenant.settings.lockout;
    let (failures, left) = state.kv.window(&lock).await?;
    if failures >= u64::from(policy.threshold) {
        let event = Event {
            tenant_id: tenant.id,
            event_type: "login.locked",
            actor: None,
            user_id: None,
            target: canonical.clone(),
            success: false,
            meta,
            details: serde_json::json!({ "strategy": "local", "path": path }),
        };
        audit::record(&state.db, event, now).await;
        state.metrics.login("local", LoginOutcome::Locked);
        return Err(AuthError::Locked { retry_after: left.max(1) });
    }
    let user = match &canonical {
        Some(name) => store::users::find_by_username(&state.db, tenant.id, name).await?,
        None => None,
    };
    let stored_hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let password_for_upgrade = password.clone();
    let matches = state.hasher.verify(password, stored_hash).await.map_err(anyhow::Error::from)?;
    let accepted = matches && user.as_ref().is_some_and(|u| u.status == "active");
    if accepted {
        state.kv.delete(&lock).await?;
        if let Some(mut u) =
            user.clone().filter(|u| u.password_hash.as_deref().is_some_and(|h| state.hasher.needs_rehash(h)))
        {
            // Upgrade to the current parameters while the password is at hand. A failure only
            // postpones the upgrade to the next login.
            match state.hasher.hash(password_for_upgrade).await {
                Ok(h) => {
                    u.password_hash = Some(h);
                    u.updated_at = now;
                    match store::users::update(&state.db, u).await {
                        Ok(stored) => user_changed(state, tenant.id, stored.id).await?,
                        Err(e) => tracing::warn!(error = %e, "could not store an upgraded password hash"),
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not upgrade a password hash"),
            }
        }
    } else {
        state.kv.incr_window(&lock, std::time::Duration::from_secs(policy.window_secs)).await?;
    }
    let event = Event {
        tenant_id: tenant.id,
        event_type: if accepted { "login.succeeded" } else { "login.failed" },
        actor: None,
        user_id: user.as_ref().map(|u| u.id),
        target: canonical,
        success: accepted,
        meta,
        details: serde_json::json!({ "strategy": "local", "path": path }),
    };
    audit::record(&state.db, event, now).await;
    state.metrics.login("local", if accepted { LoginOutcome::Succeeded } else { LoginOutcome::Failed });
    match user {
        Some(u) if accepted => Ok(u),
        _ => Err(AuthError::InvalidCredentials),
    }
}

/// Roles that open the admin API: `admin` (in `system`: every tenant) and `tenant-admin`
/// (its own tenant).
pub const ROLE_ADMIN: &str = "admin";
pub const ROLE_TENANT_ADMIN: &str = "tenant-admin";

pub fn roles_of(user: &users::Model) -> Vec<String> {
    serde_json::from_value(user.roles.clone()).unwrap_or_default()
}

fn is_admin(user: &users::Model) -> bool {
    roles_of(user).iter().any(|r| r == ROLE_ADMIN || r == ROLE_TENANT_ADMIN)
}

/// Which API a token is for. Admin tokens are never accepted by tenant routes and vice versa.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Tenant,
    Admin,
}

pub(crate) async fn open_session(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
    audience: Audience,
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
        ip: meta.ip,
        user_agent: meta.user_agent,
        expires_at: now + ChronoDuration::seconds(ttl),
    };
    let session =
        store::sessions::create_with_refresh_token(&state.db, tenant.id, new, refresh.hash, now).await?;
    let (access_token, expires_in) = issue_access_token(tenant, user_id, session.id, audience, now)?;
    Ok(IssuedTokens { access_token, expires_in, refresh_token: refresh.token })
}

pub(crate) fn issue_access_token(
    tenant: &TenantContext,
    user_id: Uuid,
    session_id: Uuid,
    audience: Audience,
    now: DateTime<Utc>,
) -> Result<(String, u64), AuthError> {
    let scope = match audience {
        Audience::Tenant => FIRST_PARTY_SCOPE,
        Audience::Admin => "admin",
    };
    let grant = AccessGrant {
        subject: user_id.to_string(),
        session_id: session_id.to_string(),
        audience,
        scope,
        client_id: None,
        ttl_secs: None,
    };
    sign_access_token(tenant, &grant, now)
}

/// What an access token grants, for [`sign_access_token`].
pub struct AccessGrant<'a> {
    pub subject: String,
    /// The `sid`; empty for client-credentials tokens, which have no session.
    pub session_id: String,
    pub audience: Audience,
    pub scope: &'a str,
    pub client_id: Option<&'a str>,
    /// Overrides the tenant's access-token lifetime (a client setting).
    pub ttl_secs: Option<u64>,
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
    now: DateTime<Utc>,
) -> Result<IssuedTokens, AuthError> {
    let tenant = tenant(state, tenant_slug).await?;
    let rotated = rotate_refresh(state, &tenant, presented, None, None, now).await?;
    let audience = if is_admin(&rotated.user) { Audience::Admin } else { Audience::Tenant };
    let (access_token, expires_in) =
        issue_access_token(&tenant, rotated.user.id, rotated.session.id, audience, now)?;
    state.metrics.tokens_issued(Grant::RefreshToken, true, false);
    Ok(IssuedTokens { access_token, expires_in, refresh_token: rotated.refresh_token })
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
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    let tenant = principal.tenant.id;
    let sid = Uuid::parse_str(&principal.claims.sid).ok();
    state.revocations.revoke_token(tenant, &principal.claims, now.timestamp()).await?;
    if let Some(sid) = sid {
        state.revocations.revoke_sessions(tenant, &[sid]).await?;
    }
    if everywhere {
        end_all_sessions(state, tenant, principal.user_id, now).await?;
    } else if let Some(sid) = sid {
        store::sessions::revoke(&state.db, tenant, sid, now).await?;
    }
    Ok(())
}

/// Ends every session of a user: refresh families in the database, access tokens in the
/// revocation list (the "revoked before" time, plus each session for tokens of this second).
///
/// # Errors
/// Infrastructure failures; a retry completes the job.
pub async fn end_all_sessions(
    state: &AppState,
    tenant: Uuid,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
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

/// Verifies a bearer token presented at `tenant_slug`: size, type, `kid`, signature with the
/// tenant's key, `iss`, `aud` (this tenant's API, never an admin token), `exp`/`nbf`, then the
/// revocation list in one round trip.
///
/// # Errors
/// `Token(..)` for a token that is not acceptable; `Kv` when revocation cannot be checked
/// (the caller answers 503: an unchecked token is never accepted).
pub async fn authenticate(state: &AppState, tenant_slug: &str, token: &str) -> Result<Principal, AuthError> {
    let tenant = state.tenants.get_active(tenant_slug).await?.ok_or(TokenError::WrongIssuerOrAudience)?;
    let (tenant, claims) = verify(state, tenant, token).await?;
    if claims.aud != tenant.audience {
        return Err(TokenError::WrongIssuerOrAudience.into());
    }
    principal(state, tenant, claims).await
}

/// Verifies a token presented to the admin API. The issuer names the tenant whose keys sign
/// it; a valid token for a tenant's own API (not the admin audience) is a 403, not a 401.
///
/// # Errors
/// As [`authenticate`], plus `Forbidden` for a user token or a user without an admin role.
pub async fn authenticate_admin(
    state: &AppState,
    token: &str,
) -> Result<(Principal, users::Model), AuthError> {
    if token.len() > crate::tokens::keys::MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge.into());
    }
    let unverified = jsonwebtoken::dangerous::insecure_decode::<AccessClaims>(token)
        .map_err(|_| TokenError::Malformed)?
        .claims;
    let slug = state.tenants.slug_of_issuer(&unverified.iss).ok_or(TokenError::WrongIssuerOrAudience)?;
    let tenant = state.tenants.get_active(slug).await?.ok_or(TokenError::WrongIssuerOrAudience)?;
    let (tenant, claims) = verify(state, tenant, token).await?;
    let admin_token = claims.aud == tenant.admin_audience;
    let principal = principal(state, tenant, claims).await?;
    if !admin_token {
        return Err(AuthError::Forbidden("this token is not for the admin API; log in as an administrator"));
    }
    let user = store::users::find_by_id(&state.db, principal.tenant.id, principal.user_id)
        .await?
        .filter(|u| u.status == "active" && is_admin(u))
        .ok_or(AuthError::Forbidden("this user has no admin role"))?;
    Ok((principal, user))
}

async fn verify(
    state: &AppState,
    mut tenant: Arc<TenantContext>,
    token: &str,
) -> Result<(Arc<TenantContext>, AccessClaims), AuthError> {
    let header = peek_header(token)?;
    if tenant.verifier(&header.kid).is_none() {
        tenant = state.tenants.refresh_for_unknown_kid(&tenant).await?.unwrap_or(tenant);
    }
    let claims = tenant.verifier(&header.kid).ok_or(TokenError::UnknownKey)?.verify(token)?;
    Ok((tenant, claims))
}

async fn principal(
    state: &AppState,
    tenant: Arc<TenantContext>,
    claims: AccessClaims,
) -> Result<Principal, AuthError> {
    let user_id = Uuid::parse_str(&claims.sub).map_err(|_| TokenError::Malformed)?;
    #[cfg(not(feature = "bench-no-revocation"))]
    let user_version = {
        let checked = state.revocations.check(tenant.id, &claims).await?;
        if checked.revoked {
            return Err(TokenError::Revoked.into());
        }
        checked.user_version
    };
    #[cfg(feature = "bench-no-revocation")]
    let user_version = None;
    Ok(Principal { tenant, claims, user_id, user_version })
}

/// The user behind a principal.
///
/// # Errors
/// The user was deleted or disabled since the token was issued, or a database failure.
pub async fn current_user(state: &AppState, principal: &Principal) -> Result<users::Model, AuthError> {
    active_user(state, principal.tenant.id, principal.user_id, principal.user_version.clone())
        .await?
        .ok_or(AuthError::Token(TokenError::Revoked))
}

/// An active user, from this instance's cache when it was loaded under `version` (the
/// change marker the revocation check returned), else from the database.
///
/// # Errors
/// Database failure.
pub async fn active_user(
    state: &AppState,
    tenant: Uuid,
    id: Uuid,
    version: Option<String>,
) -> Result<Option<users::Model>, StoreError> {
    let load = store::users::find_by_id(&state.db, tenant, id);
    let user = state.users.get_or_load((tenant, id), version, load).await?;
    Ok(user.filter(|u| u.status == "active"))
}

/// Tells every instance that a user row changed: call after each write to it, so cached
/// copies (see [`crate::cache`]) are not used again.
///
/// # Errors
/// The shared store cannot be written.
pub async fn user_changed(state: &AppState, tenant: Uuid, user: Uuid) -> Result<(), KvError> {
    state.users.forget(&(tenant, user));
    state.revocations.user_changed(tenant, user).await
}

/// Creates the operator account `admin` in the `system` tenant on first start. Its password
/// comes from `GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD` or is generated and logged once.
///
/// # Errors
/// Database or hashing failure.
pub async fn bootstrap_operator(
    state: &AppState,
    system: &TenantContext,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if store::users::find_by_username(&state.db, system.id, "admin").await?.is_some() {
        return Ok(());
    }
    let (password, generated) = match &state.settings.bootstrap.admin_password {
        Some(p) => (p.expose().to_string(), false),
        None => (crate::crypto::random_token(""), true),
    };
    let hash = state.hasher.hash(password.clone()).await?;
    let new = NewUser {
        username: "admin".into(),
        email: None,
        password_hash: Some(hash),
        roles: vec![ROLE_ADMIN.to_string()],
    };
    match store::users::insert(&state.db, system.id, new, now).await {
        Ok(_) if generated => tracing::warn!(
            "created operator admin in tenant system with generated password {password} \
             (shown once; set GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD to choose it)"
        ),
        Ok(_) => tracing::info!("created operator admin in tenant system"),
        // Another instance created it first.
        Err(InsertUserError::UsernameTaken) => {}
        Err(InsertUserError::Store(e)) => return Err(e.into()),
    }
    Ok(())
}
