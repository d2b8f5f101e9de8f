//! Login providers (strategies) configured per tenant, with their secrets sealed per row.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{StoreError, entities::providers, is_unique_violation};
use crate::crypto::{DecryptError, MasterKey};

/// Kind and `provider_id` of the username/password provider; a tenant has exactly one.
pub const LOCAL: &str = "local";

/// The username/password provider every tenant starts with.
pub fn local_provider(tenant_id: Uuid, now: DateTime<Utc>) -> providers::Model {
    providers::Model {
        id: Uuid::now_v7(),
        tenant_id,
        provider_id: LOCAL.into(),
        kind: LOCAL.into(),
        display_name: "Username and password".into(),
        enabled: true,
        position: 0,
        config: serde_json::json!({}),
        secret_enc: None,
        created_at: now,
        updated_at: now,
    }
}

/// The additional data that binds a provider's sealed secrets to its row, so a blob copied to
/// another row (or tenant) does not open.
fn secrets_aad(tenant_id: Uuid, id: Uuid) -> Vec<u8> {
    let mut aad = b"provider-secrets:".to_vec();
    aad.extend_from_slice(tenant_id.as_bytes());
    aad.extend_from_slice(id.as_bytes());
    aad
}

/// Seals a provider's secrets for the `secret_enc` column; `None` when there are none.
pub fn seal_secrets(
    master_key: &MasterKey,
    tenant_id: Uuid,
    id: Uuid,
    secrets: &BTreeMap<String, String>,
) -> Option<Vec<u8>> {
    if secrets.is_empty() {
        return None;
    }
    // A map of strings always serialises.
    let json = serde_json::to_vec(secrets).unwrap_or_default();
    Some(master_key.encrypt(&json, &secrets_aad(tenant_id, id)))
}

/// The secrets of a provider row (empty when it has none).
///
/// # Errors
/// The blob was not sealed for this row with this master key.
pub fn open_secrets(
    master_key: &MasterKey,
    row: &providers::Model,
) -> Result<BTreeMap<String, String>, DecryptError> {
    let Some(sealed) = &row.secret_enc else { return Ok(BTreeMap::new()) };
    let plain = master_key.decrypt(sealed, &secrets_aad(row.tenant_id, row.id))?;
    serde_json::from_slice(&plain).map_err(|_| DecryptError)
}

#[derive(Debug, thiserror::Error)]
pub enum InsertProviderError {
    #[error("provider_id is taken")]
    ProviderIdTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// # Errors
/// The `provider_id` exists in this tenant (a unique index decides races), or a database
/// failure.
pub async fn insert(
    db: &impl ConnectionTrait,
    provider: providers::Model,
) -> Result<providers::Model, InsertProviderError> {
    match provider.into_active_model().reset_all().insert(db).await {
        Ok(p) => Ok(p),
        Err(e) if is_unique_violation(&e) => Err(InsertProviderError::ProviderIdTaken),
        Err(e) => Err(StoreError::from(e).into()),
    }
}

/// # Errors
/// Database failure.
pub async fn find(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    provider_id: &str,
) -> Result<Option<providers::Model>, StoreError> {
    Ok(providers::Entity::find()
        .filter(providers::Column::TenantId.eq(tenant_id))
        .filter(providers::Column::ProviderId.eq(provider_id))
        .one(db)
        .await?)
}

/// # Errors
/// Database failure.
pub async fn find_by_kind(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    kind: &str,
) -> Result<Option<providers::Model>, StoreError> {
    Ok(providers::Entity::find()
        .filter(providers::Column::TenantId.eq(tenant_id))
        .filter(providers::Column::Kind.eq(kind))
        .one(db)
        .await?)
}

/// Every provider of a tenant in display order (a tenant has a handful).
///
/// # Errors
/// Database failure.
pub async fn list_all(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
) -> Result<Vec<providers::Model>, StoreError> {
    Ok(providers::Entity::find()
        .filter(providers::Column::TenantId.eq(tenant_id))
        .order_by_asc(providers::Column::Position)
        .order_by_asc(providers::Column::Id)
        .limit(200)
        .all(db)
        .await?)
}

#[derive(Debug, Default)]
pub struct ProviderFilter {
    pub kind: Option<String>,
    pub enabled: Option<bool>,
}

/// Ordered by position, then id; `after` is the `(position, id)` of the last row of the
/// previous page.
///
/// # Errors
/// Database failure.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    filter: &ProviderFilter,
    after: Option<(i32, Uuid)>,
    limit: u64,
) -> Result<Vec<providers::Model>, StoreError> {
    let mut q = providers::Entity::find().filter(providers::Column::TenantId.eq(tenant_id));
    if let Some(k) = &filter.kind {
        q = q.filter(providers::Column::Kind.eq(k.as_str()));
    }
    if let Some(e) = filter.enabled {
        q = q.filter(providers::Column::Enabled.eq(e));
    }
    if let Some((position, id)) = after {
        q = q.filter(Condition::any().add(providers::Column::Position.gt(position)).add(
            Condition::all().add(providers::Column::Position.eq(position)).add(providers::Column::Id.gt(id)),
        ));
    }
    Ok(q.order_by_asc(providers::Column::Position)
        .order_by_asc(providers::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// Writes every mutable field of `provider` (all but ids, kind and creation time).
///
/// # Errors
/// Database failure.
pub async fn update(
    db: &impl ConnectionTrait,
    provider: providers::Model,
) -> Result<providers::Model, StoreError> {
    use sea_orm::ActiveValue::Set;
    let mut active = provider.clone().into_active_model();
    active.display_name = Set(provider.display_name);
    active.enabled = Set(provider.enabled);
    active.position = Set(provider.position);
    active.config = Set(provider.config);
    active.secret_enc = Set(provider.secret_enc);
    active.updated_at = Set(provider.updated_at);
    Ok(active.update(db).await?)
}

/// # Errors
/// Database failure.
pub async fn delete(db: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<bool, StoreError> {
    let res = providers::Entity::delete_many()
        .filter(providers::Column::TenantId.eq(tenant_id))
        .filter(providers::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}
