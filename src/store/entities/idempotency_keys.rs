use sea_orm::entity::prelude::*;

/// A replayable response to a POST carrying an `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Who sent it and where: keys of different actors or routes never collide.
    pub scope: String,
    pub key: String,
    /// SHA-256 of the request body: the same key with another body is refused.
    pub fingerprint: String,
    /// `None` while the first request is still being processed.
    pub status: Option<i32>,
    /// The response body, sealed with the master key (it may hold a client secret).
    pub response: Option<Vec<u8>>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
