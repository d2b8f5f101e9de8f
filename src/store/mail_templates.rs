//! Mail template overrides, one row per (tenant, kind, locale).
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

use super::{StoreError, entities::mail_templates as row};

/// The override of `kind` in `locale`, if the tenant has one.
///
/// # Errors
/// A database failure.
pub async fn find(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    kind: &str,
    locale: &str,
) -> Result<Option<row::Model>, StoreError> {
    Ok(row::Entity::find()
        .filter(row::Column::TenantId.eq(tenant_id))
        .filter(row::Column::Kind.eq(kind))
        .filter(row::Column::Locale.eq(locale))
        .one(db)
        .await?)
}

/// Every override of the tenant, by kind and locale.
///
/// # Errors
/// A database failure.
pub async fn list(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<Vec<row::Model>, StoreError> {
    Ok(row::Entity::find()
        .filter(row::Column::TenantId.eq(tenant_id))
        .order_by_asc(row::Column::Kind)
        .order_by_asc(row::Column::Locale)
        .all(db)
        .await?)
}

/// What an override says.
pub struct Content {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Stores the override of `kind` in `locale`, replacing the one there was.
///
/// # Errors
/// A database failure.
pub async fn upsert(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    kind: &str,
    locale: &str,
    content: Content,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<row::Model, StoreError> {
    if let Some(existing) = find(db, tenant_id, kind, locale).await? {
        let mut active: row::ActiveModel = existing.into();
        active.subject = Set(content.subject);
        active.body_text = Set(content.text);
        active.body_html = Set(content.html);
        active.updated_at = Set(now);
        return Ok(active.update(db).await?);
    }
    let model = row::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant_id),
        kind: Set(kind.to_string()),
        locale: Set(locale.to_string()),
        subject: Set(content.subject),
        body_text: Set(content.text),
        body_html: Set(content.html),
        created_at: Set(now),
        updated_at: Set(now),
    };
    Ok(model.insert(db).await?)
}

/// Removes the override; `false` when there was none.
///
/// # Errors
/// A database failure.
pub async fn delete(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    kind: &str,
    locale: &str,
) -> Result<bool, StoreError> {
    let res = row::Entity::delete_many()
        .filter(row::Column::TenantId.eq(tenant_id))
        .filter(row::Column::Kind.eq(kind))
        .filter(row::Column::Locale.eq(locale))
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}
