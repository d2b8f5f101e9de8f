//! Second factors and recovery codes. The single-use rules are conditional updates, so two
//! instances racing with the same code cannot both win: a TOTP step is accepted only if it is
//! later than the last accepted one, a recovery code only while it is unused.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, TransactionSession, TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

use super::{
    StoreError,
    entities::{recovery_codes, user_factors},
};

/// A user's factors, confirmed or not, oldest first.
///
/// # Errors
/// Database failure.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
) -> Result<Vec<user_factors::Model>, StoreError> {
    Ok(user_factors::Entity::find()
        .filter(user_factors::Column::TenantId.eq(tenant_id))
        .filter(user_factors::Column::UserId.eq(user_id))
        .order_by_asc(user_factors::Column::CreatedAt)
        .all(db)
        .await?)
}

/// Starts an enrolment: drops the user's unconfirmed factors of the same kind and stores `row`.
///
/// # Errors
/// Database failure.
pub async fn replace_unconfirmed(
    db: &impl TransactionTrait,
    row: user_factors::Model,
) -> Result<user_factors::Model, StoreError> {
    let txn = db.begin().await?;
    user_factors::Entity::delete_many()
        .filter(user_factors::Column::TenantId.eq(row.tenant_id))
        .filter(user_factors::Column::UserId.eq(row.user_id))
        .filter(user_factors::Column::Kind.eq(row.kind.clone()))
        .filter(user_factors::Column::ConfirmedAt.is_null())
        .exec(&txn)
        .await?;
    let stored = row.into_active_model().reset_all().insert(&txn).await?;
    txn.commit().await?;
    Ok(stored)
}

/// Confirms a factor with its first accepted `step`, and when `codes` are given replaces the
/// user's recovery codes, in one transaction. `false` when it was confirmed meanwhile.
///
/// # Errors
/// Database failure.
pub async fn confirm(
    db: &impl TransactionTrait,
    tenant_id: Uuid,
    factor: &user_factors::Model,
    step: i64,
    codes: Option<Vec<String>>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let txn = db.begin().await?;
    let res = user_factors::Entity::update_many()
        .col_expr(user_factors::Column::ConfirmedAt, Expr::value(now))
        .col_expr(user_factors::Column::LastStep, Expr::value(step))
        .col_expr(user_factors::Column::LastUsedAt, Expr::value(now))
        .filter(user_factors::Column::TenantId.eq(tenant_id))
        .filter(user_factors::Column::Id.eq(factor.id))
        .filter(user_factors::Column::ConfirmedAt.is_null())
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        return Ok(false);
    }
    if let Some(hashes) = codes {
        insert_codes(&txn, tenant_id, factor.user_id, hashes, now).await?;
    }
    txn.commit().await?;
    Ok(true)
}

/// Accepts TOTP time step `step` for a confirmed factor, once: `false` when this or a later
/// step was already accepted.
///
/// # Errors
/// Database failure.
pub async fn accept_step(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    factor_id: Uuid,
    step: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = user_factors::Entity::update_many()
        .col_expr(user_factors::Column::LastStep, Expr::value(step))
        .col_expr(user_factors::Column::LastUsedAt, Expr::value(now))
        .filter(user_factors::Column::TenantId.eq(tenant_id))
        .filter(user_factors::Column::Id.eq(factor_id))
        .filter(user_factors::Column::ConfirmedAt.is_not_null())
        .filter(
            Condition::any()
                .add(user_factors::Column::LastStep.is_null())
                .add(user_factors::Column::LastStep.lt(step)),
        )
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Removes a user's factors of `kind` (every kind: `None`) and, with them, the recovery codes
/// when no confirmed factor is left. Returns how many factors went.
///
/// # Errors
/// Database failure.
pub async fn delete(
    db: &impl TransactionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
    kind: Option<&str>,
) -> Result<u64, StoreError> {
    let txn = db.begin().await?;
    let mut del = user_factors::Entity::delete_many()
        .filter(user_factors::Column::TenantId.eq(tenant_id))
        .filter(user_factors::Column::UserId.eq(user_id));
    if let Some(k) = kind {
        del = del.filter(user_factors::Column::Kind.eq(k));
    }
    let removed = del.exec(&txn).await?.rows_affected;
    let left = user_factors::Entity::find()
        .filter(user_factors::Column::TenantId.eq(tenant_id))
        .filter(user_factors::Column::UserId.eq(user_id))
        .filter(user_factors::Column::ConfirmedAt.is_not_null())
        .count(&txn)
        .await?;
    if left == 0 {
        delete_codes(&txn, tenant_id, user_id).await?;
    }
    txn.commit().await?;
    Ok(removed)
}

pub(super) async fn delete_codes(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
) -> Result<(), StoreError> {
    recovery_codes::Entity::delete_many()
        .filter(recovery_codes::Column::TenantId.eq(tenant_id))
        .filter(recovery_codes::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

async fn insert_codes(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
    hashes: Vec<String>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    delete_codes(db, tenant_id, user_id).await?;
    let rows = hashes.into_iter().map(|code_hash| {
        recovery_codes::Model {
            id: Uuid::now_v7(),
            tenant_id,
            user_id,
            code_hash,
            created_at: now,
            used_at: None,
        }
        .into_active_model()
    });
    recovery_codes::Entity::insert_many(rows).exec(db).await?;
    Ok(())
}

/// Replaces every recovery code of a user with `hashes`.
///
/// # Errors
/// Database failure.
pub async fn replace_codes(
    db: &impl TransactionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
    hashes: Vec<String>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let txn = db.begin().await?;
    insert_codes(&txn, tenant_id, user_id, hashes, now).await?;
    txn.commit().await?;
    Ok(())
}

/// Spends the unused recovery code with this hash: `false` when there is none.
///
/// # Errors
/// Database failure.
pub async fn use_code(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
    code_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = recovery_codes::Entity::update_many()
        .col_expr(recovery_codes::Column::UsedAt, Expr::value(now))
        .filter(recovery_codes::Column::TenantId.eq(tenant_id))
        .filter(recovery_codes::Column::UserId.eq(user_id))
        .filter(recovery_codes::Column::CodeHash.eq(code_hash))
        .filter(recovery_codes::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// How many unused recovery codes a user has.
///
/// # Errors
/// Database failure.
pub async fn unused_codes(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
) -> Result<u64, StoreError> {
    Ok(recovery_codes::Entity::find()
        .filter(recovery_codes::Column::TenantId.eq(tenant_id))
        .filter(recovery_codes::Column::UserId.eq(user_id))
        .filter(recovery_codes::Column::UsedAt.is_null())
        .count(db)
        .await?)
}
