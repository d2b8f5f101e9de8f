//! Email verification per tenant policy (`settings.email.verification`: `off`, `optional`,
//! `required`): a mail on registration, on request (enumeration-safe) and from an admin;
//! confirming by link (the page's POST, never its GET) or by code.
use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use sea_orm::TransactionTrait;
use serde_json::json;

use super::{AccountError, Proof, Sent, action, address_limit, record, users_at};
use crate::{
    auth::{self, ClientMeta},
    domain::Email,
    state::AppState,
    store::{self, entities::users},
    tenancy::TenantContext,
};

/// Mails `user` a verification link and code for their current address, replacing any older
/// one. `via` says what asked (`registration`, `resend`, `sign_in`, `admin`) in the audit log.
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
    let Some(address) = user.email.as_deref().filter(|_| !user.email_verified) else {
        return Ok(Sent::Nothing);
    };
    if let Err(retry_after) = address_limit::take(state, tenant.id, "verify_email", address).await? {
        let details = json!({ "via": via, "throttled": true });
        record(state, tenant, "email_verification.sent", Some(user), None, false, meta, details, now).await;
        return Ok(Sent::Throttled { retry_after });
    }
    let new = action::NewAction {
        purpose: action::Purpose::VerifyEmail,
        user,
        to: address,
        payload: Some(json!({ "email": address })),
        ttl: Duration::from_secs(state.settings.email.verify_ttl_secs),
        address: None,
    };
    action::issue(state, &state.db, tenant, new, now).await?;
    record(
        state,
        tenant,
        "email_verification.sent",
        Some(user),
        None,
        true,
        meta,
        json!({ "via": via }),
        now,
    )
    .await;
    Ok(Sent::Queued)
}

/// `POST /auth/email/resend`: the same answer whether or not `email` belongs to anyone
/// unverified here; mail goes out in the background (or, for an unknown address, the same work
/// is done and thrown away), so neither the answer nor its timing tells.
///
/// # Errors
/// 403 when the tenant has verification `off`; 400 for a malformed address.
pub async fn resend(
    state: &Arc<AppState>,
    tenant: Arc<TenantContext>,
    email: &str,
    meta: ClientMeta,
    now: DateTime<Utc>,
) -> Result<(), AccountError> {
    if !tenant.settings.email.verification_on() {
        return Err(AccountError::Forbidden("email verification is turned off for this tenant"));
    }
    let email = Email::parse(email)?;
    let targets: Vec<users::Model> =
        users_at(state, &tenant, email.as_str()).await?.into_iter().filter(|u| !u.email_verified).collect();
    let details = json!({ "known": !targets.is_empty() });
    let target = Some(email.as_str().to_string());
    record(
        state,
        &tenant,
        "email_verification.requested",
        None,
        target,
        !targets.is_empty(),
        &meta,
        details,
        now,
    )
    .await;
    let state = Arc::clone(state);
    tokio::spawn(async move {
        if targets.is_empty() {
            action::decoy(&state, &tenant, action::Purpose::VerifyEmail);
        }
        for u in &targets {
            if let Err(e) = send(&state, &tenant, u, &meta, "resend", now).await {
                tracing::warn!(error = %e, "could not queue a verification mail");
            }
        }
    });
    Ok(())
}

/// Marks the address verified with a mailed link or code. The token must have been mailed to
/// the address the user has now.
///
/// # Errors
/// `InvalidToken` for anything but a live token of this purpose; infrastructure failures.
pub async fn confirm(
    state: &AppState,
    tenant: &TenantContext,
    proof: Proof<'_>,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<users::Model, AccountError> {
    let by = if matches!(proof, Proof::Link(_)) { "link" } else { "code" };
    let txn = state.db.begin().await.map_err(store::StoreError::from)?;
    let spent = super::consume(state, &txn, tenant, action::Purpose::VerifyEmail, proof, now).await?;
    let user = match spent {
        Some(a) => store::users::find_by_id(&txn, tenant.id, a.user_id)
            .await?
            .filter(|u| u.status == "active" && super::mailed_to_current(&a, u)),
        None => None,
    };
    let Some(mut user) = user else {
        txn.rollback().await.map_err(store::StoreError::from)?;
        record(state, tenant, "email.verified", None, None, false, meta, json!({ "by": by }), now).await;
        return Err(AccountError::InvalidToken);
    };
    user.email_verified = true;
    user.updated_at = now;
    let user = store::users::update(&txn, user).await?;
    txn.commit().await.map_err(store::StoreError::from)?;
    auth::user_changed(state, tenant.id, user.id).await?;
    record(state, tenant, "email.verified", Some(&user), None, true, meta, json!({ "by": by }), now).await;
    Ok(user)
}

/// Whether a verification link is live (its page shows the confirm button, or says it is spent).
///
/// # Errors
/// A database failure.
pub async fn link_is_live(
    state: &AppState,
    tenant: &TenantContext,
    token: &str,
    now: DateTime<Utc>,
) -> Result<bool, AccountError> {
    Ok(action::peek(state, &state.db, tenant, action::Purpose::VerifyEmail, token, now).await?.is_some())
}

fn held_key(tenant: &TenantContext, request_id: &str) -> String {
    format!("vh:{{{}}}:{}", tenant.id, crate::crypto::sha256_b64(request_id))
}

/// Remembers, for the pending sign-in `request_id`, the user whose password was right but whose
/// address is not verified, so "Send a new email" on the hosted page knows whom to mail
/// without asking again.
///
/// # Errors
/// The shared store cannot be reached.
pub async fn hold_sign_in(
    state: &AppState,
    tenant: &TenantContext,
    request_id: &str,
    user: uuid::Uuid,
) -> Result<(), AccountError> {
    let ttl = Duration::from_secs(state.settings.oidc.authorization_ttl_secs);
    state.kv.set_many_ex(&[(held_key(tenant, request_id), user.to_string(), ttl)]).await?;
    Ok(())
}

/// "Send a new email" on the hosted page of a sign-in held by [`hold_sign_in`].
///
/// # Errors
/// `InvalidToken` when the sign-in is unknown or expired; infrastructure failures.
pub async fn resend_for_sign_in(
    state: &AppState,
    tenant: &TenantContext,
    request_id: &str,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<Sent, AccountError> {
    if request_id.is_empty() || request_id.len() > 256 {
        return Err(AccountError::InvalidToken);
    }
    let held = state.kv.get(&held_key(tenant, request_id)).await?;
    let id = held.and_then(|v| v.parse().ok()).ok_or(AccountError::InvalidToken)?;
    let user = store::users::find_by_id(&state.db, tenant.id, id).await?.ok_or(AccountError::InvalidToken)?;
    send(state, tenant, &user, meta, "sign_in", now).await
}
