//! Changing the email address of a signed-in user, with re-verification and a way back:
//!
//! 1. [`request`] mails the new address a link and code; nothing changes yet.
//! 2. [`confirm_by_link`] or [`confirm_by_code`] puts the new address in place (verified) and,
//!    in the same transaction, mails the old address a notice with an undo link that works
//!    for [`UNDO_TTL`].
//! 3. [`undo`] restores the old address, ends the user's pending changes and every session and
//!    refresh token (whoever changed it may be signed in).
//!
//! While an undo link is live the address cannot change again: otherwise a second change
//! would replace the undo link mailed to the owner's address with one mailed to the intruder.
//! An address another user of the tenant has is refused when confirming, to the mailbox
//! owner only; the request is answered alike, so it reveals no account to a signed-in user.
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::{Value, json};

use super::action::{self, Action, NewAction, Purpose};
use crate::{
    auth::{AuthError, ClientMeta},
    domain::email::Email,
    state::AppState,
    store::{self, StoreError, entities::users},
    tenancy::TenantContext,
};

/// How long the old address can undo a change.
pub const UNDO_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a change request led to.
#[derive(Debug)]
pub enum Requested {
    /// A confirmation went to the new address.
    Sent { expires_at: DateTime<Utc> },
    /// The new address is the current one.
    Unchanged,
    /// The address changed within the undo period; it can change again after `until`.
    RecentlyChanged { until: DateTime<Utc> },
    /// The new address was sent too many confirmations in the last hour.
    Throttled,
}

/// What a confirmation or an undo led to.
#[derive(Debug)]
pub enum Applied {
    Done(Box<users::Model>),
    /// Unknown, used, replaced or expired (or, for a code, wrong).
    Invalid,
    /// Another user of the tenant has the address now.
    Taken,
    /// The address changed in between (another change confirmed, or undone).
    Stale,
}

fn err(e: sea_orm::DbErr) -> AuthError {
    AuthError::Store(StoreError::from(e))
}

#[allow(clippy::too_many_arguments)]
async fn record(
    state: &AppState,
    tenant: &TenantContext,
    event_type: &str,
    user: uuid::Uuid,
    success: bool,
    meta: &ClientMeta,
    details: Value,
    now: DateTime<Utc>,
) {
    super::events::record(state, tenant, event_type, Some(user), success, meta, details, now).await;
}

/// Whether another user of the tenant has `email`.
async fn taken(
    db: &impl ConnectionTrait,
    tenant: &TenantContext,
    user: uuid::Uuid,
    email: &str,
) -> Result<bool, AuthError> {
    Ok(store::users::find_by_email(db, tenant.id, email).await?.iter().any(|u| u.id != user))
}

/// When the last change's undo link stops working, if one is live.
async fn undo_live_until(
    state: &AppState,
    tenant: &TenantContext,
    user: uuid::Uuid,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, AuthError> {
    let live = store::action_tokens::latest_live(
        &state.db,
        tenant.id,
        user,
        Purpose::UndoEmailChange.as_str(),
        now.timestamp_millis(),
    )
    .await?;
    Ok(live.and_then(|r| DateTime::from_timestamp_millis(r.expires_at)))
}

/// Mails a confirmation of `new_address` to it.
///
/// # Errors
/// A malformed address (`Validation`), infrastructure failures.
pub async fn request(
    state: &AppState,
    tenant: &TenantContext,
    user: &users::Model,
    new_address: &str,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<Requested, AuthError> {
    let email = Email::parse(new_address)?;
    let refuse = |reason: &'static str| {
        let details = json!({ "reason": reason });
        record(state, tenant, "user.email_change_requested", user.id, false, meta, details, now)
    };
    if user.email.as_deref() == Some(email.as_str()) {
        return Ok(Requested::Unchanged);
    }
    if let Some(until) = undo_live_until(state, tenant, user.id, now).await? {
        refuse("recently_changed").await;
        return Ok(Requested::RecentlyChanged { until });
    }
    if super::address_limit::take(state, tenant.id, "change_email", email.as_str()).await?.is_err() {
        refuse("throttled").await;
        return Ok(Requested::Throttled);
    }
    // Checked here for the audit trail only; the answer does not tell, and confirming refuses.
    let is_taken = taken(&state.db, tenant, user.id, email.as_str()).await?;
    let new = NewAction {
        purpose: Purpose::ChangeEmail,
        user,
        to: email.as_str(),
        payload: Some(json!({ "email": email.as_str(), "from": user.email })),
        ttl: Duration::from_secs(state.settings.email.verify_ttl_secs),
        address: Some(email.as_str()),
    };
    let issued = action::issue(state, &state.db, tenant, new, now).await?;
    record(
        state,
        tenant,
        "user.email_change_requested",
        user.id,
        true,
        meta,
        json!({ "taken": is_taken }),
        now,
    )
    .await;
    Ok(Requested::Sent { expires_at: issued.expires_at })
}

fn payload_str<'a>(a: &'a Action, key: &str) -> Option<&'a str> {
    a.payload.as_ref().and_then(|p| p[key].as_str())
}

