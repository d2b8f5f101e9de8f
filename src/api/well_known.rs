//! Public key material per tenant, served from memory.
use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};

use super::ApiTags;
use crate::{error::ApiError, state::AppState};

pub struct WellKnownApi;

/// A public JSON Web Key (RFC 7517). Members depend on `kty`.
#[derive(Object, serde::Deserialize)]
pub struct JsonWebKey {
    /// `EC`, `RSA` or `OKP`.
    pub kty: String,
    pub kid: String,
    pub alg: String,
    #[oai(rename = "use")]
    #[serde(rename = "use")]
    pub use_: String,
    #[oai(skip_serializing_if_is_none)]
    pub crv: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub x: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub y: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub n: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub e: Option<String>,
}

#[derive(Object, serde::Deserialize)]
pub struct JsonWebKeySet {
    pub keys: Vec<JsonWebKey>,
}

#[derive(ApiResponse)]
pub enum JwksResponse {
    /// The tenant's public signing keys, including retired keys whose tokens may still be valid.
    #[oai(status = 200)]
    Ok(Json<JsonWebKeySet>, #[oai(header = "Cache-Control")] String),
}

#[OpenApi(tag = "ApiTags::WellKnown")]
impl WellKnownApi {
    /// Tenant JWKS
    ///
    /// The keys that verify this tenant's tokens, for resource servers that verify locally.
    #[oai(path = "/t/:tenant/.well-known/jwks.json", method = "get", operation_id = "getJwks")]
    async fn jwks(
        &self,
        Data(state): Data<&Arc<AppState>>,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
    ) -> Result<JwksResponse, ApiError> {
        let t = super::active_tenant(state, &tenant).await?;
        let set: JsonWebKeySet = serde_json::from_str(&t.jwks).map_err(ApiError::internal)?;
        Ok(JwksResponse::Ok(Json(set), "public, max-age=300".into()))
    }
}
