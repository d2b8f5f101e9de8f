//! Passkeys: `user_factors` rows of kind `passkey`, several per user, each holding the
//! webauthn-rs credential (JSON) and its credential id (unique per tenant). The sign counter is
//! written back after each use with a conditional update, so two instances racing with one
//! assertion cannot both move it.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, TransactionSession, TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

use super::{
    StoreError,
    entities::{user_factors, users},
    is_unique_violation,
    users::{InsertUserError, NewUser},
};

pub const KIND: &str = "passkey";

#[derive(Debug, thiserror::Error)]
pub enum InsertPasskeyError {
    /// The credential is registered already (to this or another account of the tenant).
    #[error("this passkey is registered already")]
    Duplicate,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn of_user(tenant_id: Uuid, user_id: Uuid) -> sea_orm::Select<user_factors::Entity> {
    user_factors::Entity::find()
        .filter(user_factors::Column::TenantId.eq(tenant_id))
        .filter(user_factors::Column::UserId.eq(user_id))
        .filter(user_factors::Column::Kind.eq(KIND))
}

/// A user's passkeys, oldest first.
///
/// # Errors
/// Database failure.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
) -> Result<Vec<user_factors::Model>, StoreError> {
    Ok(of_user(tenant_id, user_id).order_by_asc(user_factors::Column::CreatedAt).all(db).await?)
}

/// How many passkeys a user has.
///
/// # Errors
/// Database failure.
pub async fn count(db: &impl ConnectionTrait, tenant_id: Uuid, user_id: Uuid) -> Result<u64, StoreError> {
    Ok(of_user(tenant_id, user_id).count(db).await?)
}

/// Stores a new passkey row.
///
/// # Errors
/// `Duplicate` when the credential id is taken in the tenant, or a database failure.
pub async fn insert(
    db: &impl ConnectionTrait,
    row: user_factors::Model,
) -> Result<user_factors::Model, InsertPasskeyError> {
    match row.into_active_model().reset_all().insert(db).await {
        Ok(m) => Ok(m),
        Err(e) if is_unique_violation(&e) => Err(InsertPasskeyError::Duplicate),
        Err(e) => Err(StoreError::from(e).into()),
    }
}

/// Creates an account without a password and its first passkey in one transaction: either both
/// exist or neither. `row.user_id` is the new user's id (the passkey's user handle).
///
/// # Errors
/// A taken username, a registered credential, or a database failure.
pub async fn insert_with_user(
    db: &impl TransactionTrait,
    new: NewUser,
    row: user_factors::Model,
    now: DateTime<Utc>,
) -> Result<users::Model, InsertUserError> {
    let txn = db.begin().await.map_err(StoreError::from)?;
    let user = super::users::insert_with_id(&txn, row.tenant_id, row.user_id, new, now).await?;
    match insert(&txn, row).await {
        Ok(_) => {}
        // The id is random per registration; a clash means the credential is someone's already.
        Err(InsertPasskeyError::Duplicate) => return Err(InsertUserError::UsernameTaken),
        Err(InsertPasskeyError::Store(e)) => return Err(e.into()),
    }
    txn.commit().await.map_err(StoreError::from)?;
    Ok(user)
}

/// One passkey of a user by its row id.
///
/// # Errors
/// Database failure.
pub async fn find(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
    id: Uuid,
) -> Result<Option<user_factors::Model>, StoreError> {
    Ok(of_user(tenant_id, user_id).filter(user_factors::Column::Id.eq(id)).one(db).await?)
}

/// Renames a passkey; `false` when the user has no such passkey.
///
/// # Errors
/// Database failure.
pub async fn rename(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
    id: Uuid,
    name: &str,
) -> Result<bool, StoreError> {
    let res = user_factors::Entity::update_many()
        .col_expr(user_factors::Column::Name, Expr::value(name))
        .filter(user_factors::Column::TenantId.eq(tenant_id))
        .filter(user_factors::Column::UserId.eq(user_id))
        .filter(user_factors::Column::Kind.eq(KIND))
        .filter(user_factors::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Writes back a used credential (new counter, flags) if it is still the one that was read:
/// `false` when another use changed it meanwhile.
///
/// # Errors
/// Database failure.
pub async fn record_use(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    row: &user_factors::Model,
    credential: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut update = user_factors::Entity::update_many()
        .col_expr(user_factors::Column::Credential, Expr::value(credential))
        .col_expr(user_factors::Column::LastUsedAt, Expr::value(now))
        .filter(user_factors::Column::TenantId.eq(tenant_id))
        .filter(user_factors::Column::Id.eq(row.id));
    if let Some(old) = &row.credential {
        update = update.filter(user_factors::Column::Credential.eq(old.as_str()));
    }
    Ok(update.exec(db).await?.rows_affected == 1)
}

/// Removes one passkey and, when it was the user's last confirmed factor, the recovery codes.
/// `false` when the user has no such passkey.
///
/// # Errors
/// Database failure.
pub async fn delete(
    db: &impl TransactionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
    id: Uuid,
) -> Result<bool, StoreError> {
    let txn = db.begin().await?;
    let removed = user_factors::Entity::delete_many()
        .filter(user_factors::Column::TenantId.eq(tenant_id))
        .filter(user_factors::Column::UserId.eq(user_id))
        .filter(user_factors::Column::Kind.eq(KIND))
        .filter(user_factors::Column::Id.eq(id))
        .exec(&txn)
        .await?
        .rows_affected;
    let left = user_factors::Entity::find()
        .filter(user_factors::Column::TenantId.eq(tenant_id))
        .filter(user_factors::Column::UserId.eq(user_id))
        .filter(user_factors::Column::ConfirmedAt.is_not_null())
        .count(&txn)
        .await?;
    if left == 0 {
        super::factors::delete_codes(&txn, tenant_id, user_id).await?;
    }
    txn.commit().await?;
    Ok(removed == 1)
}
