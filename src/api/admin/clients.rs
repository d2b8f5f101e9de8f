//! Client apps of a tenant and their secrets.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
    types::MaybeUndefined,
};
use serde::{Deserialize, Serialize};

use super::AdminAuth;
use crate::{
    admin::{
        self,
        clients::{ClientChanges, ClientWithSecret, NewClientInput},
    },
    api::ApiTags,
    error::ApiError,
    state::AppState,
    store::{clients::ClientFilter, entities::clients},
};

pub struct AdminClientsApi;

/// Whether a client app can keep a secret.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum ClientType {
    /// Runs where it cannot keep a secret (browser and native apps); uses PKCE instead.
    Public,
    /// Runs on a server and authenticates with its client secret.
    Confidential,
}

impl ClientType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Public => admin::clients::PUBLIC,
            Self::Confidential => admin::clients::CONFIDENTIAL,
        }
    }
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    /// Confidential clients only.
    ClientCredentials,
}

impl GrantType {
    fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::AuthorizationCode, Self::RefreshToken, Self::ClientCredentials]
            .into_iter()
            .find(|g| g.as_str() == s)
    }
}

fn grant_strings(grants: Vec<GrantType>) -> Vec<String> {
    grants.into_iter().map(|g| g.as_str().to_string()).collect()
}

fn default_true() -> bool {
    true
}

/// A client app to register. `client_type` cannot change later: `confidential` clients get a
/// secret, `public` clients do not.
#[derive(Object, Serialize)]
#[oai(deny_unknown_fields)]
pub struct CreateClientRequest {
    /// Shown to users on consent and login pages; 1 to 200 characters, not all blank.
    #[oai(validator(
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    ))]
    pub name: String,
    // Documented on the struct: a doc comment here would wrap the enum's $ref in `allOf`,
    // which generated clients (openapi-python-client) cannot read.
    pub client_type: ClientType,
    /// Where users may be sent back after authorization, compared as exact strings. Each is an
    /// `https` URL, an `http` URL on a loopback host (`127.0.0.1`, `[::1]`, `localhost`), or a
    /// private-use scheme of a native app such as `com.example.app:/callback`; no fragment, at
    /// most 2048 characters, at most 20 URIs. Needed for `authorization_code`.
    #[oai(default, validator(max_items = 20, max_length = 2048))]
    pub redirect_uris: Vec<String>,
    /// Where users may be sent after logout; same rules as `redirect_uris`.
    #[oai(default, validator(max_items = 20, max_length = 2048))]
    pub post_logout_redirect_uris: Vec<String>,
    /// Defaults to `authorization_code` and `refresh_token`.
    #[oai(default)]
    pub grant_types: Vec<GrantType>,
    /// Scopes the client may request: `openid`, `profile`, `email`, `offline_access`, or custom
    /// scopes matching `^[a-z][a-z0-9:._-]{0,63}$`, at most 50. Defaults to `openid`.
    #[oai(default, validator(max_items = 50, pattern = r"^[a-z][a-z0-9:._-]{0,63}$"))]
    pub scopes: Vec<String>,
    /// Overrides the tenant's access token lifetime: 60 to the deployment maximum (3600 by
    /// default).
    #[oai(skip_serializing_if_is_none, validator(minimum(value = "60")))]
    pub access_token_ttl_secs: Option<u64>,
    /// Overrides the tenant's refresh token lifetime: 300 to 31622400 (366 days).
    #[oai(skip_serializing_if_is_none, validator(minimum(value = "300"), maximum(value = "31622400")))]
    pub refresh_token_ttl_secs: Option<u64>,
    /// Disabled clients cannot obtain tokens.
    #[oai(default = "default_true")]
    pub enabled: bool,
    /// Authorization requests must carry a PKCE challenge (S256). `false` exempts a legacy
    /// confidential client that cannot send one; public clients always need PKCE.
    #[oai(default = "default_true")]
    pub pkce_required: bool,
    /// Every sign-in this client starts must pass a second factor, as if each authorization
    /// request asked for `acr_values=urn:gatehouse:loa:2fa` (users without one enrol first).
    #[oai(default)]
    pub require_second_factor: bool,
}

