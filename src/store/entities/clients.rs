use sea_orm::entity::prelude::*;

/// A client app of a tenant.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub client_id: String,
    pub name: String,
    /// `public` or `confidential`.
    pub client_type: String,
    /// Keyed hash of the secret (confidential clients only); the secret itself is never stored.
    pub secret_hash: Option<String>,
    pub redirect_uris: Json,
    pub post_logout_redirect_uris: Json,
    pub grant_types: Json,
    pub scopes: Json,
    pub access_token_ttl_secs: Option<i64>,
    pub refresh_token_ttl_secs: Option<i64>,
    pub enabled: bool,
    /// Authorization requests must carry a PKCE challenge; only a confidential client may be
    /// exempted.
    pub pkce_required: bool,
    /// Every sign-in this client starts must pass a second factor (as `acr_values` 2fa).
    pub require_second_factor: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
