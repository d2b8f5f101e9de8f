//! Login sessions. A session is one refresh-token family; revoking it ends the family.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect,
    TransactionSession, TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

use super::{
    StoreError,
    entities::{refresh_tokens, sessions},
};

pub struct NewSession {
    pub user_id: Uuid,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// Creates a session and its first refresh token in one transaction.
///
/// # Errors
/// Database failure.
pub async fn create_with_refresh_token(
    db: &impl TransactionTrait,
    tenant_id: Uuid,
    new: NewSession,
    refresh_hash: String,
    now: DateTime<Utc>,
) -> Result<sessions::Model, StoreError> {
    let txn = db.begin().await?;
    let session = sessions::Model {
        id: Uuid::now_v7(),
        tenant_id,
        user_id: new.user_id,
        client_id: new.client_id,
        ip: new.ip,
        user_agent: new.user_agent,
        created_at: now,
        last_seen_at: now,
        expires_at: new.expires_at,
        revoked_at: None,
    }
    .into_active_model()
    .reset_all()
    .insert(&txn)
    .await?;
    refresh_tokens::Model {
        id: Uuid::now_v7(),
        tenant_id,
        session_id: session.id,
        token_hash: refresh_hash,
        created_at: now,
        expires_at: session.expires_at,
        used_at: None,
    }
    .into_active_model()
    .reset_all()
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(session)
}

/// # Errors
/// Database failure.
pub async fn find(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<sessions::Model>, StoreError> {
    Ok(sessions::Entity::find()
        .filter(sessions::Column::TenantId.eq(tenant_id))
        .filter(sessions::Column::Id.eq(id))
        .one(db)
        .await?)
}

/// Marks the session revoked; returns whether it was active.
///
/// # Errors
/// Database failure.
pub async fn revoke(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(now))
        .filter(sessions::Column::TenantId.eq(tenant_id))
        .filter(sessions::Column::Id.eq(id))
        .filter(sessions::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Revokes every active session of a user in one transaction; returns their ids.
///
/// # Errors
/// Database failure.
pub async fn revoke_all_for_user(
    db: &impl TransactionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, StoreError> {
    let txn = db.begin().await?;
    sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(now))
        .filter(sessions::Column::TenantId.eq(tenant_id))
        .filter(sessions::Column::UserId.eq(user_id))
        .filter(sessions::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    let ids: Vec<Uuid> = sessions::Entity::find()
        .select_only()
        .column(sessions::Column::Id)
        .filter(sessions::Column::TenantId.eq(tenant_id))
        .filter(sessions::Column::UserId.eq(user_id))
        .filter(sessions::Column::RevokedAt.eq(now))
        .into_tuple()
        .all(&txn)
        .await?;
    txn.commit().await?;
    Ok(ids)
}

/// A user's sessions, newest first.
///
/// # Errors
/// Database failure.
pub async fn list_for_user(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
) -> Result<Vec<sessions::Model>, StoreError> {
    use sea_orm::QueryOrder;
    Ok(sessions::Entity::find()
        .filter(sessions::Column::TenantId.eq(tenant_id))
        .filter(sessions::Column::UserId.eq(user_id))
        .order_by_desc(sessions::Column::Id)
        .all(db)
        .await?)
}
