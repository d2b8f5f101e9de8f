//! External identities linked to users.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    TransactionTrait,
};
use uuid::Uuid;

use super::{
    StoreError,
    entities::{identities, users},
    is_unique_violation,
    users::{InsertUserError, NewUser},
};

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The upstream account is linked to a user already, or the user has an account of this
    /// provider linked (unique indexes decide races).
    #[error("already linked")]
    AlreadyLinked,
    #[error("username taken")]
    UsernameTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// # Errors
/// Database failure.
pub async fn find(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    provider_row_id: Uuid,
    subject: &str,
) -> Result<Option<identities::Model>, StoreError> {
    Ok(identities::Entity::find()
        .filter(identities::Column::TenantId.eq(tenant_id))
        .filter(identities::Column::ProviderRowId.eq(provider_row_id))
        .filter(identities::Column::Subject.eq(subject))
        .one(db)
        .await?)
}

/// # Errors
/// Database failure.
pub async fn list_for_user(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
) -> Result<Vec<identities::Model>, StoreError> {
    Ok(identities::Entity::find()
        .filter(identities::Column::TenantId.eq(tenant_id))
        .filter(identities::Column::UserId.eq(user_id))
        .order_by_asc(identities::Column::CreatedAt)
        .all(db)
        .await?)
}

/// # Errors
/// A unique index refused the link, or a database failure.
pub async fn insert(
    db: &impl ConnectionTrait,
    identity: identities::Model,
) -> Result<identities::Model, LinkError> {
    match identity.into_active_model().reset_all().insert(db).await {
        Ok(m) => Ok(m),
        Err(e) if is_unique_violation(&e) => Err(LinkError::AlreadyLinked),
        Err(e) => Err(LinkError::Store(e.into())),
    }
}

/// Creates a user and its first identity in one transaction: either both exist or neither.
///
/// # Errors
/// A taken username or upstream account, or a database failure.
pub async fn provision(
    db: &sea_orm::DatabaseConnection,
    tenant_id: Uuid,
    user: NewUser,
    email_verified: bool,
    mut identity: identities::Model,
    now: DateTime<Utc>,
) -> Result<(users::Model, identities::Model), LinkError> {
    let txn = db.begin().await.map_err(StoreError::from)?;
    let mut created = match super::users::insert(&txn, tenant_id, user, now).await {
        Ok(u) => u,
        Err(InsertUserError::UsernameTaken) => return Err(LinkError::UsernameTaken),
        Err(InsertUserError::Store(e)) => return Err(e.into()),
    };
    if email_verified {
        created.email_verified = true;
        created = super::users::update(&txn, created).await?;
    }
    identity.user_id = created.id;
    let identity = insert(&txn, identity).await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok((created, identity))
}

/// Records what the upstream said at the latest login.
///
/// # Errors
/// Database failure.
pub async fn touch(
    db: &impl ConnectionTrait,
    identity: identities::Model,
    email: Option<String>,
    email_verified: bool,
    claims: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<identities::Model, StoreError> {
    use sea_orm::ActiveValue::Set;
    let mut active = identity.into_active_model();
    active.email = Set(email);
    active.email_verified = Set(email_verified);
    active.claims = Set(claims);
    active.last_login_at = Set(now);
    Ok(active.update(db).await?)
}

/// # Errors
/// Database failure.
pub async fn delete(db: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<bool, StoreError> {
    let res = identities::Entity::delete_many()
        .filter(identities::Column::TenantId.eq(tenant_id))
        .filter(identities::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}
