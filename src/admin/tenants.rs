//! Tenant administration (operators; tenant admins may read and configure their own tenant).
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::{Admin, Page, fetch_size, managed_tenant, page, parse_cursor};
use crate::{
    error::ApiError,
    state::AppState,
    store::{self, entities::tenants, tenants::TenantFilter},
    tenancy::SYSTEM_TENANT,
    tenancy::{self, TenantSettings},
    tokens::Algorithm,
};

pub struct NewTenant {
    pub slug: String,
    pub display_name: String,
    pub settings: TenantSettings,
}

fn validate_display_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.chars().count() > 200 {
        return Err(ApiError::validation("display_name", "must be 1 to 200 characters"));
    }
    Ok(())
}

/// Creates a tenant with its signing key and local provider.
///
/// # Errors
/// 403 for non-operators, 400 for invalid input, 409 for a taken slug.
pub async fn create(
    state: &AppState,
    admin: &Admin,
    new: NewTenant,
    now: DateTime<Utc>,
) -> Result<tenants::Model, ApiError> {
    admin.require_operator()?;
    if !crate::domain::valid_slug(&new.slug) {
        return Err(ApiError::validation("slug", "must be 1-63 lower-case letters, digits or inner hyphens"));
    }
    validate_display_name(&new.display_name)?;
    new.settings.validate(state.settings.tokens.max_access_ttl_secs)?;
    if new.settings.passkeys.rp_id.is_some() {
        new.settings.passkeys.rp_id_for(&state.settings.public_url())?;
    }
    let id = Uuid::now_v7();
    let algorithm = Algorithm::parse(&new.settings.signing_algorithm).unwrap_or(Algorithm::Es256);
    let row = tenants::Model {
        id,
        slug: new.slug.clone(),
        display_name: new.display_name.trim().to_string(),
        status: "active".into(),
        settings: serde_json::to_value(&new.settings).map_err(ApiError::internal)?,
        created_at: now,
        updated_at: now,
    };
    let keys =
        tenancy::new_signing_keys(&state.master_key, id, algorithm, now).map_err(ApiError::internal)?;
    let local = store::providers::local_provider(id, now);
    let created = match store::tenants::create(&state.db, row, keys, local).await {
        Ok(t) => t,
        Err(store::tenants::CreateTenantError::SlugTaken) => {
            return Err(ApiError::conflict("tenant_exists", "a tenant with this slug already exists"));
        }
        Err(store::tenants::CreateTenantError::Store(e)) => return Err(e.into()),
    };
    // A cached "no such tenant" elsewhere must not outlive the creation.
    state.tenants.changed(&state.kv, &created.slug).await;
    record(state, admin, created.id, "tenant.created", &created.slug, json!({}), now).await;
    Ok(created)
}

