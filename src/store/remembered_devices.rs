//! Remembered devices (see `auth::remember`): insert, find, list, touch and revoke.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    sea_query::Expr,
};
use uuid::Uuid;

use super::{StoreError, entities::remembered_devices};

/// # Errors
/// Database failure.
pub async fn insert(
    db: &impl ConnectionTrait,
    row: remembered_devices::Model,
) -> Result<remembered_devices::Model, StoreError> {
    Ok(row.into_active_model().reset_all().insert(db).await?)
}

/// The unexpired device `id` of this tenant's `user_id`.
///
/// # Errors
/// Database failure.
pub async fn find_live(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<remembered_devices::Model>, StoreError> {
    Ok(remembered_devices::Entity::find_by_id(id)
        .filter(remembered_devices::Column::TenantId.eq(tenant_id))
        .filter(remembered_devices::Column::UserId.eq(user_id))
        .filter(remembered_devices::Column::ExpiresAt.gt(now))
        .one(db)
        .await?)
}

/// The user's unexpired devices, newest first.
///
/// # Errors
/// Database failure.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<remembered_devices::Model>, StoreError> {
    Ok(remembered_devices::Entity::find()
        .filter(remembered_devices::Column::TenantId.eq(tenant_id))
        .filter(remembered_devices::Column::UserId.eq(user_id))
        .filter(remembered_devices::Column::ExpiresAt.gt(now))
        .order_by_desc(remembered_devices::Column::CreatedAt)
        .all(db)
        .await?)
}

/// # Errors
/// Database failure.
pub async fn touch(db: &impl ConnectionTrait, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    remembered_devices::Entity::update_many()
        .col_expr(remembered_devices::Column::LastUsedAt, Expr::value(now))
        .filter(remembered_devices::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Forgets one device (`Some(id)`) or all of the user's; returns how many went.
///
/// # Errors
/// Database failure.
pub async fn delete(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
    id: Option<Uuid>,
) -> Result<u64, StoreError> {
    let mut q = remembered_devices::Entity::delete_many()
        .filter(remembered_devices::Column::TenantId.eq(tenant_id))
        .filter(remembered_devices::Column::UserId.eq(user_id));
    if let Some(id) = id {
        q = q.filter(remembered_devices::Column::Id.eq(id));
    }
    Ok(q.exec(db).await?.rows_affected)
}
