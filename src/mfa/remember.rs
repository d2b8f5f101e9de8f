//! "Remember this device": after a second step the user may have the browser skip it for the
//! tenant's `second_factor.remember_device_days`. The browser gets a cookie per user,
//! `gh_remember_{user}={id}.{secret}.{mac}`: the MAC (a key derived from the master key, over
//! the tenant, user, id and secret) turns forged values away without a database read; the row
//! `id` holds only a keyed hash of the secret, its expiry, and a label, so a device can be
//! listed and revoked and survives restarts. A sign-in that used it achieved one factor: it
//! claims no `mfa` (acr stays 1fa), and a request for `acr_values` 2fa still gets the step.
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::MfaError;
use crate::{
    domain::ClientMeta,
    state::AppState,
    store::{self, entities::remembered_devices},
    tenancy::TenantContext,
};

/// Cookie names start with this; one cookie per user, as with device cookies.
pub const COOKIE_PREFIX: &str = "gh_remember_";
const MAC_PURPOSE: &str = "remember-device";
const HASH_PURPOSE: &str = "remember-device-secret";
/// At most this many cookies of a request are looked at.
const MAX_PRESENTED: usize = 8;

/// The values of the remember cookies in `Cookie` header values.
pub fn from_cookie_headers<'a>(headers: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    crate::domain::cookie_values(headers, COOKIE_PREFIX, MAX_PRESENTED)
}

fn mac(state: &AppState, tenant: Uuid, user: Uuid, id: Uuid, secret: &str) -> String {
    state.master_key.keyed_hash(MAC_PURPOSE, &format!("{tenant}.{user}.{id}.{secret}"))
}

fn days(tenant: &TenantContext) -> u32 {
    tenant.settings.second_factor.remember_device_days
}

/// Remembers this browser for `user_id`: stores the device and returns the `Set-Cookie` value,
/// or nothing where the tenant does not remember devices. Audited.
///
/// # Errors
/// Database failure.
pub async fn remember(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<Option<String>, MfaError> {
    let days = days(tenant);
    if days == 0 {
        return Ok(None);
    }
    let id = Uuid::new_v4();
    let secret = format!("{}{}", crate::crypto::random_id(), crate::crypto::random_id());
    let label: String = meta.user_agent.as_deref().unwrap_or("Unknown browser").chars().take(200).collect();
    let row = remembered_devices::Model {
        id,
        tenant_id: tenant.id,
        user_id,
        secret_hash: state.master_key.keyed_hash(HASH_PURPOSE, &secret),
        label,
        created_at: now,
        expires_at: now + Duration::days(i64::from(days)),
        last_used_at: None,
    };
    store::remembered_devices::insert(&state.db, row).await?;
    let details = serde_json::json!({ "device_id": id, "days": days });
    super::record(state, tenant, user_id, "mfa.device_remembered", true, meta, details, now).await;
    let value = format!("{}.{secret}.{}", id.simple(), mac(state, tenant.id, user_id, id, &secret));
    let secure = if state.settings.oidc.insecure_dev_cookies { "" } else { "; Secure" };
    Ok(Some(format!(
        "{COOKIE_PREFIX}{}={value}; Path=/t/{}/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        user_id.simple(),
        tenant.slug,
        u64::from(days) * 86_400
    )))
}

/// Whether one of `presented` is a live remembered device of `user_id` (then marked used and
/// audited). Always false where the tenant stopped remembering devices.
///
/// # Errors
/// Database failure.
pub async fn recognised(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
    presented: &[String],
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<bool, MfaError> {
    if days(tenant) == 0 {
        return Ok(false);
    }
    for value in presented {
        let mut parts = value.split('.');
        let (Some(id), Some(secret), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Ok(id) = Uuid::parse_str(id) else { continue };
        let expected = mac(state, tenant.id, user_id, id, secret);
        if aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), tag.as_bytes()).is_err() {
            continue;
        }
        let Some(row) = store::remembered_devices::find_live(&state.db, tenant.id, user_id, id, now).await?
        else {
            continue;
        };
        let hash = state.master_key.keyed_hash(HASH_PURPOSE, secret);
        if aws_lc_rs::constant_time::verify_slices_are_equal(hash.as_bytes(), row.secret_hash.as_bytes())
            .is_ok()
        {
            store::remembered_devices::touch(&state.db, row.id, now).await?;
            let details = serde_json::json!({ "device_id": row.id });
            super::record(state, tenant, user_id, "mfa.remembered_device_used", true, meta, details, now)
                .await;
            return Ok(true);
        }
    }
    Ok(false)
}

/// The user's live remembered devices, newest first.
///
/// # Errors
/// Database failure.
pub async fn list(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<remembered_devices::Model>, MfaError> {
    Ok(store::remembered_devices::list(&state.db, tenant.id, user_id, now).await?)
}

/// Forgets one device (`Some(id)`) or all of the user's. Audited.
///
/// # Errors
/// `DeviceNotFound` for an unknown id, or a database failure.
pub async fn forget(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
    id: Option<Uuid>,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<u64, MfaError> {
    let gone = store::remembered_devices::delete(&state.db, tenant.id, user_id, id).await?;
    if id.is_some() && gone == 0 {
        return Err(MfaError::DeviceNotFound);
    }
    let details = serde_json::json!({ "device_id": id, "forgotten": gone });
    super::record(state, tenant, user_id, "mfa.remembered_devices_forgotten", true, meta, details, now).await;
    Ok(gone)
}
