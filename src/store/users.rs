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
    insert_with_id(db, tenant_id, Uuid::now_v7(), new, now).await
}

/// [`insert`] with an id chosen before (a passkey registered with the account carries it).
///
/// # Errors
/// As [`insert`].
pub async fn insert_with_id(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    new: NewUser,
    now: DateTime<Utc>,
) -> Result<users::Model, InsertUserError> {
    let model = users::Model {
        id,
        tenant_id,
        username: new.username,
        email: new.email,
        email_verified: false,
        password_hash: new.password_hash,
        status: "active".into(),
        roles: serde_json::json!(new.roles),
        display_name: None,
        second_factor_required: false,
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

/// How many active users of a tenant hold `role`. Roles are a JSON array, filtered here rather
/// than in SQL (the two backends spell JSON queries differently); meant for the small `system`
/// tenant, whose users are the operators.
///
/// # Errors
/// Database failure.
pub async fn count_active_with_role(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    role: &str,
) -> Result<usize, StoreError> {
    let active = users::Entity::find()
        .filter(users::Column::TenantId.eq(tenant_id))
        .filter(users::Column::Status.eq("active"))
        .all(db)
        .await?;
    Ok(active
        .iter()
        .filter(|u| u.roles.as_array().is_some_and(|r| r.iter().any(|v| v.as_str() == Some(role))))
        .count())
}

#[derive(Debug, Default)]
pub struct UserFilter {
    /// Username prefix (normalised).
    pub username_prefix: Option<String>,
    /// Email prefix (lower-case).
    pub email_prefix: Option<String>,
    pub status: Option<String>,
}

/// Ordered by id (creation time); `after` is the last id of the previous page.
///
/// # Errors
/// Database failure.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    filter: &UserFilter,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<users::Model>, StoreError> {
    use sea_orm::{QueryOrder, QuerySelect};
    let mut q = users::Entity::find().filter(users::Column::TenantId.eq(tenant_id));
    if let Some(p) = &filter.username_prefix {
        q = q.filter(users::Column::Username.like(super::prefix_pattern(p)));
    }
    if let Some(p) = &filter.email_prefix {
        q = q.filter(users::Column::Email.like(super::prefix_pattern(p)));
    }
    if let Some(s) = &filter.status {
        q = q.filter(users::Column::Status.eq(s.as_str()));
    }
    if let Some(a) = after {
        q = q.filter(users::Column::Id.gt(a));
    }
    Ok(q.order_by_asc(users::Column::Id).limit(limit).all(db).await?)
}

/// Writes the mutable fields of `user` (email, verification, status, password hash, roles,
/// display name).
///
/// # Errors
/// Database failure.
pub async fn update(db: &impl ConnectionTrait, user: users::Model) -> Result<users::Model, StoreError> {
    use sea_orm::ActiveValue::Set;
    let mut active = user.clone().into_active_model();
    active.email = Set(user.email);
    active.email_verified = Set(user.email_verified);
    active.status = Set(user.status);
    active.password_hash = Set(user.password_hash);
    active.roles = Set(user.roles);
    active.display_name = Set(user.display_name);
    active.updated_at = Set(user.updated_at);
    Ok(active.update(db).await?)
}

/// Sets or clears the administrator's demand that the user enrol a second factor.
///
/// # Errors
/// Database failure.
pub async fn set_second_factor_required(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    required: bool,
) -> Result<(), StoreError> {
    use sea_orm::sea_query::Expr;
    users::Entity::update_many()
        .col_expr(users::Column::SecondFactorRequired, Expr::value(required))
        .filter(users::Column::TenantId.eq(tenant_id))
        .filter(users::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// # Errors
/// Database failure.
pub async fn delete(db: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<bool, StoreError> {
    let res = users::Entity::delete_many()
        .filter(users::Column::TenantId.eq(tenant_id))
        .filter(users::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Users of a tenant with this (lower-case) email; emails are not unique.
///
/// # Errors
/// Database failure.
pub async fn find_by_email(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    email: &str,
) -> Result<Vec<users::Model>, StoreError> {
    use sea_orm::QuerySelect;
    Ok(users::Entity::find()
        .filter(users::Column::TenantId.eq(tenant_id))
        .filter(users::Column::Email.eq(email))
        .limit(10)
        .all(db)
        .await?)
}
