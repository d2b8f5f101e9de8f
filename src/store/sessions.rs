//! Login sessions. A session is one refresh-token family; revoking it ends the family.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QuerySelect, TransactionSession, TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

use super::{
    StoreError,
    entities::{refresh_tokens, sessions},
};

pub struct NewSession {
    /// Pre-allocated when the id must be known before the row exists.
    pub id: Option<Uuid>,
    pub user_id: Uuid,
    pub client_id: Option<String>,
    pub parent_id: Option<Uuid>,
    pub scope: Option<String>,
    pub auth_time: Option<DateTime<Utc>>,
    /// The `amr` values the sign-in achieved.
    pub amr: Vec<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// Creates a session without a refresh token (a browser SSO session).
///
/// # Errors
/// Database failure.
pub async fn create(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    new: NewSession,
    now: DateTime<Utc>,
) -> Result<sessions::Model, StoreError> {
    Ok(session_row(tenant_id, new, now).into_active_model().reset_all().insert(db).await?)
}

fn session_row(tenant_id: Uuid, new: NewSession, now: DateTime<Utc>) -> sessions::Model {
    sessions::Model {
        id: new.id.unwrap_or_else(Uuid::now_v7),
        tenant_id,
        user_id: new.user_id,
        client_id: new.client_id,
        parent_id: new.parent_id,
        scope: new.scope,
        auth_time: new.auth_time,
        amr: (!new.amr.is_empty()).then(|| new.amr.join(" ")),
        ip: new.ip,
        user_agent: new.user_agent,
        created_at: now,
        last_seen_at: now,
        expires_at: new.expires_at,
        revoked_at: None,
    }
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
    let session = session_row(tenant_id, new, now).into_active_model().reset_all().insert(&txn).await?;
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
    revoke_where(db, tenant_id, Condition::all().add(sessions::Column::UserId.eq(user_id)), now).await
}

/// Revokes the active sessions of a tenant matching `filter` in one transaction and returns
/// their ids. The write comes first, so SQLite takes its write lock up front.
async fn revoke_where(
    db: &impl TransactionTrait,
    tenant_id: Uuid,
    filter: Condition,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, StoreError> {
    let txn = db.begin().await?;
    sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(now))
        .filter(sessions::Column::TenantId.eq(tenant_id))
        .filter(filter.clone())
        .filter(sessions::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    let ids: Vec<Uuid> = sessions::Entity::find()
        .select_only()
        .column(sessions::Column::Id)
        .filter(sessions::Column::TenantId.eq(tenant_id))
        .filter(filter)
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

/// Revokes the sessions opened from `parent` (client grants of a browser SSO session);
/// returns their ids.
///
/// # Errors
/// Database failure.
pub async fn revoke_children(
    db: &impl TransactionTrait,
    tenant_id: Uuid,
    parent: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, StoreError> {
    revoke_where(db, tenant_id, Condition::all().add(sessions::Column::ParentId.eq(parent)), now).await
}

/// Revokes every active session of a client app; returns their ids.
///
/// # Errors
/// Database failure.
pub async fn revoke_for_client(
    db: &impl TransactionTrait,
    tenant_id: Uuid,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, StoreError> {
    revoke_where(db, tenant_id, Condition::all().add(sessions::Column::ClientId.eq(client_id)), now).await
}
