//! Login providers of a tenant.
use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::AdminAuth;
use crate::{
    admin::{
        self,
        providers::{NewProviderInput, Provider, ProviderChanges},
    },
    api::ApiTags,
    error::ApiError,
    state::AppState,
    store::providers::ProviderFilter,
};

pub struct AdminProvidersApi;

/// How a login provider checks who the user is.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Username and password, checked by Gatehouse. Every tenant has exactly one.
    Local,
    /// Any OpenID Connect issuer. Configuration: `issuer`, `client_id`, optional `scopes`
    /// (`openid` is implied; default `email profile`) and `claims`; secret `client_secret`
    /// (optional for public upstream clients, which then rely on PKCE).
    Oidc,
    /// Plain OAuth2 without ID tokens. Configuration: `authorization_url`, `token_url`,
    /// `userinfo_url`, optional `emails_url` (GitHub-style list), `client_id`, `scopes`,
    /// `client_auth_method` and `claims` (`subject`, `username`, `email`, `email_verified`,
    /// `name`, `picture`: dotted paths into the user-info JSON); secret `client_secret`.
    Oauth2,
    /// Google (OpenID Connect). Configuration: `client_id`; secret `client_secret`.
    Google,
    /// GitHub (OAuth2 with the primary-email lookup). Configuration: `client_id`; secret
    /// `client_secret`. Endpoints can be overridden for GitHub Enterprise.
    Github,
    /// Microsoft Entra ID (OpenID Connect). Configuration: `client_id` and
    /// `directory_tenant` (the Directory ID); secret `client_secret`.
    Microsoft,
    /// GitLab (OpenID Connect). Configuration: `client_id`, optional `issuer` for a
    /// self-managed instance; secret `client_secret`.
    Gitlab,
    /// Passwordless sign-in by a link and code mailed to the user's address (opt-in).
    /// Configuration: optional `valid_minutes` (5 to 60, default 15); no secrets.
    Email,
}

impl ProviderKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Oidc => "oidc",
            Self::Oauth2 => "oauth2",
            Self::Google => "google",
            Self::Github => "github",
            Self::Microsoft => "microsoft",
            Self::Gitlab => "gitlab",
            Self::Email => "email",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "oidc" => Self::Oidc,
            "oauth2" => Self::Oauth2,
            "google" => Self::Google,
            "github" => Self::Github,
            "microsoft" => Self::Microsoft,
            "gitlab" => Self::Gitlab,
            "email" => Self::Email,
            _ => Self::Local,
        }
    }
}

fn default_true() -> bool {
    true
}

/// A login provider to add. `kind` is the strategy: `local`, a generic `oidc` or `oauth2`
/// provider, or a preset that fills in endpoints and claim mappings; the configuration is
/// checked when it is stored.
#[derive(Object, Serialize)]
#[oai(deny_unknown_fields)]
pub struct CreateProviderRequest {
    /// Identifies the provider in login URLs: 1-64 lower-case letters, digits, `-` or `_`,
    /// unique in the tenant. The local provider's is `local`.
    #[oai(validator(pattern = r"^[a-z0-9_-]{1,64}$"))]
    pub provider_id: String,
    // Documented on the struct: a doc comment here would wrap the enum's $ref in `allOf`,
    // which generated clients (openapi-python-client) cannot read.
    pub kind: ProviderKind,
    /// Shown on the login page; 1 to 200 characters, not all blank.
    #[oai(validator(
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    ))]
    pub display_name: String,
    #[oai(default = "default_true")]
    pub enabled: bool,
    /// Order on the login page, 0 to 10000 (default 0); equal positions keep creation order.
    #[oai(skip_serializing_if_is_none, validator(minimum(value = "0"), maximum(value = "10000")))]
    pub position: Option<i32>,
    /// Non-secret settings, returned as given; at most 16 KiB of JSON.
    #[oai(default)]
    pub configuration: BTreeMap<String, Value>,
    /// Secret settings (for example a client secret). Write-only: stored encrypted and never
    /// returned; responses list only their names. At most 32, each value up to 8 KiB.
    #[oai(default)]
    #[serde(skip)]
    pub secrets: BTreeMap<String, String>,
}

/// Fields to change; absent fields keep their value. Kind and `provider_id` cannot change.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateProviderRequest {
    /// 1 to 200 characters, not all blank.
    #[oai(
        skip_serializing_if_is_none,
        validator(
            max_length = 200,
            pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
        )
    )]
    pub display_name: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub enabled: Option<bool>,
    /// 0 to 10000.
    #[oai(skip_serializing_if_is_none, validator(minimum(value = "0"), maximum(value = "10000")))]
    pub position: Option<i32>,
    /// Replaces the whole configuration.
    #[oai(skip_serializing_if_is_none)]
    pub configuration: Option<BTreeMap<String, Value>>,
    /// Merged into the stored secrets: a string sets that secret, `null` removes it, names
    /// not mentioned keep their value.
    #[oai(skip_serializing_if_is_none)]
    pub secrets: Option<BTreeMap<String, Option<String>>>,
}

