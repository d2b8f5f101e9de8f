//! Authentication: the local username/password strategy, token issue, refresh rotation,
//! logout, and the bearer check every protected route runs (what passport-jwt does).
pub mod bearer;
pub mod device;
pub mod passkey;
pub mod password;
pub mod second_factor;
pub mod session;

pub use bearer::*;
pub use password::*;
pub use second_factor::LoginResult;
pub use session::*;

use std::sync::Arc;

use uuid::Uuid;

use crate::{
    domain::ValidationError,
    error::ApiError,
    kv::KvError,
    state::AppState,
    store::{StoreError, entities::users},
    tenancy::{TenantContext, TenantError},
    tokens::{AccessClaims, TokenError},
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
    /// The password was right, but the tenant requires a verified address first.
    #[error("confirm your email address first: follow the link or enter the code we sent")]
    EmailNotVerified { user_id: Uuid },
    #[error("too many failed attempts; try again later")]
    Locked { retry_after: u64 },
    #[error(transparent)]
    Mfa(#[from] crate::mfa::MfaError),
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
            AuthError::EmailNotVerified { .. } => Self::forbidden("email_not_verified", e.to_string()),
            AuthError::Locked { retry_after } => Self::too_many("login_locked", &e.to_string(), retry_after),
            AuthError::Mfa(m) => m.into(),
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

/// Roles that open the admin API: `admin` (in `system`: every tenant) and `tenant-admin`
/// (its own tenant).
pub const ROLE_ADMIN: &str = "admin";
pub const ROLE_TENANT_ADMIN: &str = "tenant-admin";

pub fn roles_of(user: &users::Model) -> Vec<String> {
    serde_json::from_value(user.roles.clone()).unwrap_or_default()
}

pub fn is_admin(user: &users::Model) -> bool {
    roles_of(user).iter().any(|r| r == ROLE_ADMIN || r == ROLE_TENANT_ADMIN)
}

/// Which API a token is for. Admin tokens are never accepted by tenant routes and vice versa.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Tenant,
    Admin,
}
