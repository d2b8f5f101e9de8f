//! A tenant's signing keys: the active one signs; retired ones stay for verification.
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::{StoreError, entities::signing_keys};

/// Newest first.
///
/// # Errors
/// Database failure.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
) -> Result<Vec<signing_keys::Model>, StoreError> {
    Ok(signing_keys::Entity::find()
        .filter(signing_keys::Column::TenantId.eq(tenant_id))
        .order_by_desc(signing_keys::Column::CreatedAt)
        .all(db)
        .await?)
}
