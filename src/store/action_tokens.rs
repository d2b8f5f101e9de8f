//! Action tokens (see `crate::account::action`): inserted with the mail that carries them,
//! found by the keyed hash of a link or by user and purpose for a typed code, and spent by one
//! conditional UPDATE, so two concurrent uses cannot both succeed.
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

use super::{StoreError, entities::action_tokens as row, storable};

pub struct NewToken {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub purpose: &'static str,
    pub link_hash: String,
    pub code_hash: String,
    pub payload: Option<serde_json::Value>,
    pub expires_at: i64,
    pub now: chrono::DateTime<chrono::Utc>,
}

/// # Errors
/// A database failure.
pub async fn insert(db: &impl ConnectionTrait, t: NewToken) -> Result<(), StoreError> {
    let model = row::ActiveModel {
        id: Set(t.id),
        tenant_id: Set(t.tenant_id),
        user_id: Set(t.user_id),
        purpose: Set(t.purpose.into()),
        link_hash: Set(t.link_hash),
        code_hash: Set(t.code_hash),
        payload: Set(t.payload),
        attempts: Set(0),
        expires_at: Set(t.expires_at),
        consumed_at: Set(None),
        created_at: Set(t.now),
    };
    row::Entity::insert(model).exec_without_returning(db).await?;
    Ok(())
}

/// Ends the unused tokens of a user and purpose (a newer one replaces them). Returns how many.
///
/// # Errors
/// A database failure.
pub async fn supersede(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
    purpose: &str,
    now_ms: i64,
) -> Result<u64, StoreError> {
    let res = row::Entity::update_many()
        .col_expr(row::Column::ConsumedAt, Expr::value(now_ms))
        .filter(row::Column::TenantId.eq(tenant_id))
        .filter(row::Column::UserId.eq(user_id))
        .filter(row::Column::Purpose.eq(purpose))
        .filter(row::Column::ConsumedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// The token whose link hashes to `link_hash`, used or not.
///
/// # Errors
/// A database failure.
pub async fn find_by_link(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    link_hash: &str,
) -> Result<Option<row::Model>, StoreError> {
    if !storable(link_hash) {
        return Ok(None);
    }
    Ok(row::Entity::find()
        .filter(row::Column::TenantId.eq(tenant_id))
        .filter(row::Column::LinkHash.eq(link_hash))
        .one(db)
        .await?)
}

/// The newest unused, unexpired token of a user and purpose (the one a typed code belongs to).
///
/// # Errors
/// A database failure.
pub async fn latest_live(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
    purpose: &str,
    now_ms: i64,
) -> Result<Option<row::Model>, StoreError> {
    Ok(row::Entity::find()
        .filter(row::Column::TenantId.eq(tenant_id))
        .filter(row::Column::UserId.eq(user_id))
        .filter(row::Column::Purpose.eq(purpose))
        .filter(row::Column::ConsumedAt.is_null())
        .filter(row::Column::ExpiresAt.gt(now_ms))
        .order_by_desc(row::Column::CreatedAt)
        .one(db)
        .await?)
}

/// Counts one typed-code attempt, in one statement so concurrent guesses cannot exceed `max`.
/// False when the token is used or its attempts are spent.
///
/// # Errors
/// A database failure.
pub async fn count_attempt(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    max: i32,
) -> Result<bool, StoreError> {
    let res = row::Entity::update_many()
        .col_expr(row::Column::Attempts, Expr::col(row::Column::Attempts).add(1))
        .filter(row::Column::TenantId.eq(tenant_id))
        .filter(row::Column::Id.eq(id))
        .filter(row::Column::ConsumedAt.is_null())
        .filter(row::Column::Attempts.lt(max))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Spends a token if it is still unused and unexpired; true for the one caller that did.
///
/// # Errors
/// A database failure.
pub async fn consume(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let res = row::Entity::update_many()
        .col_expr(row::Column::ConsumedAt, Expr::value(now_ms))
        .filter(row::Column::TenantId.eq(tenant_id))
        .filter(row::Column::Id.eq(id))
        .filter(row::Column::ConsumedAt.is_null())
        .filter(row::Column::ExpiresAt.gt(now_ms))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}
