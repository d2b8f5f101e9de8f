//! Registering a passkey: creation options for the browser, then the attestation checked
//! against the stored ceremony. Discoverable credentials are asked for (`residentKey:
//! preferred`), so the passkey can also sign in without a username.
use chrono::{DateTime, Utc};
use uuid::Uuid;
use webauthn_rs::prelude::{Passkey, PasskeyRegistration, RegisterPublicKeyCredential};

use super::{Ceremony, MfaError, Stored, credential_id, parse, relying_party, save, take};
use crate::{
    domain::ClientMeta, state::AppState, store, store::entities::user_factors, tenancy::TenantContext,
};

/// Starts registering a passkey for `user_id` (named `username` on the authenticator), with
/// its existing passkeys excluded. `extra` travels with the ceremony to its end. Returns the
/// ceremony token and the options for `navigator.credentials.create()` (as JSON).
///
/// # Errors
/// `MethodNotAllowed`, `PasskeysUnavailable`, or infrastructure failures.
pub async fn start_registration(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
    username: &str,
    extra: serde_json::Value,
) -> Result<(String, serde_json::Value), MfaError> {
    super::allowed(tenant)?;
    let rp = relying_party(state, tenant)?;
    let existing = store::passkeys::list(&state.db, tenant.id, user_id).await?;
    let exclude: Vec<_> = existing
        .iter()
        .filter_map(|r| r.credential.as_deref())
        .filter_map(|c| serde_json::from_str::<Passkey>(c).ok())
        .map(|p| p.cred_id().clone())
        .collect();
    let (options, reg) = rp
        .start_passkey_registration(user_id, username, username, Some(exclude).filter(|e| !e.is_empty()))
        .map_err(|e| MfaError::Unexpected(anyhow::anyhow!("passkey registration: {e}")))?;
    let mut options = serde_json::to_value(&options).map_err(anyhow::Error::from)?;
    if let Some(sel) =
        options.pointer_mut("/publicKey/authenticatorSelection").and_then(|s| s.as_object_mut())
    {
        // A discoverable credential, for usernameless sign-in. Browsers treat `preferred` as
        // `required` where they can; security keys without room for one still register (and
        // then need a username). webauthn-rs does not check this flag on the way back.
        sel.insert("residentKey".into(), "preferred".into());
    }
    let stored = Stored {
        ceremony: Ceremony::Register,
        user_id: Some(user_id),
        state: serde_json::to_value(&reg).map_err(anyhow::Error::from)?,
        extra,
    };
    Ok((save(state, tenant, &stored).await?, options))
}

/// A checked registration, not stored yet.
pub struct Registered {
    pub user_id: Uuid,
    pub passkey: Passkey,
    pub extra: serde_json::Value,
}

/// Checks the browser's answer to a registration (single use).
///
/// # Errors
/// `PasskeyCeremonyInvalid` (unknown, expired or replayed token), `PasskeyRejected` (the
/// attestation does not match the challenge, origin or RP ID, or lacks user verification).
pub async fn finish_registration(
    state: &AppState,
    tenant: &TenantContext,
    token: &str,
    credential: &serde_json::Value,
) -> Result<Registered, MfaError> {
    let stored = take(state, tenant, token, Ceremony::Register).await?;
    let rp = relying_party(state, tenant)?;
    let reg: PasskeyRegistration = serde_json::from_value(stored.state).map_err(anyhow::Error::from)?;
    let response: RegisterPublicKeyCredential = parse(credential)?;
    let passkey = rp.finish_passkey_registration(&response, &reg).map_err(|e| {
        tracing::info!(error = %e, "passkey registration refused");
        MfaError::PasskeyRejected
    })?;
    let user_id = stored.user_id.ok_or(MfaError::PasskeyCeremonyInvalid)?;
    Ok(Registered { user_id, passkey, extra: stored.extra })
}

/// The `user_factors` row of a registered passkey.
///
/// # Errors
/// The credential cannot be serialised (not expected).
pub fn new_row(
    tenant: &TenantContext,
    registered: &Registered,
    name: &str,
    now: DateTime<Utc>,
) -> Result<user_factors::Model, MfaError> {
    Ok(user_factors::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        user_id: registered.user_id,
        kind: store::passkeys::KIND.into(),
        name: name.into(),
        secret: None,
        last_step: None,
        confirmed_at: Some(now),
        created_at: now,
        last_used_at: None,
        credential: Some(serde_json::to_string(&registered.passkey).map_err(anyhow::Error::from)?),
        credential_id: Some(credential_id(registered.passkey.cred_id())),
    })
}

/// A name for a passkey: trimmed, at most [`super::MAX_NAME`] characters, no control
/// characters; empty gives `Passkey`.
///
/// # Errors
/// `InvalidName`.
pub(super) fn clean_name(name: Option<&str>) -> Result<String, MfaError> {
    let name = name.map(str::trim).unwrap_or_default();
    if name.chars().count() > super::MAX_NAME || name.chars().any(char::is_control) {
        return Err(MfaError::InvalidPasskeyName);
    }
    Ok(if name.is_empty() { "Passkey".into() } else { name.into() })
}

/// Stores a checked registration of an existing user and audits it.
///
/// # Errors
/// `InvalidPasskeyName`, `PasskeyDuplicate`, or infrastructure failures.
pub async fn store_registration(
    state: &AppState,
    tenant: &TenantContext,
    registered: &Registered,
    name: Option<&str>,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<user_factors::Model, MfaError> {
    let row = new_row(tenant, registered, &clean_name(name)?, now)?;
    let row = match store::passkeys::insert(&state.db, row).await {
        Ok(r) => r,
        Err(store::passkeys::InsertPasskeyError::Duplicate) => return Err(MfaError::PasskeyDuplicate),
        Err(store::passkeys::InsertPasskeyError::Store(e)) => return Err(e.into()),
    };
    let details = serde_json::json!({ "passkey_id": row.id, "name": row.name });
    super::super::record(state, tenant, row.user_id, "mfa.passkey.registered", true, meta, details, now)
        .await;
    super::super::enrolled_new(state, tenant, row.user_id, now).await;
    Ok(row)
}

/// Whether a passkey is synced (backup eligible): its key leaves the device (`swk`).
pub fn synced(passkey: &Passkey) -> bool {
    serde_json::to_value(passkey)
        .ok()
        .and_then(|v| v.pointer("/cred/backup_eligible").and_then(serde_json::Value::as_bool))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_bounded_and_default_to_passkey() {
        assert_eq!(clean_name(None).unwrap(), "Passkey");
        assert_eq!(clean_name(Some("  ")).unwrap(), "Passkey");
        assert_eq!(clean_name(Some(" Laptop ")).unwrap(), "Laptop");
        assert_eq!(clean_name(Some(&"é".repeat(100))).unwrap().chars().count(), 100);
        assert!(clean_name(Some(&"x".repeat(101))).is_err());
        assert!(clean_name(Some("a\u{7}b")).is_err());
    }
}