/// Operators see every tenant; a tenant admin sees its own.
///
/// # Errors
/// 400 for a bad cursor; infrastructure failures.
pub async fn list(
    state: &AppState,
    admin: &Admin,
    mut filter: TenantFilter,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Page<tenants::Model>, ApiError> {
    let after = parse_cursor(cursor)?;
    let fetched = fetch_size(limit);
    let mut rows = store::tenants::list(&state.replica, &filter, after, fetched).await?;
    if !admin.operator {
        filter.slug_prefix = None;
        rows.retain(|t| admin.may_manage(&t.slug));
    }
    Ok(page(rows, fetched, |t| t.id))
}

/// # Errors
/// 403 / 404 as [`managed_tenant`].
pub async fn get(state: &AppState, admin: &Admin, slug: &str) -> Result<tenants::Model, ApiError> {
    managed_tenant(state, admin, slug).await?;
    store::tenants::find_by_slug(&state.db, slug)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant_not_found", "no such tenant"))
}

pub struct TenantChanges<F: FnOnce(&mut TenantSettings)> {
    pub display_name: Option<String>,
    /// `active` or `disabled`; operators only.
    pub status: Option<String>,
    pub settings: F,
}

/// Applies changes. Disabling kills every token of the tenant at once, on every instance;
/// changing the signing algorithm rotates to a new key of that algorithm.
///
/// # Errors
/// 403 / 404 as [`managed_tenant`]; 400 for invalid values.
pub async fn update<F: FnOnce(&mut TenantSettings)>(
    state: &AppState,
    admin: &Admin,
    slug: &str,
    changes: TenantChanges<F>,
    now: DateTime<Utc>,
) -> Result<tenants::Model, ApiError> {
    let mut row = get(state, admin, slug).await?;
    let mut settings: TenantSettings = serde_json::from_value(row.settings.clone()).unwrap_or_default();
    let old_algorithm = settings.signing_algorithm.clone();
    (changes.settings)(&mut settings);
    settings.validate(state.settings.tokens.max_access_ttl_secs)?;
    if settings.passkeys.rp_id.is_some() {
        settings.passkeys.rp_id_for(&state.settings.public_url())?;
    }
    if let Some(name) = changes.display_name {
        validate_display_name(&name)?;
        row.display_name = name.trim().to_string();
    }
    let mut disabling = false;
    if let Some(status) = changes.status {
        if status != row.status {
            admin.require_operator()?;
            if slug == SYSTEM_TENANT {
                return Err(ApiError::validation("status", "the system tenant cannot be disabled"));
            }
            disabling = status == "disabled";
        }
        if !matches!(status.as_str(), "active" | "disabled") {
            return Err(ApiError::validation("status", "must be active or disabled"));
        }
        row.status = status;
    }
    if disabling {
        // +1: tokens issued during this second die too; nobody can log in while disabled.
        state.revocations.revoke_tenant_before(row.id, now.timestamp() + 1).await?;
    }
    let rotate = settings.signing_algorithm != old_algorithm;
    row.settings = serde_json::to_value(&settings).map_err(ApiError::internal)?;
    row.updated_at = now;
    let updated = store::tenants::update(&state.db, row).await?;
    if rotate {
        let algorithm = Algorithm::parse(&settings.signing_algorithm).unwrap_or(Algorithm::Es256);
        let keys = tenancy::new_signing_keys(&state.master_key, updated.id, algorithm, now)
            .map_err(ApiError::internal)?;
        store::signing_keys::rotate(&state.db, updated.id, keys, now).await?;
    }
    state.tenants.changed(&state.kv, slug).await;
    let details = json!({ "status": updated.status, "rotated_key": rotate });
    record(state, admin, updated.id, "tenant.updated", slug, details, now).await;
    Ok(updated)
}

/// Deletes a tenant with all its data; its tokens stop working at once everywhere. The
/// deletion is recorded in the `system` tenant's audit log, since the tenant's own goes too.
///
/// # Errors
/// 403 for non-operators or the system tenant; 404 for an unknown tenant.
pub async fn delete(state: &AppState, admin: &Admin, slug: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    admin.require_operator()?;
    if slug == SYSTEM_TENANT {
        return Err(ApiError::forbidden("forbidden", "the system tenant cannot be deleted"));
    }
    let row = get(state, admin, slug).await?;
    state.revocations.revoke_tenant_before(row.id, now.timestamp() + 1).await?;
    store::tenants::delete(&state.db, row.id).await?;
    state.tenants.changed(&state.kv, slug).await;
    if let Some(system) = state.tenants.get(SYSTEM_TENANT).await? {
        record(state, admin, system.id, "tenant.deleted", slug, json!({ "tenant_id": row.id }), now).await;
    }
    Ok(())
}

async fn record(
    state: &AppState,
    admin: &Admin,
    tenant_id: Uuid,
    event_type: &str,
    target: &str,
    details: serde_json::Value,
    now: DateTime<Utc>,
) {
    super::record_change(state, admin, tenant_id, event_type, format!("tenant:{target}"), None, details, now)
        .await;
}
