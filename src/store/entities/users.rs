use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Normalised (NFKC, case-folded); unique per tenant.
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub password_hash: Option<String>,
    pub status: String,
    pub roles: Json,
    /// Set by the user on the account page; `None` shows the username.
    pub display_name: Option<String>,
    /// An administrator required a second factor: enrol one at the next sign-in (cleared by
    /// enrolling), even where the tenant policy makes them optional.
    pub second_factor_required: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
