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

/// Retires the active keys and makes `new_keys` the ones that sign, atomically.
///
/// # Errors
/// Database failure.
pub async fn rotate(
    db: &impl sea_orm::TransactionTrait,
    tenant_id: Uuid,
    new_keys: Vec<signing_keys::Model>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    use sea_orm::{ActiveModelTrait, IntoActiveModel, TransactionSession, sea_query::Expr};
    let txn = db.begin().await?;
    signing_keys::Entity::update_many()
        .col_expr(signing_keys::Column::Status, Expr::value("retired"))
        .col_expr(signing_keys::Column::RetiredAt, Expr::value(now))
        .filter(signing_keys::Column::TenantId.eq(tenant_id))
        .filter(signing_keys::Column::Status.eq("active"))
        .exec(&txn)
        .await?;
    for key in new_keys {
        key.into_active_model().reset_all().insert(&txn).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// # Errors
/// Database failure.
pub async fn insert(db: &impl ConnectionTrait, key: signing_keys::Model) -> Result<(), StoreError> {
    use sea_orm::{ActiveModelTrait, IntoActiveModel};
    key.into_active_model().reset_all().insert(db).await?;
    Ok(())
}
