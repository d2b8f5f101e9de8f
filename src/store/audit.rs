//! The append-only audit log of a tenant.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::{StoreError, entities::audit_events};

/// # Errors
/// Database failure.
pub async fn insert(db: &impl ConnectionTrait, event: audit_events::Model) -> Result<(), StoreError> {
    event.into_active_model().reset_all().insert(db).await?;
    Ok(())
}

#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub event_type: Option<String>,
    pub actor_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// Newest first; `before` is the id of the last event of the previous page.
///
/// # Errors
/// Database failure.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    filter: &AuditFilter,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<audit_events::Model>, StoreError> {
    use audit_events::Column as C;
    let mut q = audit_events::Entity::find().filter(C::TenantId.eq(tenant_id));
    if let Some(t) = &filter.event_type {
        q = q.filter(C::EventType.eq(t.as_str()));
    }
    if let Some(a) = filter.actor_id {
        q = q.filter(C::ActorId.eq(a));
    }
    if let Some(u) = filter.user_id {
        q = q.filter(C::UserId.eq(u));
    }
    // Ids are UUIDv7, ordered by creation time, so time bounds become id bounds and compare
    // the same way on SQLite and PostgreSQL.
    if let Some(since) = filter.since {
        q = q.filter(C::Id.gte(super::time_floor_uuid(since)));
    }
    if let Some(until) = filter.until {
        q = q.filter(C::Id.lt(super::time_floor_uuid(until)));
    }
    if let Some(b) = before {
        q = q.filter(C::Id.lt(b));
    }
    Ok(q.order_by_desc(C::Id).limit(limit).all(db).await?)
}
