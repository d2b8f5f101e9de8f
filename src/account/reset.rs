//! Password reset: asked for by address (enumeration-safe: one answer, mail or not, with the
//! work done in the background either way), completed with the mailed link or code. The new
//! password meets the tenant's policy; the reset lifts the login lock, ends the user's sessions
//! when the tenant says so (default), and mails a notice.
use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use gatehouse_ui::MailKind;
use sea_orm::TransactionTrait;
use serde_json::json;

use super::{AccountError, Proof, Sent, action, address_limit, mail, record, users_at};
use crate::{
    auth::{self, ClientMeta, PASSWORDS_OFF},
    domain::{Email, Password},
    state::AppState,
    store::{self, StoreError, entities::users},
    tenancy::TenantContext,
};

/// `POST /auth/password/forgot`: mails a reset link and code to each active user with this
/// address (see [`send`]). The caller answers the same in every case: the mail goes out in the
/// background, and for an unknown address the same work is done and thrown away, so neither
/// the answer nor its timing tells.
///
/// # Errors
/// 403 when password sign-in is off for the tenant; 400 for a malformed address.
pub async fn request(
    state: &Arc<AppState>,
    tenant: Arc<TenantContext>,
    email: &str,
    meta: ClientMeta,
    now: DateTime<Utc>,
) -> Result<(), AccountError> {
    if tenant.strategies.password().is_none() {
        return Err(AccountError::Forbidden(PASSWORDS_OFF));
    }
    let email = Email::parse(email)?;
    let targets = users_at(state, &tenant, email.as_str()).await?;
    let known = !targets.is_empty();
    let target = Some(email.as_str().to_string());
    record(
        state,
        &tenant,
        "password_reset.requested",
        None,
        target,
        known,
        &meta,
        json!({ "known": known }),
        now,
    )
    .await;
    let state = Arc::clone(state);
    tokio::spawn(async move {
        if targets.is_empty() {
            action::decoy(&state, &tenant, action::Purpose::ResetPassword);
        }
        for u in &targets {
            if let Err(e) = send(&state, &tenant, u, &meta, "request", now).await {
                tracing::warn!(error = %e, "could not queue a password reset mail");
            }
        }
    });
    Ok(())
}

/// Mails `user` a reset link and code (replacing older ones), within the hourly budget of
/// the address. `via` (`request`, `admin`) goes to the audit log.
///
/// # Errors
/// Infrastructure failures.
pub async fn send(
    state: &AppState,
    tenant: &TenantContext,
    user: &users::Model,
    meta: &ClientMeta,
    via: &str,
    now: DateTime<Utc>,
) -> Result<Sent, AccountError> {
    let Some(address) = user.email.as_deref() else { return Ok(Sent::Nothing) };
    if let Err(retry_after) = address_limit::take(state, tenant.id, "reset_password", address).await? {
        let details = json!({ "via": via, "throttled": true });
        record(state, tenant, "password_reset.sent", Some(user), None, false, meta, details, now).await;
        return Ok(Sent::Throttled { retry_after });
    }
    let new = action::NewAction {
        purpose: action::Purpose::ResetPassword,
        user,
        to: address,
        payload: Some(json!({ "email": address })),
        ttl: Duration::from_secs(state.settings.email.reset_ttl_secs),
        address: None,
    };
    action::issue(state, &state.db, tenant, new, now).await?;
    record(state, tenant, "password_reset.sent", Some(user), None, true, meta, json!({ "via": via }), now)
        .await;
    Ok(Sent::Queued)
}

/// Whether a reset link is live (the page it opens shows the form, or says it is spent).
///
/// # Errors
/// A database failure.
pub async fn link_is_live(
    state: &AppState,
    tenant: &TenantContext,
    token: &str,
    now: DateTime<Utc>,
) -> Result<bool, AccountError> {
    Ok(action::peek(state, &state.db, tenant, action::Purpose::ResetPassword, token, now).await?.is_some())
}

/// Sets a new password with a mailed link or code, then lifts the lock, ends sessions (per the
/// tenant's `email.reset_ends_sessions`) and queues a notice with the change. A reset mailed to
/// the user's current address also verifies it: the user just proved they read it.
///
/// # Errors
/// 400 for a password the policy refuses (the token stays usable), `InvalidToken`, 403 when
/// password sign-in is off, infrastructure failures.
pub async fn complete(
    state: &AppState,
    tenant: &TenantContext,
    proof: Proof<'_>,
    password: String,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<users::Model, AccountError> {
    if tenant.strategies.password().is_none() {
        return Err(AccountError::Forbidden(PASSWORDS_OFF));
    }
    let by = if matches!(proof, Proof::Link(_)) { "link" } else { "code" };
    let failed = |why: &'static str| json!({ "by": by, "reason": why });
    let password = Password::parse(password, &tenant.settings.password_policy)?;
    // A dead link costs no password hash.
    if let Proof::Link(token) = proof
        && !link_is_live(state, tenant, token, now).await?
    {
        record(state, tenant, "password_reset.completed", None, None, false, meta, failed("token"), now)
            .await;
        return Err(AccountError::InvalidToken);
    }
    let hash = state.hasher.hash(password.expose().to_string()).await.map_err(anyhow::Error::from)?;
    let txn = state.db.begin().await.map_err(StoreError::from)?;
    let spent = super::consume(state, &txn, tenant, action::Purpose::ResetPassword, proof, now).await?;
    let found = match &spent {
        Some(a) => {
            store::users::find_by_id(&txn, tenant.id, a.user_id).await?.filter(|u| u.status == "active")
        }
        None => None,
    };
    let (Some(action), Some(mut user)) = (spent, found) else {
        txn.rollback().await.map_err(StoreError::from)?;
        record(state, tenant, "password_reset.completed", None, None, false, meta, failed("token"), now)
            .await;
        return Err(AccountError::InvalidToken);
    };
    user.email_verified |= super::mailed_to_current(&action, &user);
    user.password_hash = Some(hash);
    user.updated_at = now;
    let user = store::users::update(&txn, user).await?;
    // A new password also forgets the browsers that skipped the second factor.
    store::remembered_devices::delete(&txn, tenant.id, user.id, None).await?;
    mail::notify(state, &txn, tenant, MailKind::PasswordChanged, &user, now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    auth::user_changed(state, tenant.id, user.id).await?;
    // The failures that locked the account no longer mean anything.
    let had_failures = auth::unlock(state, tenant.id, &user.username).await?;
    let end_sessions = tenant.settings.email.reset_ends_sessions;
    if end_sessions {
        auth::end_all_sessions(state, tenant.id, user.id, now).await?;
    }
    let details = json!({ "by": by, "unlocked": had_failures, "sessions_ended": end_sessions });
    record(state, tenant, "password_reset.completed", Some(&user), None, true, meta, details, now).await;
    Ok(user)
}
