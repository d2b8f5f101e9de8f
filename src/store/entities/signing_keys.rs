use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    #[sea_orm(unique)]
    pub kid: String,
    pub algorithm: String,
    /// PKCS#8 DER sealed with the master key (`nonce || ciphertext || tag`).
    pub private_key: Vec<u8>,
    pub public_jwk: Json,
    pub status: String,
    /// `access` or `id_token`: the one kind of token this key signs and verifies.
    pub purpose: String,
    pub created_at: DateTimeUtc,
    pub retired_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
