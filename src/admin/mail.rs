//! Account mail on an admin's behalf: a verification or reset mail to one user, marking an
//! address verified, and the tenant's outbox (status only: never bodies or tokens).
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::Admin;
use crate::{
    account::{self, Sent},
    auth,
    error::ApiError,
    state::AppState,
    store::{
        self,
        entities::{outbox, users},
    },
    tenancy::TenantContext,
};

/// Which mail an admin sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminMail {
    Verification,
    PasswordReset,
}

/// Sends `which` to the user's current address. The address's hourly budget applies (429).
///
/// # Errors
/// 404 for an unknown user, 409 `no_email` / `email_already_verified`, 403 when password
/// sign-in is off (reset), 429 `mail_throttled`.
pub async fn send(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    user_id: Uuid,
    which: AdminMail,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let user = super::users::get(state, tenant, user_id).await?;
    if user.email.is_none() {
        return Err(ApiError::conflict("no_email", "this user has no email address"));
    }
    let (sent, kind) = match which {
        AdminMail::Verification => {
            if user.email_verified {
                return Err(ApiError::conflict("email_already_verified", "this address is verified already"));
            }
            (account::verify::send(state, tenant, &user, &admin.meta, "admin", now).await?, "verify_email")
        }
        AdminMail::PasswordReset => {
            if tenant.strategies.password().is_none() {
                return Err(ApiError::forbidden("forbidden", auth::PASSWORDS_OFF));
            }
            (account::reset::send(state, tenant, &user, &admin.meta, "admin", now).await?, "reset_password")
        }
    };
    if let Sent::Throttled { retry_after } = sent {
        return Err(ApiError::too_many(
            "mail_throttled",
            "too many mails to this address; try again later",
            retry_after,
        ));
    }
    record(state, admin, tenant, "user.mail_sent", &user, json!({ "kind": kind }), now).await;
    Ok(())
}

/// Marks the user's address verified (the admin vouches for it).
///
/// # Errors
/// 404 for an unknown user, 409 `no_email`.
pub async fn mark_verified(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<users::Model, ApiError> {
    let mut user = super::users::get(state, tenant, user_id).await?;
    if user.email.is_none() {
        return Err(ApiError::conflict("no_email", "this user has no email address"));
    }
    if user.email_verified {
        return Ok(user);
    }
    user.email_verified = true;
    user.updated_at = now;
    let user = store::users::update(&state.db, user).await?;
    auth::user_changed(state, tenant.id, user.id).await?;
    record(state, admin, tenant, "user.email_verified", &user, json!({}), now).await;
    Ok(user)
}

/// The tenant's newest outbox rows.
///
/// # Errors
/// Infrastructure failures.
pub async fn outbox(
    state: &AppState,
    tenant: &TenantContext,
    limit: Option<u32>,
) -> Result<Vec<outbox::Model>, ApiError> {
    let limit = u64::from(limit.unwrap_or(super::DEFAULT_PAGE).clamp(1, super::MAX_PAGE));
    Ok(store::outbox::list(&state.replica, tenant.id, limit).await?)
}

async fn record(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    event_type: &str,
    user: &users::Model,
    details: serde_json::Value,
    now: DateTime<Utc>,
) {
    super::record_change(
        state,
        admin,
        tenant.id,
        event_type,
        format!("user:{}", user.id),
        Some(user.id),
        details,
        now,
    )
    .await;
}
