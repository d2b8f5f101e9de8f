//! Proving a passkey: request options for the browser (the user's passkeys, or none for a
//! discoverable, usernameless sign-in), then the assertion checked against the stored ceremony
//! and the stored credential. The sign counter is written back; a counter that went backwards
//! (a cloned authenticator, as webauthn-rs reports it) refuses the sign-in and is audited.
use chrono::{DateTime, Utc};
use uuid::Uuid;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PublicKeyCredential, WebauthnError,
};

use super::{Ceremony, Method, MfaError, Stored, credential_id, parse, relying_party, save, take};
use crate::{
    domain::ClientMeta,
    state::AppState,
    store::{self, entities::users},
    tenancy::TenantContext,
};

/// Starts an assertion. With a user (a username was given, or a second step): their passkeys
/// are allowed; a user without any gets stand-in credential ids derived from `lookup_name`, so
/// the answer does not tell whether the account or its passkeys exist. Without: any
/// discoverable passkey of this RP. Returns the ceremony token and the options for
/// `navigator.credentials.get()` (as JSON).
///
/// # Errors
/// `MethodNotAllowed`, `PasskeysUnavailable`, or infrastructure failures.
pub async fn start_assertion(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Option<Uuid>,
    lookup_name: Option<&str>,
) -> Result<(String, serde_json::Value), MfaError> {
    super::allowed(tenant)?;
    let rp = relying_party(state, tenant)?;
    let unexpected = |e: WebauthnError| MfaError::Unexpected(anyhow::anyhow!("passkey assertion: {e}"));
    let passkeys: Vec<Passkey> = match user_id {
        Some(id) => store::passkeys::list(&state.db, tenant.id, id)
            .await?
            .iter()
            .filter_map(|r| r.credential.as_deref())
            .filter_map(|c| serde_json::from_str(c).ok())
            .collect(),
        None => Vec::new(),
    };
    let (options, state_json, discoverable) = if passkeys.is_empty() {
        let (options, auth) = rp.start_discoverable_authentication().map_err(unexpected)?;
        let mut options = serde_json::to_value(&options).map_err(anyhow::Error::from)?;
        if let Some(name) = lookup_name {
            stand_ins(state, tenant, name, &mut options)?;
        }
        (options, serde_json::to_value(&auth).map_err(anyhow::Error::from)?, true)
    } else {
        let (options, auth) = rp.start_passkey_authentication(&passkeys).map_err(unexpected)?;
        let options = serde_json::to_value(&options).map_err(anyhow::Error::from)?;
        (options, serde_json::to_value(&auth).map_err(anyhow::Error::from)?, false)
    };
    let stored = Stored {
        ceremony: Ceremony::Assert,
        user_id,
        state: state_json,
        extra: serde_json::json!({ "discoverable": discoverable }),
    };
    Ok((save(state, tenant, &stored).await?, options))
}

/// Fills `allowCredentials` with ids that look real and stay the same for a name (an HMAC
/// under a key derived from the master key), and drops the conditional mediation.
fn stand_ins(
    state: &AppState,
    tenant: &TenantContext,
    name: &str,
    options: &mut serde_json::Value,
) -> Result<(), MfaError> {
    use webauthn_rs::fake::{FakePasskeyDistribution, WebauthnFakeCredentialGenerator};
    let key = state.master_key.keyed_hash("passkey-stand-ins", &tenant.id.to_string());
    let fake = WebauthnFakeCredentialGenerator::<FakePasskeyDistribution>::new(key.as_bytes())
        .and_then(|g| g.generate(name.as_bytes()))
        .map_err(|e| MfaError::Unexpected(anyhow::anyhow!("stand-in credentials: {e}")))?;
    let ids: Vec<serde_json::Value> =
        fake.iter().map(|id| serde_json::json!({ "type": "public-key", "id": credential_id(id) })).collect();
    if let Some(o) = options.as_object_mut() {
        o.remove("mediation");
    }
    if let Some(pk) = options.pointer_mut("/publicKey").and_then(|p| p.as_object_mut()) {
        pk.insert("allowCredentials".into(), ids.into());
    }
    Ok(())
}

/// A verified passkey use.
pub struct Asserted {
    pub user: users::Model,
    pub passkey_id: Uuid,
    /// Backup eligible: `swk` rather than `hwk`.
    pub synced: bool,
}

/// Checks an assertion (single use): the ceremony, the user (`expected` when the caller knows
/// whom it signs in; the authenticator's user handle otherwise), the signature, user
/// verification and the counter. Audited (`mfa.passkey.used`, `mfa.passkey.failed`).
///
/// # Errors
/// `PasskeyCeremonyInvalid`, `PasskeyRejected`, or infrastructure failures.
pub async fn finish_assertion(
    state: &AppState,
    tenant: &TenantContext,
    token: &str,
    expected: Option<Uuid>,
    credential: &serde_json::Value,
    meta: &ClientMeta,
    path: &str,
    now: DateTime<Utc>,
) -> Result<Asserted, MfaError> {
    let stored = take(state, tenant, token, Ceremony::Assert).await?;
    let response: PublicKeyCredential = parse(credential)?;
    let outcome = check(state, tenant, stored, expected, &response, now).await;
    let details =
        |id: Option<Uuid>, why: &str| serde_json::json!({ "passkey_id": id, "path": path, "why": why });
    match outcome {
        Ok(done) => {
            let d = serde_json::json!({ "passkey_id": done.passkey_id, "path": path, "synced": done.synced });
            super::super::record(state, tenant, done.user.id, "mfa.passkey.used", true, meta, d, now).await;
            Ok(done)
        }
        Err(Refused { user_id: Some(user), passkey_id, why }) => {
            let event = if why == "counter" { "mfa.passkey.clone_suspected" } else { "mfa.passkey.failed" };
            super::super::record(state, tenant, user, event, false, meta, details(passkey_id, why), now)
                .await;
            Err(MfaError::PasskeyRejected)
        }
        Err(Refused { why: "store", .. }) => {
            Err(MfaError::Unexpected(anyhow::anyhow!("passkey store failure")))
        }
        Err(_) => Err(MfaError::PasskeyRejected),
    }
}