/// The address a link of `purpose` (a change, or its undo) would set, spending nothing (the
/// page the link opens).
///
/// # Errors
/// Infrastructure failures.
pub async fn peek_address(
    state: &AppState,
    tenant: &TenantContext,
    purpose: Purpose,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, AuthError> {
    let a = action::peek(state, &state.db, tenant, purpose, token, now).await?;
    Ok(a.and_then(|a| payload_str(&a, "email").map(str::to_string)))
}

/// Confirms a change by the mailed link.
///
/// # Errors
/// Infrastructure failures.
pub async fn confirm_by_link(
    state: &AppState,
    tenant: &TenantContext,
    token: &str,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<Applied, AuthError> {
    let txn = state.db.begin().await.map_err(err)?;
    match action::consume_link(state, &txn, tenant, Purpose::ChangeEmail, token, now).await? {
        Some(a) => apply_change(state, tenant, txn, a, "link", meta, now).await,
        None => Ok(Applied::Invalid),
    }
}

/// Confirms a change of the signed-in `user` by the mailed code.
///
/// # Errors
/// Infrastructure failures.
pub async fn confirm_by_code(
    state: &AppState,
    tenant: &TenantContext,
    user: uuid::Uuid,
    code: &str,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<Applied, AuthError> {
    let txn = state.db.begin().await.map_err(err)?;
    match action::consume_code(state, &txn, tenant, Purpose::ChangeEmail, user, code, now).await? {
        Some(a) => apply_change(state, tenant, txn, a, "code", meta, now).await,
        None => {
            record(
                state,
                tenant,
                "user.email_changed",
                user,
                false,
                meta,
                json!({ "path": "code", "reason": "invalid_code" }),
                now,
            )
            .await;
            Ok(Applied::Invalid)
        }
    }
}

async fn apply_change(
    state: &AppState,
    tenant: &TenantContext,
    txn: sea_orm::DatabaseTransaction,
    spent: Action,
    path: &str,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<Applied, AuthError> {
    let user =
        store::users::find_by_id(&txn, tenant.id, spent.user_id).await?.filter(|u| u.status == "active");
    let (Some(mut user), Some(new)) = (user, payload_str(&spent, "email")) else {
        return Ok(Applied::Invalid);
    };
    let refuse = |reason: &'static str| json!({ "path": path, "reason": reason, "email": new });
    if user.email.as_deref() != payload_str(&spent, "from") {
        record(state, tenant, "user.email_changed", user.id, false, meta, refuse("stale"), now).await;
        return Ok(Applied::Stale);
    }
    if taken(&txn, tenant, user.id, new).await? {
        // Rolled back: the token stays, useless until the other account lets go of the address.
        drop(txn);
        record(state, tenant, "user.email_changed", user.id, false, meta, refuse("taken"), now).await;
        return Ok(Applied::Taken);
    }
    let (old, old_verified) = (user.email.clone(), user.email_verified);
    user.email = Some(new.to_string());
    user.email_verified = true;
    user.updated_at = now;
    let user = store::users::update(&txn, user).await?;
    if let Some(old) = &old {
        let undo = NewAction {
            purpose: Purpose::UndoEmailChange,
            user: &user,
            to: old,
            payload: Some(json!({ "email": old, "verified": old_verified, "changed_to": new })),
            ttl: UNDO_TTL,
            address: Some(new),
        };
        action::issue(state, &txn, tenant, undo, now).await?;
    }
    txn.commit().await.map_err(err)?;
    crate::auth::user_changed(state, tenant.id, user.id).await?;
    record(
        state,
        tenant,
        "user.email_changed",
        user.id,
        true,
        meta,
        json!({ "path": path, "had_email": old.is_some() }),
        now,
    )
    .await;
    Ok(Applied::Done(Box::new(user)))
}

/// Undoes a change by the link mailed to the old address: restores it (and whether it was
/// verified), ends pending changes, and ends every session and refresh token of the user.
///
/// # Errors
/// Infrastructure failures.
pub async fn undo(
    state: &AppState,
    tenant: &TenantContext,
    token: &str,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<Applied, AuthError> {
    let txn = state.db.begin().await.map_err(err)?;
    let Some(spent) = action::consume_link(state, &txn, tenant, Purpose::UndoEmailChange, token, now).await?
    else {
        return Ok(Applied::Invalid);
    };
    let user = store::users::find_by_id(&txn, tenant.id, spent.user_id).await?;
    let (Some(mut user), Some(old)) = (user, payload_str(&spent, "email")) else {
        return Ok(Applied::Invalid);
    };
    if taken(&txn, tenant, user.id, old).await? {
        drop(txn);
        record(
            state,
            tenant,
            "user.email_change_undone",
            user.id,
            false,
            meta,
            json!({ "reason": "taken" }),
            now,
        )
        .await;
        return Ok(Applied::Taken);
    }
    let verified = spent.payload.as_ref().and_then(|p| p["verified"].as_bool()).unwrap_or(false);
    user.email = Some(old.to_string());
    user.email_verified = verified;
    user.updated_at = now;
    let user = store::users::update(&txn, user).await?;
    store::action_tokens::supersede(
        &txn,
        tenant.id,
        user.id,
        Purpose::ChangeEmail.as_str(),
        now.timestamp_millis(),
    )
    .await?;
    txn.commit().await.map_err(err)?;
    crate::auth::user_changed(state, tenant.id, user.id).await?;
    crate::auth::end_all_sessions(state, tenant.id, user.id, now).await?;
    record(
        state,
        tenant,
        "user.email_change_undone",
        user.id,
        true,
        meta,
        json!({ "sessions_ended": true }),
        now,
    )
    .await;
    Ok(Applied::Done(Box::new(user)))
}