/// Fields to change; absent fields keep their value.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateClientRequest {
    /// 1 to 200 characters, not all blank.
    #[oai(
        skip_serializing_if_is_none,
        validator(
            max_length = 200,
            pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
        )
    )]
    pub name: Option<String>,
    /// Replaces the list.
    #[oai(skip_serializing_if_is_none, validator(max_items = 20, max_length = 2048))]
    pub redirect_uris: Option<Vec<String>>,
    /// Replaces the list.
    #[oai(skip_serializing_if_is_none, validator(max_items = 20, max_length = 2048))]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Replaces the list.
    #[oai(skip_serializing_if_is_none)]
    pub grant_types: Option<Vec<GrantType>>,
    /// Replaces the list.
    #[oai(skip_serializing_if_is_none, validator(max_items = 50, pattern = r"^[a-z][a-z0-9:._-]{0,63}$"))]
    pub scopes: Option<Vec<String>>,
    /// `null` removes the override, so the tenant's setting applies.
    #[oai(validator(minimum(value = "60")))]
    pub access_token_ttl_secs: MaybeUndefined<u64>,
    /// `null` removes the override, so the tenant's setting applies.
    #[oai(validator(minimum(value = "300"), maximum(value = "31622400")))]
    pub refresh_token_ttl_secs: MaybeUndefined<u64>,
    #[oai(skip_serializing_if_is_none)]
    pub enabled: Option<bool>,
    /// `false` exempts a confidential client from PKCE; public clients always need it.
    #[oai(skip_serializing_if_is_none)]
    pub pkce_required: Option<bool>,
    /// Every sign-in this client starts must pass a second factor.
    #[oai(skip_serializing_if_is_none)]
    pub require_second_factor: Option<bool>,
}