struct Refused {
    user_id: Option<Uuid>,
    passkey_id: Option<Uuid>,
    why: &'static str,
}

async fn check(
    state: &AppState,
    tenant: &TenantContext,
    stored: Stored,
    expected: Option<Uuid>,
    response: &PublicKeyCredential,
    now: DateTime<Utc>,
) -> Result<Asserted, Refused> {
    let refused = |user_id, passkey_id, why| Refused { user_id, passkey_id, why };
    let rp = relying_party(state, tenant).map_err(|_| refused(None, None, "rp"))?;
    let discoverable = stored.extra.get("discoverable").and_then(serde_json::Value::as_bool).unwrap_or(false);
    let user_id = match stored.user_id {
        Some(id) => id,
        None => {
            rp.identify_discoverable_authentication(response).map_err(|_| refused(None, None, "handle"))?.0
        }
    };
    if expected.is_some_and(|e| e != user_id) {
        return Err(refused(expected, None, "user"));
    }
    let user = match store::users::find_by_id(&state.db, tenant.id, user_id).await {
        Ok(Some(u)) if u.status == "active" => u,
        Ok(_) => return Err(refused(None, None, "user")),
        Err(_) => return Err(refused(None, None, "store")),
    };
    let wanted = credential_id(response.get_credential_id());
    let rows = store::passkeys::list(&state.db, tenant.id, user.id)
        .await
        .map_err(|_| refused(None, None, "store"))?;
    let Some(row) = rows.into_iter().find(|r| r.credential_id.as_deref() == Some(wanted.as_str())) else {
        return Err(refused(Some(user.id), None, "unknown_passkey"));
    };
    let mut passkey: Passkey = row
        .credential
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok())
        .ok_or_else(|| refused(Some(user.id), Some(row.id), "stored"))?;
    let result = if discoverable {
        let auth: DiscoverableAuthentication = serde_json::from_value(stored.state)
            .map_err(|_| refused(Some(user.id), Some(row.id), "state"))?;
        rp.finish_discoverable_authentication_v2(response, auth, &passkey)
    } else {
        let auth: PasskeyAuthentication = serde_json::from_value(stored.state)
            .map_err(|_| refused(Some(user.id), Some(row.id), "state"))?;
        rp.finish_passkey_authentication(response, &auth)
    };
    let result = result.map_err(|e| {
        let why =
            if matches!(e, WebauthnError::CredentialPossibleCompromise) { "counter" } else { "signature" };
        tracing::info!(error = %e, "passkey assertion refused");
        refused(Some(user.id), Some(row.id), why)
    })?;
    // Always user-verified: both ceremonies require it, and webauthn-rs refuses otherwise.
    passkey.update_credential(&result);
    let json = serde_json::to_string(&passkey).map_err(|_| refused(Some(user.id), Some(row.id), "stored"))?;
    match store::passkeys::record_use(&state.db, tenant.id, &row, &json, now).await {
        Ok(true) => {}
        // Another use moved the counter meanwhile: this assertion is not the newest.
        Ok(false) => return Err(refused(Some(user.id), Some(row.id), "counter")),
        Err(_) => return Err(refused(Some(user.id), Some(row.id), "store")),
    }
    Ok(Asserted { user, passkey_id: row.id, synced: result.backup_eligible() })
}

/// A second step by passkey, under the user's failure budget like a code: `methods` are the
/// challenge's. Audited as `mfa.verified` / `mfa.failed` with `method: passkey`.
///
/// # Errors
/// `MethodNotAllowed`, `PasskeyRejected`, `PasskeyCeremonyInvalid`, `Locked`, or
/// infrastructure failures.
#[allow(clippy::too_many_arguments)]
pub async fn verify_second_step(
    state: &AppState,
    tenant: &TenantContext,
    user: &users::Model,
    methods: &[Method],
    token: &str,
    credential: &serde_json::Value,
    meta: &ClientMeta,
    path: &str,
    now: DateTime<Utc>,
) -> Result<Asserted, MfaError> {
    if !methods.contains(&Method::Passkey) {
        return Err(MfaError::MethodNotAllowed);
    }
    let details = serde_json::json!({ "method": "passkey", "path": path });
    let mut asserted = None;
    let checked = async {
        match finish_assertion(state, tenant, token, Some(user.id), credential, meta, path, now).await {
            Ok(a) => {
                asserted = Some(a);
                Ok(true)
            }
            Err(MfaError::PasskeyRejected) => Ok(false),
            Err(e) => Err(e),
        }
    };
    let ok = super::super::under_budget(state, tenant, user.id, meta, &details, now, checked).await?;
    match asserted.filter(|_| ok) {
        Some(a) => {
            super::super::record(state, tenant, user.id, "mfa.verified", true, meta, details, now).await;
            Ok(a)
        }
        None => {
            super::super::record(state, tenant, user.id, "mfa.failed", false, meta, details, now).await;
            Err(MfaError::PasskeyRejected)
        }
    }
}
