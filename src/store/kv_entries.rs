//! The embedded store's durable copy (see `crate::kv`). Keys carry their tenant inside them,
//! like Redis keys, so these functions take no tenant.
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set, sea_query::OnConflict};

use super::{StoreError, entities::kv_entries};

/// Writes or overwrites one key.
///
/// # Errors
/// A database failure.
pub async fn upsert(
    db: &DatabaseConnection,
    key: &str,
    value: &str,
    expires_at: i64,
) -> Result<(), StoreError> {
    let row = kv_entries::ActiveModel {
        key: Set(key.to_string()),
        value: Set(value.to_string()),
        expires_at: Set(expires_at),
    };
    kv_entries::Entity::insert(row)
        .on_conflict(
            OnConflict::column(kv_entries::Column::Key)
                .update_columns([kv_entries::Column::Value, kv_entries::Column::ExpiresAt])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// # Errors
/// A database failure.
pub async fn delete(db: &DatabaseConnection, key: &str) -> Result<(), StoreError> {
    kv_entries::Entity::delete_by_id(key.to_string()).exec(db).await?;
    Ok(())
}

/// Drops what expired before `now` (Unix ms) and returns the rest.
///
/// # Errors
/// A database failure.
pub async fn live(db: &DatabaseConnection, now: i64) -> Result<Vec<kv_entries::Model>, StoreError> {
    purge_expired(db, now).await?;
    Ok(kv_entries::Entity::find().filter(kv_entries::Column::ExpiresAt.gt(now)).all(db).await?)
}

/// # Errors
/// A database failure.
pub async fn purge_expired(db: &DatabaseConnection, now: i64) -> Result<(), StoreError> {
    kv_entries::Entity::delete_many().filter(kv_entries::Column::ExpiresAt.lte(now)).exec(db).await?;
    Ok(())
}
