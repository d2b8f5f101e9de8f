//! The standard OpenID Connect / OAuth 2 endpoints that speak JSON: discovery, token,
//! userinfo, introspection (RFC 7662) and revocation (RFC 7009). Errors here follow RFC 6749
//! section 5.2 (`{"error", "error_description"}`), which OAuth libraries expect.
use std::sync::Arc;

use poem::Request;
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::Path,
    payload::{Form, Json},
};
use serde::Deserialize;

use super::{
    ApiTags, client_meta,
    security::{ClientCredentials, UserBearer},
};
use crate::{
    error::ApiError,
    oidc::{
        ProfileClaims, STANDARD_SCOPES,
        token::{self, OAuthError, TokenRequest},
    },
    state::AppState,
    tenancy::TenantContext,
};

pub struct OAuthApi;

/// OpenID Provider metadata (OpenID Connect Discovery 1.0).
#[derive(Object)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
    pub end_session_endpoint: String,
    pub scopes_supported: Vec<String>,
    pub response_types_supported: Vec<String>,
    pub response_modes_supported: Vec<String>,
    pub grant_types_supported: Vec<String>,
    pub subject_types_supported: Vec<String>,
    pub id_token_signing_alg_values_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    pub code_challenge_methods_supported: Vec<String>,
    pub claims_supported: Vec<String>,
    pub prompt_values_supported: Vec<String>,
    pub authorization_response_iss_parameter_supported: bool,
    pub request_parameter_supported: bool,
    /// Only the `id_token.acr` member of the `claims` parameter is honoured.
    pub claims_parameter_supported: bool,
    /// `urn:gatehouse:loa:1fa` (one factor) and `urn:gatehouse:loa:2fa` (a second step);
    /// asking for the latter with `acr_values` makes the sign-in take a second step.
    pub acr_values_supported: Vec<String>,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

fn metadata(t: &TenantContext) -> ProviderMetadata {
    let iss = &t.issuer;
    let auth_methods = strings(&["client_secret_basic", "client_secret_post"]);
    ProviderMetadata {
        issuer: iss.clone(),
        authorization_endpoint: format!("{iss}/oauth2/authorize"),
        token_endpoint: format!("{iss}/oauth2/token"),
        userinfo_endpoint: format!("{iss}/oauth2/userinfo"),
        jwks_uri: format!("{iss}/.well-known/jwks.json"),
        introspection_endpoint: format!("{iss}/oauth2/introspect"),
        revocation_endpoint: format!("{iss}/oauth2/revoke"),
        end_session_endpoint: format!("{iss}/oauth2/logout"),
        scopes_supported: strings(&STANDARD_SCOPES),
        response_types_supported: strings(&["code"]),
        response_modes_supported: strings(&["query"]),
        grant_types_supported: strings(&["authorization_code", "refresh_token", "client_credentials"]),
        subject_types_supported: strings(&["public"]),
        id_token_signing_alg_values_supported: strings(&["RS256"]),
        token_endpoint_auth_methods_supported: strings(&[
            "client_secret_basic",
            "client_secret_post",
            "none",
        ]),
        introspection_endpoint_auth_methods_supported: auth_methods.clone(),
        revocation_endpoint_auth_methods_supported: strings(&[
            "client_secret_basic",
            "client_secret_post",
            "none",
        ]),
        code_challenge_methods_supported: strings(&["S256"]),
        claims_supported: strings(&[
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "sid",
            "acr",
            "amr",
            "preferred_username",
            "email",
            "email_verified",
        ]),
        prompt_values_supported: strings(&["none", "login"]),
        authorization_response_iss_parameter_supported: true,
        request_parameter_supported: false,
        claims_parameter_supported: true,
        acr_values_supported: strings(&crate::domain::authn::ACR_VALUES),
    }
}

