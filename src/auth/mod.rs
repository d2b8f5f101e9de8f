//! Authentication: the local username/password strategy, token issue, refresh rotation,
//! logout, and the bearer check every protected route runs (what passport-jwt does).
use std::sync::Arc;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use uuid::Uuid;

use crate::{
    app::AppState,
    domain::{Email, Password, Username, ValidationError},
    error::ApiError,
    kv::KvError,
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

pub mod password;

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
            AuthError::Validation(v) => v.into(),
            AuthError::Token(t) => t.into(),
            AuthError::Store(s) => s.into(),
            AuthError::Kv(k) => k.into(),
            AuthError::Unexpected(u) => Self::internal(u),
        }
    }
}

/// Where a login came from, kept on the session for the user and admins to see.
#[derive(Debug, Default, Clone)]
pub struct ClientMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

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
}

/// Scopes granted to first-party logins through the JSON API.
const FIRST_PARTY_SCOPE: &str = "openid profile email";

async fn tenant(state: &AppState, slug: &str) -> Result<Arc<TenantContext>, AuthError> {
    state.tenants.get(slug).await?.filter(|t| t.active).ok_or(AuthError::TenantNotFound)
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
    let password = Password::parse(password)?;
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
    let user = match Username::parse(username) {
        Ok(name) => store::users::find_by_username(&state.db, tenant.id, name.as_str()).await?,
        Err(_) => None,
    };
    let stored_hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let matches = state.hasher.verify(password, stored_hash).await.map_err(anyhow::Error::from)?;
    let user = match user {
        Some(u) if matches && u.status == "active" => u,
        _ => return Err(AuthError::InvalidCredentials),
    };
    open_session(state, &tenant, user.id, meta, now).await
}

async fn open_session(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
    meta: ClientMeta,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, AuthError> {
    let refresh = refresh::generate();
    let ttl = i64::try_from(tenant.settings.refresh_token_ttl_secs).unwrap_or(i64::MAX);
    let new = NewSession {
        user_id,
        client_id: None,
        ip: meta.ip,
        user_agent: meta.user_agent,
        expires_at: now + ChronoDuration::seconds(ttl),
    };
    let session =
        store::sessions::create_with_refresh_token(&state.db, tenant.id, new, refresh.hash, now).await?;
    let (access_token, expires_in) = issue_access_token(tenant, user_id, session.id, now)?;
    Ok(IssuedTokens { access_token, expires_in, refresh_token: refresh.token })
}

fn issue_access_token(
    tenant: &TenantContext,
    user_id: Uuid,
    session_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(String, u64), AuthError> {
    let ttl = tenant.settings.access_token_ttl_secs;
    let iat = now.timestamp();
    let claims = AccessClaims {
        iss: tenant.issuer.clone(),
        sub: user_id.to_string(),
        aud: tenant.audience.clone(),
        exp: iat + i64::try_from(ttl).unwrap_or(600),
        nbf: iat,
        iat,
        jti: crate::crypto::random_id(),
        sid: session_id.to_string(),
        scope: FIRST_PARTY_SCOPE.to_string(),
    };
    let token = tenant.signer.sign(&claims).map_err(|e| anyhow::anyhow!("signing failed: {e}"))?;
    Ok((token, ttl))
}

/// Rotates a refresh token. Presenting a token that was already rotated revokes its whole
/// family and the access tokens of that session (RFC 9700 section 4.14).
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
    let presented_hash = refresh::hash_presented(presented).ok_or(AuthError::InvalidRefreshToken)?;
    let next = refresh::generate();
    match store::refresh_tokens::rotate(&state.db, tenant.id, &presented_hash, next.hash, now).await? {
        Rotation::Rotated { session } => {
            let user_active = store::users::find_by_id(&state.db, tenant.id, session.user_id)
                .await?
                .is_some_and(|u| u.status == "active");
            if !user_active {
                return Err(AuthError::InvalidRefreshToken);
            }
            let (access_token, expires_in) = issue_access_token(&tenant, session.user_id, session.id, now)?;
            Ok(IssuedTokens { access_token, expires_in, refresh_token: next.token })
        }
        Rotation::Reused { session_id } => {
            tracing::warn!(tenant = %tenant.slug, session = %session_id, "refresh token reuse: revoking the session");
            state.revocations.revoke_sessions(tenant.id, &[session_id]).await?;
            store::sessions::revoke(&state.db, tenant.id, session_id, now).await?;
            Err(AuthError::InvalidRefreshToken)
        }
        Rotation::Invalid => Err(AuthError::InvalidRefreshToken),
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
        state.revocations.revoke_user_before(tenant, principal.user_id, now.timestamp()).await?;
        let ids = store::sessions::revoke_all_for_user(&state.db, tenant, principal.user_id, now).await?;
        state.revocations.revoke_sessions(tenant, &ids).await?;
    } else if let Some(sid) = sid {
        store::sessions::revoke(&state.db, tenant, sid, now).await?;
    }
    Ok(())
}

/// Verifies a bearer token presented at `tenant_slug`: size, type, `kid`, signature with the
/// tenant's key, `iss`, `aud`, `exp`/`nbf`, then the revocation list in one round trip.
///
/// # Errors
/// `Token(..)` for a token that is not acceptable; `Kv` when revocation cannot be checked
/// (the caller answers 503: an unchecked token is never accepted).
pub async fn authenticate(state: &AppState, tenant_slug: &str, token: &str) -> Result<Principal, AuthError> {
    let header = peek_header(token)?;
    let mut tenant = state
        .tenants
        .get(tenant_slug)
        .await?
        .filter(|t| t.active)
        .ok_or(TokenError::WrongIssuerOrAudience)?;
    if tenant.verifier(&header.kid).is_none() {
        tenant = state.tenants.refresh_for_unknown_kid(&tenant).await?.unwrap_or(tenant);
    }
    let claims = tenant.verifier(&header.kid).ok_or(TokenError::UnknownKey)?.verify(token)?;
    let user_id = Uuid::parse_str(&claims.sub).map_err(|_| TokenError::Malformed)?;
    #[cfg(not(feature = "bench-no-revocation"))]
    if state.revocations.is_revoked(tenant.id, &claims).await? {
        return Err(TokenError::Revoked.into());
    }
    Ok(Principal { tenant, claims, user_id })
}

/// The user behind a principal.
///
/// # Errors
/// The user was deleted or disabled since the token was issued, or a database failure.
pub async fn current_user(state: &AppState, principal: &Principal) -> Result<users::Model, AuthError> {
    store::users::find_by_id(&state.db, principal.tenant.id, principal.user_id)
        .await?
        .filter(|u| u.status == "active")
        .ok_or(AuthError::Token(TokenError::Revoked))
}
