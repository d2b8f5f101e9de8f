//! Idempotency records: the first request with a key runs, later ones get its response.
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    sea_query::Expr,
};
use uuid::Uuid;

use super::{StoreError, entities::idempotency_keys, is_unique_violation};

/// Records older than this are forgotten; the key may then be used again.
pub const RETENTION_HOURS: i64 = 24;

pub enum Begin {
    /// This request owns the key; finish with [`complete`] or [`abandon`].
    Fresh(Uuid),
    /// An earlier request with this key and body completed.
    Replay { id: Uuid, response: Vec<u8> },
    /// An earlier request with this key is still running.
    InProgress,
    /// The key was used with a different request body.
    Mismatch,
}

/// # Errors
/// Database failure.
pub async fn begin(
    db: &impl ConnectionTrait,
    scope: &str,
    key: &str,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> Result<Begin, StoreError> {
    let find = || {
        idempotency_keys::Entity::find()
            .filter(idempotency_keys::Column::Scope.eq(scope))
            .filter(idempotency_keys::Column::Key.eq(key))
    };
    if let Some(old) = find().one(db).await?
        && old.created_at + Duration::hours(RETENTION_HOURS) < now
    {
        idempotency_keys::Entity::delete_by_id(old.id).exec(db).await?;
    }
    let row = idempotency_keys::Model {
        id: Uuid::now_v7(),
        scope: scope.to_string(),
        key: key.to_string(),
        fingerprint: fingerprint.to_string(),
        status: None,
        response: None,
        created_at: now,
    };
    let id = row.id;
    match row.into_active_model().reset_all().insert(db).await {
        Ok(_) => Ok(Begin::Fresh(id)),
        Err(e) if is_unique_violation(&e) => {
            let existing = find().one(db).await?;
            Ok(match existing {
                Some(r) if r.fingerprint != fingerprint => Begin::Mismatch,
                Some(idempotency_keys::Model { id, status: Some(_), response: Some(response), .. }) => {
                    Begin::Replay { id, response }
                }
                _ => Begin::InProgress,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// # Errors
/// Database failure.
pub async fn complete(
    db: &impl ConnectionTrait,
    id: Uuid,
    status: i32,
    sealed: Vec<u8>,
) -> Result<(), StoreError> {
    idempotency_keys::Entity::update_many()
        .col_expr(idempotency_keys::Column::Status, Expr::value(status))
        .col_expr(idempotency_keys::Column::Response, Expr::value(sealed))
        .filter(idempotency_keys::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Releases the key after a failed request so the client can retry with it.
///
/// # Errors
/// Database failure.
pub async fn abandon(db: &impl ConnectionTrait, id: Uuid) -> Result<(), StoreError> {
    idempotency_keys::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}
