//! Users of a tenant.
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter};
use uuid::Uuid;

use super::{StoreError, entities::users, is_unique_violation};

pub struct NewUser {
    pub username: String,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub roles: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum InsertUserError {
    #[error("username is taken")]
    UsernameTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// # Errors
/// The normalised username exists in this tenant (enforced by a unique index, so concurrent
/// inserts of one name give one row), or a database failure.
pub async fn insert(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    new: NewUser,
    now: DateTime<Utc>,
) -> Result<users::Model, InsertUserError> {
    let model = users::Model {
        id: Uuid::now_v7(),
        tenant_id,
        username: new.username,
        email: new.email,
        email_verified: false,
        password_hash: new.password_hash,
        status: "active".into(),
        roles: serde_json::json!(new.roles),
        created_at: now,
        updated_at: now,
    };
    match model.into_active_model().reset_all().insert(db).await {
        Ok(m) => Ok(m),
        Err(e) if is_unique_violation(&e) => Err(InsertUserError::UsernameTaken),
        Err(e) => Err(StoreError::from(e).into()),
    }
}

/// # Errors
/// Database failure.
pub async fn find_by_username(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    username: &str,
) -> Result<Option<users::Model>, StoreError> {
    Ok(users::Entity::find()
        .filter(users::Column::TenantId.eq(tenant_id))
        .filter(users::Column::Username.eq(username))
        .one(db)
        .await?)
}

/// # Errors
/// Database failure.
pub async fn find_by_id(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<users::Model>, StoreError> {
    Ok(users::Entity::find()
        .filter(users::Column::TenantId.eq(tenant_id))
        .filter(users::Column::Id.eq(id))
        .one(db)
        .await?)
}
