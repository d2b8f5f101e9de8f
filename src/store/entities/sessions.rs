use sea_orm::entity::prelude::*;

/// A login session; its id is the `sid` claim and it owns one refresh-token family.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    /// For a client's grant: the browser SSO session it came from.
    pub parent_id: Option<Uuid>,
    /// Scope granted to this session's tokens; `None` for first-party JSON API logins.
    pub scope: Option<String>,
    /// When the user last authenticated (OpenID Connect `auth_time`); `None` means `created_at`.
    pub auth_time: Option<DateTimeUtc>,
    /// Space-separated RFC 8176 `amr` values of the sign-in; refreshed tokens keep them.
    pub amr: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
