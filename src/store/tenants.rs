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
    Ok(tenants::Entity::find().filter(tenants::Column::Slug.eq(slug)).one(db).await?)
}

#[derive(Debug, thiserror::Error)]
pub enum CreateTenantError {
    #[error("a tenant with this slug already exists")]
    SlugTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Inserts a tenant and its first signing key in one transaction.
///
/// # Errors
/// The slug is taken, or a database failure.
pub async fn create(
    db: &impl TransactionTrait,
    tenant: tenants::Model,
    key: signing_keys::Model,
) -> Result<tenants::Model, CreateTenantError> {
    let txn = db.begin().await.map_err(StoreError::from)?;
    let stored = match tenant.into_active_model().reset_all().insert(&txn).await {
        Ok(t) => t,
        Err(e) if is_unique_violation(&e) => return Err(CreateTenantError::SlugTaken),
        Err(e) => return Err(StoreError::from(e).into()),
    };
    key.into_active_model().reset_all().insert(&txn).await.map_err(StoreError::from)?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(stored)
}
