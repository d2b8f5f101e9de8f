//! What a signed-in user changes about their own account on the account page: the display
//! name, the password (the current one is checked against the login lockout budget), and
//! their sessions. Every change is audited with the caller's `meta` (channel `account`).
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::record;
use crate::{
    auth::{self, AuthError, ClientMeta},
    domain::password::Password,
    error::ApiError,
    state::AppState,
    store::{
        self,
        entities::{sessions, users},
    },
    tenancy::TenantContext,
};

/// The user behind a web session, fresh from the database; `None` once disabled or deleted.
///
/// # Errors
/// Database failure.
pub async fn active_user(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
) -> Result<Option<users::Model>, ApiError> {
    Ok(store::users::find_by_id(&state.db, tenant.id, user_id).await?.filter(|u| u.status == "active"))
}

/// Sets (or, with an empty name, clears) the display name: at most 200 characters, no control
/// characters.
///
/// # Errors
/// 400 for an invalid name.
pub async fn set_display_name(
    state: &AppState,
    tenant: &TenantContext,
    mut user: users::Model,
    name: &str,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<users::Model, ApiError> {
    let name = name.trim();
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "display_name",
            "must be at most 200 characters, without control characters",
        ));
    }
    user.display_name = (!name.is_empty()).then(|| name.to_string());
    user.updated_at = now;
    let user = store::users::update(&state.db, user).await?;
    auth::user_changed(state, tenant.id, user.id).await?;
    record(state, tenant, "user.profile_updated", Some(&user), None, true, meta, json!({}), now).await;
    Ok(user)
}

/// Changes the password after checking the current one (wrong guesses spend the same lockout
/// budget as sign-in attempts). With `end_others`, every other session of the user ends; the
/// sessions in `keep` (the caller's own) stay.
///
/// # Errors
/// 401 `invalid_credentials` for a wrong current password, 429 while locked, 400 for a new
/// password the tenant's policy refuses, 409 `no_password` for an account without one.
#[allow(clippy::too_many_arguments)]
pub async fn change_password(
    state: &AppState,
    tenant: &TenantContext,
    user: &users::Model,
    current: String,
    new: String,
    end_others: bool,
    keep: &[Uuid],
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if user.password_hash.is_none() {
        return Err(ApiError::conflict(
            "no_password",
            "this account signs in without a password; use \"Forgot password?\" to set one",
        ));
    }
    let new = Password::parse(new, &tenant.settings.password_policy)?;
    let checked =
        auth::check_password(state, tenant, &user.username, current, &[], meta, "account_password", now)
            .await;
    let mut fresh = match checked {
        Ok(u) if u.id == user.id => u,
        Ok(_) | Err(AuthError::InvalidCredentials) => {
            record(state, tenant, "user.password_changed", Some(user), None, false, meta, json!({}), now)
                .await;
            return Err(ApiError::unauthorized("invalid_credentials", "the current password is not right"));
        }
        Err(e) => return Err(e.into()),
    };
    fresh.password_hash =
        Some(state.hasher.hash(new.expose().to_string()).await.map_err(ApiError::internal)?);
    fresh.updated_at = now;
    let fresh = store::users::update(&state.db, fresh).await?;
    auth::user_changed(state, tenant.id, fresh.id).await?;
    let ended = if end_others { end_other_sessions(state, tenant, fresh.id, keep, now).await? } else { 0 };
    let details = json!({ "other_sessions_ended": ended });
    record(state, tenant, "user.password_changed", Some(&fresh), None, true, meta, details, now).await;
    Ok(())
}

/// The user's sessions still open: SSO sessions and the app sessions opened from them.
///
/// # Errors
/// Database failure.
pub async fn open_sessions(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<sessions::Model>, ApiError> {
    let rows = store::sessions::list_for_user(&state.db, tenant.id, user_id).await?;
    Ok(rows.into_iter().filter(|s| s.revoked_at.is_none() && s.expires_at > now).collect())
}

/// Signs one of the user's own sessions out (and the app sessions opened from it).
///
/// # Errors
/// 404 when it is not an open session of this user.
pub async fn end_session(
    state: &AppState,
    tenant: &TenantContext,
    user: &users::Model,
    session_id: Uuid,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let open = open_sessions(state, tenant, user.id, now).await?;
    if !open.iter().any(|s| s.id == session_id) {
        return Err(ApiError::not_found("session_not_found", "no such session of yours"));
    }
    crate::oidc::sso::end(state, tenant, session_id, now).await?;
    let details = json!({ "session_id": session_id });
    record(state, tenant, "session.revoked", Some(user), None, true, meta, details, now).await;
    Ok(())
}

/// Signs every other session out; returns how many ended.
///
/// # Errors
/// Infrastructure failures.
pub async fn end_others(
    state: &AppState,
    tenant: &TenantContext,
    user: &users::Model,
    keep: &[Uuid],
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<usize, ApiError> {
    let ended = end_other_sessions(state, tenant, user.id, keep, now).await?;
    let details = json!({ "sessions_ended": ended });
    record(state, tenant, "session.revoked_others", Some(user), None, true, meta, details, now).await;
    Ok(ended)
}

async fn end_other_sessions(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
    keep: &[Uuid],
    now: DateTime<Utc>,
) -> Result<usize, ApiError> {
    let others: Vec<Uuid> = open_sessions(state, tenant, user_id, now)
        .await?
        .iter()
        .map(|s| s.id)
        .filter(|id| !keep.contains(id))
        .collect();
    for id in &others {
        crate::oidc::sso::end(state, tenant, *id, now).await?;
    }
    Ok(others.len())
}
