//! The outbox (see `crate::outbox`): rows are inserted inside the caller's transaction and
//! claimed by workers with a lease, so several instances deliver each row once.
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, Statement, sea_query::Expr,
};
use uuid::Uuid;

use super::{StoreError, entities::outbox};

pub const PENDING: &str = "pending";
pub const SENDING: &str = "sending";
pub const SENT: &str = "sent";
pub const FAILED: &str = "failed";

/// A message as the service hands it over; the bodies are already sealed.
pub struct NewMessage {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub kind: String,
    pub recipient: String,
    pub sender_name: Option<String>,
    pub reply_to: Option<String>,
    pub subject: String,
    pub body_text: Vec<u8>,
    pub body_html: Vec<u8>,
    pub now: chrono::DateTime<chrono::Utc>,
}

/// Queues one message, due at once. Pass the transaction that writes the token it carries.
///
/// # Errors
/// A database failure.
pub async fn insert(db: &impl ConnectionTrait, m: NewMessage) -> Result<(), StoreError> {
    let row = outbox::ActiveModel {
        id: Set(m.id),
        tenant_id: Set(m.tenant_id),
        kind: Set(m.kind),
        recipient: Set(m.recipient),
        sender_name: Set(m.sender_name),
        reply_to: Set(m.reply_to),
        subject: Set(m.subject),
        body_text: Set(m.body_text),
        body_html: Set(m.body_html),
        status: Set(PENDING.into()),
        attempts: Set(0),
        next_attempt_at: Set(m.now.timestamp_millis()),
        claimed_by: Set(None),
        claimed_until: Set(None),
        last_error: Set(None),
        created_at: Set(m.now),
        sent_at: Set(None),
    };
    outbox::Entity::insert(row).exec_without_returning(db).await?;
    Ok(())
}

/// Claims up to `limit` due rows for `worker` until `lease_until` (Unix ms) in one statement:
/// pending rows whose time has come, and rows whose previous claimant's lease ran out (a
/// worker that died mid-send). PostgreSQL skips rows another worker holds locked; SQLite
/// serialises writers, so the single UPDATE is already exclusive.
///
/// # Errors
/// A database failure.
pub async fn claim(
    db: &DatabaseConnection,
    worker: &str,
    now: i64,
    lease_until: i64,
    limit: u64,
) -> Result<Vec<outbox::Model>, StoreError> {
    let backend = db.get_database_backend();
    let (sql, values): (&str, Vec<sea_orm::Value>) = match backend {
        DatabaseBackend::Postgres => (
            "UPDATE outbox SET status = 'sending', claimed_by = $1, claimed_until = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM outbox \
               WHERE (status = 'pending' AND next_attempt_at <= $3) OR (status = 'sending' AND claimed_until <= $3) \
               ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
             RETURNING *",
            vec![
                worker.into(),
                lease_until.into(),
                now.into(),
                i64::try_from(limit).unwrap_or(i64::MAX).into(),
            ],
        ),
        _ => (
            "UPDATE outbox SET status = 'sending', claimed_by = ?, claimed_until = ?, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM outbox \
               WHERE (status = 'pending' AND next_attempt_at <= ?) OR (status = 'sending' AND claimed_until <= ?) \
               ORDER BY next_attempt_at LIMIT ?) \
             RETURNING *",
            vec![
                worker.into(),
                lease_until.into(),
                now.into(),
                now.into(),
                i64::try_from(limit).unwrap_or(i64::MAX).into(),
            ],
        ),
    };
    let rows = outbox::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(backend, sql, values))
        .all(db)
        .await?;
    Ok(rows)
}

/// Marks a claimed row delivered and drops its bodies. Only the worker still holding the
/// claim may do so.
///
/// # Errors
/// A database failure.
pub async fn mark_sent(
    db: &DatabaseConnection,
    id: Uuid,
    worker: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value(SENT))
        .col_expr(outbox::Column::SentAt, Expr::value(now))
        .col_expr(outbox::Column::BodyText, Expr::value(Vec::<u8>::new()))
        .col_expr(outbox::Column::BodyHtml, Expr::value(Vec::<u8>::new()))
        .col_expr(outbox::Column::ClaimedUntil, Expr::value(Option::<i64>::None))
        .col_expr(outbox::Column::LastError, Expr::value(Option::<String>::None))
        .filter(outbox::Column::Id.eq(id))
        .filter(outbox::Column::ClaimedBy.eq(worker))
        .exec(db)
        .await?;
    Ok(())
}

/// Releases a claimed row after a failed attempt: back to `pending` at `next_attempt_at`, or
/// `failed` for good when `give_up`. `error` must not contain secrets.
///
/// # Errors
/// A database failure.
pub async fn mark_failed(
    db: &DatabaseConnection,
    id: Uuid,
    worker: &str,
    error: &str,
    next_attempt_at: i64,
    give_up: bool,
) -> Result<(), StoreError> {
    let error: String = error.chars().take(500).collect();
    outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value(if give_up { FAILED } else { PENDING }))
        .col_expr(outbox::Column::NextAttemptAt, Expr::value(next_attempt_at))
        .col_expr(outbox::Column::ClaimedUntil, Expr::value(Option::<i64>::None))
        .col_expr(outbox::Column::LastError, Expr::value(error))
        .filter(outbox::Column::Id.eq(id))
        .filter(outbox::Column::ClaimedBy.eq(worker))
        .exec(db)
        .await?;
    Ok(())
}

/// A tenant's messages, newest first (admin view and tests).
///
/// # Errors
/// A database failure.
pub async fn list(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    limit: u64,
) -> Result<Vec<outbox::Model>, StoreError> {
    Ok(outbox::Entity::find()
        .filter(outbox::Column::TenantId.eq(tenant_id))
        .order_by_desc(outbox::Column::CreatedAt)
        .limit(limit)
        .all(db)
        .await?)
}
