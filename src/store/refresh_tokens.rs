//! Refresh-token rotation with reuse detection (RFC 9700 section 4.14).
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    TransactionSession, TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

use super::{
    StoreError,
    entities::{refresh_tokens, sessions},
};

pub enum Rotation {
    /// The presented token was consumed and `new_hash` now belongs to `session`.
    Rotated { session: Box<sessions::Model> },
    /// The presented token had already been rotated: its family must be revoked.
    Reused { session_id: Uuid },
    /// Unknown, expired, its session has ended, or it belongs to another client.
    Invalid,
    /// Live and the caller's, but `admit` refused the request (the reason): nothing changed.
    Refused(String),
}

/// Consumes `presented_hash` and stores `new_hash` in its place, atomically, when the token's
/// session belongs to `client` (`None`: a first-party session) and `admit` accepts the session
/// (the request's other parameters, such as a narrower scope). A token rotated less than
/// `reuse_grace` ago is refused without revoking anything (concurrent requests of one client);
/// after that, presenting it again is reuse. A refused request changes nothing: another
/// client's token, even a rotated one, is `Invalid`.
///
/// The conditional `UPDATE ... WHERE used_at IS NULL` is the first statement of the
/// transaction: of several concurrent rotations of one token exactly one sees a row change,
/// and on SQLite the write lock is taken up front, so no transaction has to upgrade.
///
/// # Errors
/// Database failure.
pub async fn rotate(
    db: &(impl TransactionTrait + ConnectionTrait),
    tenant_id: Uuid,
    presented_hash: &str,
    new_hash: String,
    client: Option<&str>,
    admit: impl FnOnce(&sessions::Model) -> Result<(), String>,
    reuse_grace: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<Rotation, StoreError> {
    let txn = db.begin().await?;
    let consumed = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::UsedAt, Expr::value(now))
        .filter(refresh_tokens::Column::TenantId.eq(tenant_id))
        .filter(refresh_tokens::Column::TokenHash.eq(presented_hash))
        .filter(refresh_tokens::Column::UsedAt.is_null())
        .exec_with_returning(&txn)
        .await?;
    let Some(token) = consumed.into_iter().next() else {
        txn.rollback().await?;
        let existing = refresh_tokens::Entity::find()
            .filter(refresh_tokens::Column::TenantId.eq(tenant_id))
            .filter(refresh_tokens::Column::TokenHash.eq(presented_hash))
            .one(db)
            .await?;
        let Some(used) = existing.filter(|t| t.used_at.is_some()) else { return Ok(Rotation::Invalid) };
        // Rotated moments ago by a concurrent request: a lost race, not a replay.
        if used.used_at.is_some_and(|u| now - u < reuse_grace) {
            return Ok(Rotation::Invalid);
        }
        // Only the client the family belongs to can set off its revocation.
        let owner = super::sessions::find(db, tenant_id, used.session_id).await?;
        return Ok(match owner {
            Some(s) if s.client_id.as_deref() == client => Rotation::Reused { session_id: used.session_id },
            _ => Rotation::Invalid,
        });
    };
    // Marks the session seen and reads it in one statement; undone below if it is unusable.
    let session = if token.expires_at > now {
        sessions::Entity::update_many()
            .col_expr(sessions::Column::LastSeenAt, Expr::value(now))
            .filter(sessions::Column::TenantId.eq(tenant_id))
            .filter(sessions::Column::Id.eq(token.session_id))
            .exec_with_returning(&txn)
            .await?
            .into_iter()
            .next()
    } else {
        None
    };
    // A token of another client (or a client's token at the first-party endpoint) is refused
    // without being consumed: the rollback below undoes the UPDATE.
    let usable = |s: &sessions::Model| {
        s.revoked_at.is_none() && s.expires_at > now && s.client_id.as_deref() == client
    };
    let Some(session) = session.filter(usable) else {
        txn.rollback().await?;
        return Ok(Rotation::Invalid);
    };
    if let Err(reason) = admit(&session) {
        txn.rollback().await?;
        return Ok(Rotation::Refused(reason));
    }
    let next = refresh_tokens::Model {
        id: Uuid::now_v7(),
        tenant_id,
        session_id: session.id,
        token_hash: new_hash,
        created_at: now,
        expires_at: session.expires_at,
        used_at: None,
    };
    refresh_tokens::Entity::insert(next.into_active_model().reset_all()).exec_without_returning(&txn).await?;
    txn.commit().await?;
    Ok(Rotation::Rotated { session: Box::new(session) })
}

/// A refresh token with its session, for introspection and revocation.
///
/// # Errors
/// Database failure.
pub async fn find_with_session(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    hash: &str,
) -> Result<Option<(refresh_tokens::Model, sessions::Model)>, StoreError> {
    let token = refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::TenantId.eq(tenant_id))
        .filter(refresh_tokens::Column::TokenHash.eq(hash))
        .one(db)
        .await?;
    let Some(token) = token else { return Ok(None) };
    Ok(super::sessions::find(db, tenant_id, token.session_id).await?.map(|s| (token, s)))
}
