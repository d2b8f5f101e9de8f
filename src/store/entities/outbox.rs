use sea_orm::entity::prelude::*;

/// Outgoing mail waiting for, or past, delivery (`store::outbox`, the `outbox` worker).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub kind: String,
    pub recipient: String,
    pub sender_name: Option<String>,
    pub reply_to: Option<String>,
    pub subject: String,
    /// Sealed with the master key (the body may carry a token); empty once sent.
    pub body_text: Vec<u8>,
    pub body_html: Vec<u8>,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