/// A client app. Its secret is never part of it.
#[derive(Object, Serialize, Deserialize)]
pub struct ClientView {
    /// Generated at creation; the `client_id` of OAuth2 requests.
    pub client_id: String,
    pub name: String,
    pub client_type: ClientType,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Vec<String>,
    /// Absent: the tenant's setting applies.
    #[oai(skip_serializing_if_is_none)]
    pub access_token_ttl_secs: Option<u64>,
    /// Absent: the tenant's setting applies.
    #[oai(skip_serializing_if_is_none)]
    pub refresh_token_ttl_secs: Option<u64>,
    pub enabled: bool,
    /// Authorization requests must carry a PKCE challenge (S256).
    pub pkce_required: bool,
    /// Every sign-in this client starts must pass a second factor (acr 2fa).
    pub require_second_factor: bool,
    /// The client has a secret (confidential clients). Its value is shown only when created
    /// or rotated.
    pub has_secret: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<clients::Model> for ClientView {
    fn from(c: clients::Model) -> Self {
        let strings = |v: serde_json::Value| serde_json::from_value::<Vec<String>>(v).unwrap_or_default();
        Self {
            client_type: if c.client_type == admin::clients::CONFIDENTIAL {
                ClientType::Confidential
            } else {
                ClientType::Public
            },
            has_secret: c.secret_hash.is_some(),
            grant_types: strings(c.grant_types).iter().filter_map(|g| GrantType::parse(g)).collect(),
            client_id: c.client_id,
            name: c.name,
            redirect_uris: strings(c.redirect_uris),
            post_logout_redirect_uris: strings(c.post_logout_redirect_uris),
            scopes: strings(c.scopes),
            access_token_ttl_secs: c.access_token_ttl_secs.and_then(|v| u64::try_from(v).ok()),
            refresh_token_ttl_secs: c.refresh_token_ttl_secs.and_then(|v| u64::try_from(v).ok()),
            enabled: c.enabled,
            pkce_required: c.pkce_required,
            require_second_factor: c.require_second_factor,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A client right after creation or secret rotation.
#[derive(Object, Serialize, Deserialize)]
pub struct ClientWithSecretView {
    #[oai(flatten)]
    #[serde(flatten)]
    pub client: ClientView,
    /// The client secret, shown this one time: store it now. It cannot be read again, only
    /// rotated. Absent for public clients.
    #[oai(skip_serializing_if_is_none)]
    pub client_secret: Option<String>,
}

impl From<ClientWithSecret> for ClientWithSecretView {
    fn from(c: ClientWithSecret) -> Self {
        Self { client: c.client.into(), client_secret: c.secret }
    }
}

#[derive(Object)]
pub struct ClientList {
    pub items: Vec<ClientView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum ClientCreated {
    /// The stored client, with its secret for confidential clients.
    #[oai(status = 201)]
    Created(Json<ClientWithSecretView>, #[oai(header = "Cache-Control")] String),
}

#[derive(ApiResponse)]
pub enum SecretRotated {
    /// The client with its new secret.
    #[oai(status = 200)]
    Ok(Json<ClientWithSecretView>, #[oai(header = "Cache-Control")] String),
}

#[derive(ApiResponse)]
pub enum ClientOk {
    #[oai(status = 200)]
    Ok(Json<ClientView>),
}

#[derive(ApiResponse)]
pub enum ClientListOk {
    #[oai(status = 200)]
    Ok(Json<ClientList>),
}

#[derive(ApiResponse)]
pub enum ClientDeleted {
    /// Deleted.
    #[oai(status = 204)]
    NoContent,
}

/// Responses that carry a secret must not be kept by caches.
const NO_STORE: &str = "no-store";

#[OpenApi(tag = "ApiTags::AdminClients")]
impl AdminClientsApi {
    /// Register a client app
    ///
    /// Generates the `client_id` and, for confidential clients, a secret that is returned in
    /// this response only. Send an `Idempotency-Key` to retry safely: a retry returns the same
    /// client and secret.
    #[oai(path = "/admin/v1/tenants/:tenant/clients", method = "post", operation_id = "adminCreateClient")]
    async fn create_client(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        #[oai(name = "Idempotency-Key", validator(pattern = r"^[!-~]{1,200}$"))] idempotency_key: Header<
            Option<String>,
        >,
        body: Json<CreateClientRequest>,
    ) -> Result<ClientCreated, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        let req = body.0;
        let route = format!("POST /admin/v1/tenants/{}/clients", t.slug);
        let view = admin::idempotent(state, &auth.0, &route, idempotency_key.as_deref(), &req, || async {
            let input = NewClientInput {
                name: req.name.clone(),
                client_type: req.client_type.as_str().to_string(),
                redirect_uris: req.redirect_uris.clone(),
                post_logout_redirect_uris: req.post_logout_redirect_uris.clone(),
                grant_types: grant_strings(req.grant_types.clone()),
                scopes: req.scopes.clone(),
                access_token_ttl_secs: req.access_token_ttl_secs,
                refresh_token_ttl_secs: req.refresh_token_ttl_secs,
                enabled: req.enabled,
                pkce_required: req.pkce_required,
                require_second_factor: req.require_second_factor,
            };
            Ok(ClientWithSecretView::from(
                admin::clients::create(state, &auth.0, &t, input, Utc::now()).await?,
            ))
        })
        .await?;
        Ok(ClientCreated::Created(Json(view), NO_STORE.into()))
    }

    /// List client apps
    ///
    /// Filters combine; ordered by creation.
    #[oai(path = "/admin/v1/tenants/:tenant/clients", method = "get", operation_id = "adminListClients")]
    async fn list_clients(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        /// Only clients of this type.
        client_type: Query<Option<ClientType>>,
        /// Only enabled (`true`) or disabled (`false`) clients.
        enabled: Query<Option<bool>>,
        cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> Result<ClientListOk, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        let filter =
            ClientFilter { client_type: client_type.0.map(|c| c.as_str().to_string()), enabled: enabled.0 };
        let page = admin::clients::list(state, &t, filter, cursor.as_deref(), limit.0).await?;
        let items = page.items.into_iter().map(Into::into).collect();
        Ok(ClientListOk::Ok(Json(ClientList { items, next_cursor: page.next_cursor })))
    }

    /// Get a client app
    #[oai(
        path = "/admin/v1/tenants/:tenant/clients/:client_id",
        method = "get",
        operation_id = "adminGetClient"
    )]
    async fn get_client(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        client_id: Path<String>,
    ) -> Result<ClientOk, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        Ok(ClientOk::Ok(Json(admin::clients::get(state, &t, &client_id).await?.into())))
    }

    /// Update a client app
    ///
    /// The client is checked as a whole after the change (for example, a client using
    /// `authorization_code` keeps at least one redirect URI). Returns the stored client.
    #[oai(
        path = "/admin/v1/tenants/:tenant/clients/:client_id",
        method = "patch",
        operation_id = "adminUpdateClient"
    )]
    async fn update_client(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        client_id: Path<String>,
        body: Json<UpdateClientRequest>,
    ) -> Result<ClientOk, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        let req = body.0;
        let changes = ClientChanges {
            name: req.name,
            redirect_uris: req.redirect_uris,
            post_logout_redirect_uris: req.post_logout_redirect_uris,
            grant_types: req.grant_types.map(grant_strings),
            scopes: req.scopes,
            access_token_ttl_secs: req.access_token_ttl_secs.into(),
            refresh_token_ttl_secs: req.refresh_token_ttl_secs.into(),
            enabled: req.enabled,
            pkce_required: req.pkce_required,
            require_second_factor: req.require_second_factor,
        };
        let client = admin::clients::update(state, &auth.0, &t, &client_id, changes, Utc::now()).await?;
        Ok(ClientOk::Ok(Json(client.into())))
    }

    /// Delete a client app
    #[oai(
        path = "/admin/v1/tenants/:tenant/clients/:client_id",
        method = "delete",
        operation_id = "adminDeleteClient"
    )]
    async fn delete_client(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        client_id: Path<String>,
    ) -> Result<ClientDeleted, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        admin::clients::delete(state, &auth.0, &t, &client_id, Utc::now()).await?;
        Ok(ClientDeleted::NoContent)
    }

    /// Rotate a client secret
    ///
    /// Confidential clients only. The old secret stops working at once; the new one is
    /// returned in this response only.
    #[oai(
        path = "/admin/v1/tenants/:tenant/clients/:client_id/secret",
        method = "post",
        operation_id = "adminRotateClientSecret"
    )]
    async fn rotate_secret(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        client_id: Path<String>,
    ) -> Result<SecretRotated, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        let rotated = admin::clients::rotate_secret(state, &auth.0, &t, &client_id, Utc::now()).await?;
        Ok(SecretRotated::Ok(Json(rotated.into()), NO_STORE.into()))
    }
}
