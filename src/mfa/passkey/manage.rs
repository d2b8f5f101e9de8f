//! A user's passkeys: listing, renaming and removing them. Removing one never leaves an account
//! without a way to sign in, nor without the second factor its policy requires.
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::MfaError;
use crate::{
    domain::ClientMeta,
    state::AppState,
    store::{self, entities::users},
    tenancy::TenantContext,
};

/// A passkey as its owner sees it (never the key material).
pub struct PasskeyInfo {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// Backup eligible (synced between devices).
    pub synced: bool,
}

/// The user's passkeys, oldest first.
///
/// # Errors
/// Database failure.
pub async fn list(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
) -> Result<Vec<PasskeyInfo>, MfaError> {
    let rows = store::passkeys::list(&state.db, tenant.id, user_id).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let synced = r
                .credential
                .as_deref()
                .and_then(|c| serde_json::from_str(c).ok())
                .is_some_and(|p| super::register::synced(&p));
            PasskeyInfo {
                id: r.id,
                name: r.name,
                created_at: r.created_at,
                last_used_at: r.last_used_at,
                synced,
            }
        })
        .collect())
}

/// Renames one of the user's passkeys. Audited.
///
/// # Errors
/// `InvalidPasskeyName`, `PasskeyNotFound`, or infrastructure failures.
pub async fn rename(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
    id: Uuid,
    name: &str,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<PasskeyInfo, MfaError> {
    let name = super::register::clean_name(Some(name))?;
    if !store::passkeys::rename(&state.db, tenant.id, user_id, id, &name).await? {
        return Err(MfaError::PasskeyNotFound);
    }
    let details = serde_json::json!({ "passkey_id": id, "name": name });
    super::super::record(state, tenant, user_id, "mfa.passkey.renamed", true, meta, details, now).await;
    list(state, tenant, user_id).await?.into_iter().find(|p| p.id == id).ok_or(MfaError::PasskeyNotFound)
}

/// Whether `user` could still sign in without this passkey: a password (while the password
/// strategy is on), a linked external account, or another passkey.
async fn other_way_in(
    state: &AppState,
    tenant: &TenantContext,
    user: &users::Model,
) -> Result<bool, MfaError> {
    if user.password_hash.is_some() && tenant.strategies.password().is_some() {
        return Ok(true);
    }
    if !store::identities::list_for_user(&state.db, tenant.id, user.id).await?.is_empty() {
        return Ok(true);
    }
    Ok(store::passkeys::count(&state.db, tenant.id, user.id).await? > 1)
}

/// Removes one of the user's passkeys. Needs a session that passed a second factor (`amr`);
/// refused when it is the account's last way in (`LastSignInMethod`) or its last second factor
/// where the policy requires one (`RequiredByPolicy`). Audited.
///
/// # Errors
/// `StepUpNeeded`, `LastSignInMethod`, `RequiredByPolicy`, `PasskeyNotFound`, or
/// infrastructure failures.
#[allow(clippy::too_many_arguments)]
pub async fn remove(
    state: &AppState,
    tenant: &TenantContext,
    user: &users::Model,
    admin: bool,
    id: Uuid,
    amr: &[String],
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<(), MfaError> {
    if store::passkeys::find(&state.db, tenant.id, user.id, id).await?.is_none() {
        return Err(MfaError::PasskeyNotFound);
    }
    if !super::super::passed_second_factor(amr) {
        return Err(MfaError::StepUpNeeded);
    }
    if !other_way_in(state, tenant, user).await? {
        return Err(MfaError::LastSignInMethod);
    }
    let confirmed = store::factors::list(&state.db, tenant.id, user.id)
        .await?
        .into_iter()
        .filter(|f| f.confirmed_at.is_some() && f.id != id)
        .count();
    if confirmed == 0 && tenant.settings.second_factor.requires(admin) {
        return Err(MfaError::RequiredByPolicy);
    }
    if !store::passkeys::delete(&state.db, tenant.id, user.id, id).await? {
        return Err(MfaError::PasskeyNotFound);
    }
    let details = serde_json::json!({ "passkey_id": id });
    super::super::record(state, tenant, user.id, "mfa.passkey.removed", true, meta, details, now).await;
    Ok(())
}
