//! Tenants and their creation together with a first signing key.
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    TransactionSession, TransactionTrait,
};

use super::{
    StoreError,
    entities::{signing_keys, tenants},
    is_unique_violation,
};

/// # Errors
/// Database failure.
pub async fn find_by_slug(
    db: &impl ConnectionTrait,
    slug: &str,
) -> Result<Option<tenants::Model>, StoreError> {
    if !super::storable(slug) {
        return Ok(None);
    }
    Ok(tenants::Entity::find().filter(tenants::Column::Slug.eq(slug)).one(db).await?)
}

#[derive(Debug, thiserror::Error)]
pub enum CreateTenantError {
    #[error("a tenant with this slug already exists")]
    SlugTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Inserts a tenant, its first signing keys and its local provider in one transaction.
///
/// # Errors
/// The slug is taken, or a database failure.
pub async fn create(
    db: &impl TransactionTrait,
    tenant: tenants::Model,
    keys: Vec<signing_keys::Model>,
    local_provider: super::entities::providers::Model,
) -> Result<tenants::Model, CreateTenantError> {
    let txn = db.begin().await.map_err(StoreError::from)?;
    let stored = match tenant.into_active_model().reset_all().insert(&txn).await {
        Ok(t) => t,
        Err(e) if is_unique_violation(&e) => return Err(CreateTenantError::SlugTaken),
        Err(e) => return Err(StoreError::from(e).into()),
    };
    for key in keys {
        key.into_active_model().reset_all().insert(&txn).await.map_err(StoreError::from)?;
    }
    local_provider.into_active_model().reset_all().insert(&txn).await.map_err(StoreError::from)?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(stored)
}

#[derive(Debug, Default)]
pub struct TenantFilter {
    pub status: Option<String>,
    pub slug_prefix: Option<String>,
}

/// Ordered by id (creation time); `after` is the last id of the previous page.
///
/// # Errors
/// Database failure.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &TenantFilter,
    after: Option<uuid::Uuid>,
    limit: u64,
) -> Result<Vec<tenants::Model>, StoreError> {
    use sea_orm::{QueryOrder, QuerySelect};
    let mut q = tenants::Entity::find();
    if let Some(s) = &filter.status {
        q = q.filter(tenants::Column::Status.eq(s.as_str()));
    }
    if let Some(p) = &filter.slug_prefix {
        q = q.filter(tenants::Column::Slug.like(super::prefix_pattern(p)));
    }
    if let Some(a) = after {
        q = q.filter(tenants::Column::Id.gt(a));
    }
    Ok(q.order_by_asc(tenants::Column::Id).limit(limit).all(db).await?)
}

/// # Errors
/// Database failure.
pub async fn update(db: &impl ConnectionTrait, tenant: tenants::Model) -> Result<tenants::Model, StoreError> {
    use sea_orm::ActiveValue::Set;
    let mut active = tenant.clone().into_active_model();
    active.display_name = Set(tenant.display_name);
    active.status = Set(tenant.status);
    active.settings = Set(tenant.settings);
    active.updated_at = Set(tenant.updated_at);
    Ok(active.update(db).await?)
}

/// Deletes the tenant; every row it owns goes with it (foreign keys cascade).
///
/// # Errors
/// Database failure.
pub async fn delete(db: &impl ConnectionTrait, id: uuid::Uuid) -> Result<bool, StoreError> {
    Ok(tenants::Entity::delete_by_id(id).exec(db).await?.rows_affected == 1)
}
