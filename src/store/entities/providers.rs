use sea_orm::entity::prelude::*;

/// A login provider (strategy) configured for a tenant.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "providers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// URL-safe identifier, unique per tenant (`local`, `github`, ...).
    pub provider_id: String,
    pub kind: String,
    pub display_name: String,
    pub enabled: bool,
    pub position: i32,
    /// Non-secret configuration.
    pub config: Json,
    /// Secret configuration sealed with the master key; never returned by the API.
    pub secret_enc: Option<Vec<u8>>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
