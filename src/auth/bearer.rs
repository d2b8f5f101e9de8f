//! The bearer check every protected route runs (what passport-jwt does): signature, claims,
//! and the revocation list in one round trip.
use std::sync::Arc;

use uuid::Uuid;

use super::*;
use crate::{
    kv::KvError,
    state::AppState,
    store::{self, StoreError, entities::users},
    tenancy::TenantContext,
    tokens::{AccessClaims, TokenError, keys::peek_header},
};

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