/// A login provider. Its secret values are never part of it.
#[derive(Object, Serialize, Deserialize)]
pub struct ProviderView {
    pub provider_id: String,
    pub kind: ProviderKind,
    pub display_name: String,
    pub enabled: bool,
    pub position: i32,
    pub configuration: BTreeMap<String, Value>,
    /// At least one secret is stored.
    pub has_secrets: bool,
    /// Names of the stored secrets, sorted.
    pub secret_keys: Vec<String>,
    /// The redirect URI to register at the upstream provider; absent for `local`.
    #[oai(skip_serializing_if_is_none)]
    pub callback_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Provider> for ProviderView {
    fn from(p: Provider) -> Self {
        let row = p.row;
        Self {
            provider_id: row.provider_id,
            kind: ProviderKind::parse(&row.kind),
            display_name: row.display_name,
            enabled: row.enabled,
            position: row.position,
            configuration: serde_json::from_value(row.config).unwrap_or_default(),
            has_secrets: !p.secret_keys.is_empty(),
            secret_keys: p.secret_keys,
            callback_url: p.callback_url,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Object)]
pub struct ProviderList {
    pub items: Vec<ProviderView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// What an `Idempotency-Key` is checked against: the request with its secrets replaced by a
/// keyed hash, so the idempotency record holds nothing a database reader could test guesses
/// against.
#[derive(Serialize)]
struct CreateFingerprint<'a> {
    request: &'a CreateProviderRequest,
    secrets: String,
}

#[derive(ApiResponse)]
pub enum ProviderCreated {
    /// The stored provider.
    #[oai(status = 201)]
    Created(Json<ProviderView>),
}

#[derive(ApiResponse)]
pub enum ProviderOk {
    #[oai(status = 200)]
    Ok(Json<ProviderView>),
}

#[derive(ApiResponse)]
pub enum ProviderListOk {
    #[oai(status = 200)]
    Ok(Json<ProviderList>),
}

#[derive(ApiResponse)]
pub enum ProviderDeleted {
    /// Deleted.
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(tag = "ApiTags::AdminProviders")]
impl AdminProvidersApi {
    /// Add a login provider
    ///
    /// A tenant starts with its `local` provider and has exactly one, so adding another local
    /// provider is a conflict. Send an `Idempotency-Key` to retry safely.
    #[oai(
        path = "/admin/v1/tenants/:tenant/providers",
        method = "post",
        operation_id = "adminCreateProvider"
    )]
    async fn create_provider(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        #[oai(name = "Idempotency-Key", validator(pattern = r"^[!-~]{1,200}$"))] idempotency_key: Header<
            Option<String>,
        >,
        body: Json<CreateProviderRequest>,
    ) -> Result<ProviderCreated, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        let req = body.0;
        let route = format!("POST /admin/v1/tenants/{}/providers", t.slug);
        let secrets_json = serde_json::to_string(&req.secrets).map_err(ApiError::internal)?;
        let fingerprint = CreateFingerprint {
            request: &req,
            secrets: state.master_key.keyed_hash("idempotency-provider-secrets", &secrets_json),
        };
        let view =
            admin::idempotent(state, &auth.0, &route, idempotency_key.as_deref(), &fingerprint, || async {
                let input = NewProviderInput {
                    provider_id: req.provider_id.clone(),
                    kind: req.kind.as_str().to_string(),
                    display_name: req.display_name.clone(),
                    enabled: req.enabled,
                    position: req.position,
                    configuration: req.configuration.clone().into_iter().collect(),
                    secrets: req.secrets.clone(),
                };
                Ok(ProviderView::from(admin::providers::create(state, &auth.0, &t, input, Utc::now()).await?))
            })
            .await?;
        Ok(ProviderCreated::Created(Json(view)))
    }

    /// List login providers
    ///
    /// Ordered by `position`, then creation: the order of the login page.
    #[oai(path = "/admin/v1/tenants/:tenant/providers", method = "get", operation_id = "adminListProviders")]
    async fn list_providers(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        /// Only providers of this kind.
        kind: Query<Option<ProviderKind>>,
        /// Only enabled (`true`) or disabled (`false`) providers.
        enabled: Query<Option<bool>>,
        cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> Result<ProviderListOk, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        let filter = ProviderFilter { kind: kind.0.map(|k| k.as_str().to_string()), enabled: enabled.0 };
        let page = admin::providers::list(state, &t, filter, cursor.as_deref(), limit.0).await?;
        let items = page.items.into_iter().map(Into::into).collect();
        Ok(ProviderListOk::Ok(Json(ProviderList { items, next_cursor: page.next_cursor })))
    }

    /// Get a login provider
    #[oai(
        path = "/admin/v1/tenants/:tenant/providers/:provider_id",
        method = "get",
        operation_id = "adminGetProvider"
    )]
    async fn get_provider(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        provider_id: Path<String>,
    ) -> Result<ProviderOk, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        Ok(ProviderOk::Ok(Json(admin::providers::get(state, &t, &provider_id).await?.into())))
    }

    /// Update a login provider
    ///
    /// Rename, reorder, enable or disable it, replace its configuration or change its secrets.
    /// Takes effect for logins on every instance. Returns the stored provider.
    #[oai(
        path = "/admin/v1/tenants/:tenant/providers/:provider_id",
        method = "patch",
        operation_id = "adminUpdateProvider"
    )]
    async fn update_provider(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        provider_id: Path<String>,
        body: Json<UpdateProviderRequest>,
    ) -> Result<ProviderOk, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        let req = body.0;
        let changes = ProviderChanges {
            display_name: req.display_name,
            enabled: req.enabled,
            position: req.position,
            configuration: req.configuration.map(|c| c.into_iter().collect()),
            secrets: req.secrets,
        };
        let p = admin::providers::update(state, &auth.0, &t, &provider_id, changes, Utc::now()).await?;
        Ok(ProviderOk::Ok(Json(p.into())))
    }

    /// Delete a login provider
    ///
    /// The local provider cannot be deleted; disable it instead.
    #[oai(
        path = "/admin/v1/tenants/:tenant/providers/:provider_id",
        method = "delete",
        operation_id = "adminDeleteProvider"
    )]
    async fn delete_provider(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        provider_id: Path<String>,
    ) -> Result<ProviderDeleted, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        admin::providers::delete(state, &auth.0, &t, &provider_id, Utc::now()).await?;
        Ok(ProviderDeleted::NoContent)
    }
}
