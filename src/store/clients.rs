//! Client apps of a tenant.
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::{StoreError, entities::clients};
use crate::crypto::MasterKey;

/// The purpose under which client secrets are hashed with [`MasterKey::keyed_hash`]. Changing
/// it invalidates every stored secret.
pub const SECRET_PURPOSE: &str = "client-secret";

/// # Errors
/// Database failure, including a `client_id` already taken in the tenant.
pub async fn insert(db: &impl ConnectionTrait, client: clients::Model) -> Result<clients::Model, StoreError> {
    Ok(client.into_active_model().reset_all().insert(db).await?)
}

/// # Errors
/// Database failure.
pub async fn find(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    client_id: &str,
) -> Result<Option<clients::Model>, StoreError> {
    if !super::storable(client_id) {
        return Ok(None);
    }
    Ok(clients::Entity::find()
        .filter(clients::Column::TenantId.eq(tenant_id))
        .filter(clients::Column::ClientId.eq(client_id))
        .one(db)
        .await?)
}

#[derive(Debug, Default)]
pub struct ClientFilter {
    /// `public` or `confidential`.
    pub client_type: Option<String>,
    pub enabled: Option<bool>,
}

/// Ordered by id (creation time); `after` is the last id of the previous page.
///
/// # Errors
/// Database failure.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    filter: &ClientFilter,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<clients::Model>, StoreError> {
    let mut q = clients::Entity::find().filter(clients::Column::TenantId.eq(tenant_id));
    if let Some(t) = &filter.client_type {
        q = q.filter(clients::Column::ClientType.eq(t.as_str()));
    }
    if let Some(e) = filter.enabled {
        q = q.filter(clients::Column::Enabled.eq(e));
    }
    if let Some(a) = after {
        q = q.filter(clients::Column::Id.gt(a));
    }
    Ok(q.order_by_asc(clients::Column::Id).limit(limit).all(db).await?)
}

/// Writes every mutable field of `client` (all but ids, type and creation time).
///
/// # Errors
/// Database failure.
pub async fn update(db: &impl ConnectionTrait, client: clients::Model) -> Result<clients::Model, StoreError> {
    use sea_orm::ActiveValue::Set;
    let mut active = client.clone().into_active_model();
    active.name = Set(client.name);
    active.secret_hash = Set(client.secret_hash);
    active.redirect_uris = Set(client.redirect_uris);
    active.post_logout_redirect_uris = Set(client.post_logout_redirect_uris);
    active.grant_types = Set(client.grant_types);
    active.scopes = Set(client.scopes);
    active.access_token_ttl_secs = Set(client.access_token_ttl_secs);
    active.refresh_token_ttl_secs = Set(client.refresh_token_ttl_secs);
    active.enabled = Set(client.enabled);
    active.pkce_required = Set(client.pkce_required);
    active.require_second_factor = Set(client.require_second_factor);
    active.updated_at = Set(client.updated_at);
    Ok(active.update(db).await?)
}

/// # Errors
/// Database failure.
pub async fn delete(db: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<bool, StoreError> {
    let res = clients::Entity::delete_many()
        .filter(clients::Column::TenantId.eq(tenant_id))
        .filter(clients::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Whether `secret` is the confidential client's secret (for the token endpoint's
/// `client_secret_basic` and `client_secret_post`): it has one and `secret` matches its keyed
/// hash, compared in constant time. Callers answer every kind of mismatch alike
/// (`invalid_client`) and reveal nothing about which check failed.
pub fn secret_matches(master_key: &MasterKey, client: &clients::Model, secret: &str) -> bool {
    client
        .secret_hash
        .as_deref()
        .is_some_and(|stored| master_key.verify_keyed_hash(SECRET_PURPOSE, secret, stored))
}
