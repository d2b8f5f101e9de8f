use sea_orm::entity::prelude::*;

/// An enrolled (or, until `confirmed_at`, half-enrolled) second factor of a user.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_factors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    /// `totp` or `passkey`
    pub kind: String,
    pub name: String,
    /// Sealed with the master key, bound to `id`.
    pub secret: Option<Vec<u8>>,
    /// The last accepted TOTP time step.
    pub last_step: Option<i64>,
    pub confirmed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
    /// A passkey: webauthn-rs `Passkey` as JSON (public key, sign counter).
    #[sea_orm(column_type = "Text", nullable)]
    pub credential: Option<String>,
    /// A passkey: its credential id, base64url; unique per tenant.
    pub credential_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
