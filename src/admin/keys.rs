//! Signing-key administration: list and rotate.
use chrono::{DateTime, Utc};
use serde_json::json;

use super::Admin;
use crate::{
    error::ApiError,
    state::AppState,
    store::{self, entities::signing_keys},
    tenancy::{self, TenantContext},
    tokens::Algorithm,
};

/// # Errors
/// Database failure.
pub async fn list(state: &AppState, tenant: &TenantContext) -> Result<Vec<signing_keys::Model>, ApiError> {
    Ok(store::signing_keys::list(&state.db, tenant.id).await?)
}

/// A new key of `algorithm` (default: the tenant's) starts signing access tokens, with a new
/// RS256 key for ID tokens; the old ones keep
/// verifying, and stays in the JWKS, until every token it signed has expired.
///
/// # Errors
/// Database failure.
pub async fn rotate(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    algorithm: Option<Algorithm>,
    now: DateTime<Utc>,
) -> Result<signing_keys::Model, ApiError> {
    let algorithm = algorithm
        .or_else(|| Algorithm::parse(&tenant.settings.signing_algorithm))
        .unwrap_or(Algorithm::Es256);
    let keys = tenancy::new_signing_keys(&state.master_key, tenant.id, algorithm, now)
        .map_err(ApiError::internal)?;
    let key = keys.first().cloned().ok_or_else(|| ApiError::internal(anyhow::anyhow!("no key generated")))?;
    store::signing_keys::rotate(&state.db, tenant.id, keys, now).await?;
    state.tenants.changed(&state.kv, &tenant.slug).await;
    let details = json!({ "algorithm": algorithm.as_str() });
    let target = format!("key:{}", key.kid);
    super::record_change(state, admin, tenant.id, "signing_key.rotated", target, None, details, now).await;
    Ok(key)
}