#[derive(ApiResponse)]
pub enum DiscoveryResponse {
    #[oai(status = 200)]
    Ok(Json<ProviderMetadata>, #[oai(header = "Cache-Control")] String),
}

/// Token request parameters (`application/x-www-form-urlencoded`).
#[derive(Object, Deserialize)]
pub struct TokenForm {
    /// `authorization_code`, `refresh_token` or `client_credentials`.
    pub grant_type: String,
    #[oai(skip_serializing_if_is_none)]
    pub code: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub redirect_uri: Option<String>,
    /// PKCE verifier (RFC 7636).
    #[oai(skip_serializing_if_is_none)]
    pub code_verifier: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub refresh_token: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub scope: Option<String>,
    /// For `client_secret_post` and public clients.
    #[oai(skip_serializing_if_is_none)]
    pub client_id: Option<String>,
    /// For `client_secret_post`.
    #[oai(skip_serializing_if_is_none)]
    pub client_secret: Option<String>,
}

#[derive(Object)]
pub struct TokenBody {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    pub expires_in: u64,
    #[oai(skip_serializing_if_is_none)]
    pub refresh_token: Option<String>,
    /// With the `openid` scope: an RS256 ID token.
    #[oai(skip_serializing_if_is_none)]
    pub id_token: Option<String>,
    /// Left out when no scope was granted.
    #[oai(skip_serializing_if_is_none)]
    pub scope: Option<String>,
}

/// RFC 6749 section 5.2 error body.
#[derive(Object)]
pub struct OAuthErrorBody {
    pub error: String,
    pub error_description: String,
}

fn error_body(e: &OAuthError) -> Json<OAuthErrorBody> {
    Json(OAuthErrorBody { error: e.code().to_string(), error_description: e.to_string() })
}

const NO_STORE: &str = "no-store";

#[derive(ApiResponse)]
pub enum OAuthResponse<T: poem_openapi::types::ToJSON + Send + Sync> {
    #[oai(status = 200)]
    Ok(Json<T>, #[oai(header = "Cache-Control")] String, #[oai(header = "Pragma")] String),
    /// `invalid_request`, `invalid_grant`, `unauthorized_client`, `unsupported_grant_type`,
    /// `invalid_scope`.
    #[oai(status = 400)]
    BadRequest(Json<OAuthErrorBody>, #[oai(header = "Cache-Control")] String),
    /// `invalid_client`.
    #[oai(status = 401)]
    Unauthorized(Json<OAuthErrorBody>, #[oai(header = "WWW-Authenticate")] String),
    /// `temporarily_unavailable`.
    #[oai(status = 503)]
    Unavailable(Json<OAuthErrorBody>, #[oai(header = "Retry-After")] u64),
    /// `invalid_request`: the body arrived too slowly.
    #[oai(status = 408)]
    RequestTimeout(Json<OAuthErrorBody>),
    /// `invalid_request`: the body is too large.
    #[oai(status = 413)]
    PayloadTooLarge(Json<OAuthErrorBody>),
    /// `invalid_request`: the body is not `application/x-www-form-urlencoded`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<OAuthErrorBody>),
    /// `temporarily_unavailable`: the token endpoint's rate limit; retry after the given seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<OAuthErrorBody>, #[oai(header = "Retry-After")] u64),
    /// `server_error`.
    #[oai(status = 500)]
    ServerError(Json<OAuthErrorBody>),
}

impl<T: poem_openapi::types::ToJSON + Send + Sync> OAuthResponse<T> {
    fn ok(body: T) -> Self {
        Self::Ok(Json(body), NO_STORE.into(), "no-cache".into())
    }

    fn from_error(e: OAuthError, tenant: &str) -> Self {
        match e {
            OAuthError::InvalidClient { .. } => {
                Self::Unauthorized(error_body(&e), format!("Basic realm=\"{tenant}\""))
            }
            OAuthError::Unavailable => Self::Unavailable(error_body(&e), 2),
            OAuthError::Server => Self::ServerError(error_body(&e)),
            _ => Self::BadRequest(error_body(&e), NO_STORE.into()),
        }
    }
}

/// Introspection request (`application/x-www-form-urlencoded`).
#[derive(Object, Deserialize)]
pub struct IntrospectForm {
    /// The access or refresh token to describe.
    pub token: String,
    /// `access_token` or `refresh_token`; a hint only.
    #[oai(skip_serializing_if_is_none)]
    pub token_type_hint: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub client_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub client_secret: Option<String>,
}

/// RFC 7662 section 2.2. Only `active` is present for inactive tokens.
#[derive(Object)]
pub struct IntrospectionBody {
    pub active: bool,
    #[oai(skip_serializing_if_is_none)]
    pub scope: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub client_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub username: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub token_type: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub exp: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    pub iat: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    pub nbf: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    pub sub: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub aud: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub iss: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub jti: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub sid: Option<String>,
}

/// Revocation request (`application/x-www-form-urlencoded`).
#[derive(Object, Deserialize)]
pub struct RevokeForm {
    /// The access or refresh token to revoke.
    pub token: String,
    #[oai(skip_serializing_if_is_none)]
    pub token_type_hint: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub client_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub client_secret: Option<String>,
}

/// An empty object: RFC 7009 answers 200 whether or not the token was known.
#[derive(Object)]
pub struct Empty {}

/// Standard claims about the signed-in user.
#[derive(Object)]
pub struct UserInfo {
    pub sub: String,
    #[oai(skip_serializing_if_is_none)]
    pub preferred_username: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub email: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub email_verified: Option<bool>,
}

#[derive(ApiResponse)]
pub enum UserInfoResponse {
    #[oai(status = 200)]
    Ok(Json<UserInfo>, #[oai(header = "Cache-Control")] String),
}

async fn tenant_or_error(state: &AppState, slug: &str) -> Result<Arc<TenantContext>, OAuthError> {
    state
        .tenants
        .get_active(slug)
        .await
        .map_err(|_| OAuthError::Unavailable)?
        .ok_or_else(|| OAuthError::InvalidRequest("no such tenant".into()))
}

fn authorization(req: &Request) -> Option<&str> {
    req.headers().get("authorization").and_then(|v| v.to_str().ok())
}

#[OpenApi(tag = "ApiTags::OAuth")]
impl OAuthApi {
    /// OpenID Connect discovery
    ///
    /// The provider metadata of a tenant; point any certified OpenID Connect library here.
    #[oai(
        path = "/t/:tenant/.well-known/openid-configuration",
        method = "get",
        operation_id = "getOpenIdConfiguration"
    )]
    async fn discovery(
        &self,
        Data(state): Data<&Arc<AppState>>,
        #[oai(name = "tenant")] tenant: Path<String>,
    ) -> Result<DiscoveryResponse, ApiError> {
        let t = super::active_tenant(state, &tenant).await?;
        Ok(DiscoveryResponse::Ok(Json(metadata(&t)), "public, max-age=300".into()))
    }

    /// Token endpoint
    ///
    /// Grants `authorization_code` (with PKCE), `refresh_token` (rotated, with reuse
    /// detection) and `client_credentials`. Clients authenticate with `client_secret_basic`
    /// or `client_secret_post`; public clients send only `client_id`.
    #[oai(path = "/t/:tenant/oauth2/token", method = "post", operation_id = "requestToken")]
    async fn token(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        #[oai(name = "tenant")] tenant: Path<String>,
        // Declares client_secret_basic; the header is read by `token::client_auth`.
        _client: ClientCredentials,
        form: Form<TokenForm>,
    ) -> OAuthResponse<TokenBody> {
        let f = form.0;
        let result = async {
            let t = tenant_or_error(state, &tenant).await?;
            let auth = token::client_auth(authorization(req), f.client_id, f.client_secret)?;
            let client = token::authenticate_client(state, &t, &auth).await?;
            let request = TokenRequest {
                grant_type: f.grant_type,
                code: f.code,
                redirect_uri: f.redirect_uri,
                code_verifier: f.code_verifier,
                refresh_token: f.refresh_token,
                scope: f.scope,
            };
            let now = chrono::Utc::now();
            token::exchange(state, &t, &client, auth.secret.is_some(), request, client_meta(req), now).await
        }
        .await;
        match result {
            Ok(set) => OAuthResponse::ok(TokenBody {
                access_token: set.access_token,
                token_type: "Bearer".into(),
                expires_in: set.expires_in,
                refresh_token: set.refresh_token,
                id_token: set.id_token,
                scope: (!set.scope.is_empty()).then_some(set.scope),
            }),
            Err(e) => OAuthResponse::from_error(e, &tenant),
        }
    }

    /// Token introspection (RFC 7662)
    ///
    /// For resource servers holding client credentials. Revoked, expired or foreign tokens
    /// answer `{"active": false}`.
    #[oai(path = "/t/:tenant/oauth2/introspect", method = "post", operation_id = "introspectToken")]
    async fn introspect(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        #[oai(name = "tenant")] tenant: Path<String>,
        // Declares client_secret_basic; the header is read by `token::client_auth`.
        _client: ClientCredentials,
        form: Form<IntrospectForm>,
    ) -> OAuthResponse<IntrospectionBody> {
        let f = form.0;
        let result = async {
            let t = tenant_or_error(state, &tenant).await?;
            let auth = token::client_auth(authorization(req), f.client_id, f.client_secret)?;
            if auth.secret.is_none() {
                return Err(OAuthError::InvalidClient { basic: auth.basic });
            }
            token::authenticate_client(state, &t, &auth).await?;
            let presented = f.token;
            token::introspect(state, &t, &presented, chrono::Utc::now()).await
        }
        .await;
        match result {
            Ok(i) => OAuthResponse::ok(IntrospectionBody {
                active: i.active,
                scope: i.scope,
                client_id: i.client_id,
                username: i.username,
                token_type: i.token_type,
                exp: i.exp,
                iat: i.iat,
                nbf: i.nbf,
                sub: i.sub,
                aud: i.aud,
                iss: i.iss,
                jti: i.jti,
                sid: i.sid,
            }),
            Err(e) => OAuthResponse::from_error(e, &tenant),
        }
    }

    /// Token revocation (RFC 7009)
    ///
    /// Revokes a refresh token (ending its session) or an access token the client holds.
    /// Answers 200 for unknown, expired or already revoked tokens too; a token issued to
    /// another client is refused with `unauthorized_client` (400) and stays valid.
    #[oai(path = "/t/:tenant/oauth2/revoke", method = "post", operation_id = "revokeToken")]
    async fn revoke(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        #[oai(name = "tenant")] tenant: Path<String>,
        // Declares client_secret_basic; the header is read by `token::client_auth`.
        _client: ClientCredentials,
        form: Form<RevokeForm>,
    ) -> OAuthResponse<Empty> {
        let f = form.0;
        let result = async {
            let t = tenant_or_error(state, &tenant).await?;
            let auth = token::client_auth(authorization(req), f.client_id, f.client_secret)?;
            let client = token::authenticate_client(state, &t, &auth).await?;
            let presented = f.token;
            token::revoke(state, &t, &client, &presented, chrono::Utc::now()).await
        }
        .await;
        match result {
            Ok(()) => OAuthResponse::ok(Empty {}),
            Err(e) => OAuthResponse::from_error(e, &tenant),
        }
    }

    /// UserInfo
    ///
    /// Claims about the user an access token with the `openid` scope was issued for.
    #[oai(path = "/t/:tenant/oauth2/userinfo", method = "get", operation_id = "getUserInfo")]
    async fn userinfo_get(
        &self,
        state: Data<&Arc<AppState>>,
        auth: UserBearer,
        #[oai(name = "tenant")] tenant: Path<String>,
    ) -> Result<UserInfoResponse, ApiError> {
        let _ = tenant;
        self.userinfo(state, auth).await
    }

    /// UserInfo (POST)
    ///
    /// The same as `GET`, for clients that send the token in a POST.
    #[oai(path = "/t/:tenant/oauth2/userinfo", method = "post", operation_id = "postUserInfo")]
    async fn userinfo_post(
        &self,
        state: Data<&Arc<AppState>>,
        auth: UserBearer,
        #[oai(name = "tenant")] tenant: Path<String>,
    ) -> Result<UserInfoResponse, ApiError> {
        let _ = tenant;
        self.userinfo(state, auth).await
    }
}

impl OAuthApi {
    async fn userinfo(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: UserBearer,
    ) -> Result<UserInfoResponse, ApiError> {
        let principal = auth.0;
        if !principal.claims.scope.split(' ').any(|s| s == "openid") {
            return Err(ApiError::forbidden("insufficient_scope", "the token lacks the openid scope"));
        }
        let user = crate::auth::current_user(state, &principal).await?;
        let claims = ProfileClaims::for_scope(&user, &principal.claims.scope);
        Ok(UserInfoResponse::Ok(
            Json(UserInfo {
                sub: user.id.to_string(),
                preferred_username: claims.preferred_username,
                email: claims.email,
                email_verified: claims.email_verified,
            }),
            NO_STORE.into(),
        ))
    }
}
