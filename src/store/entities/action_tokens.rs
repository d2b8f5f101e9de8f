use sea_orm::entity::prelude::*;

/// A single-use secret mailed to a user (`store::action_tokens`, `account::action`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "action_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub purpose: String,
    /// Keyed hash of the link token; never the token.
    pub link_hash: String,
    /// Keyed hash of the typed code, bound to the row id.
    pub code_hash: String,
    pub payload: Option<Json>,
    pub attempts: i32,
    /// Unix milliseconds.
    pub expires_at: i64,
    /// Unix milliseconds: used, or replaced by a newer token.
    pub consumed_at: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
