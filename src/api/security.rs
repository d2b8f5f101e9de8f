//! The security schemes of the tenant-facing API: user bearer tokens (what passport-jwt does,
//! plus the revocation check) and client app credentials on the OAuth endpoints.
use std::sync::Arc;

use poem::{Endpoint, Request, http::header::AUTHORIZATION};
use poem_openapi::{
    SecurityScheme,
    auth::{Basic, Bearer},
};

use crate::{auth::Principal, error::ApiError, state::AppState};

/// A user's access token for the tenant in the path (`/t/{tenant}/...`), from
/// `POST /t/{tenant}/auth/login`, `POST /t/{tenant}/auth/refresh` or the tenant's token endpoint
/// (`POST /t/{tenant}/oauth2/token`), sent as `Authorization: Bearer <token>` (the `JWT <token>`
/// form of passport-jwt apps is accepted too).
/// Not for the admin API, which takes `AdminBearer`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer", rename = "UserBearer")]
pub struct UserBearer(pub Principal);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    let state = req
        .data::<Arc<AppState>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no application state")))?;
    let slug = tenant_of(req.uri().path());
    crate::auth::authenticate(state, slug, &bearer.token).await.map_err(|e| ApiError::from(e).into())
}

/// A client app's credentials, `client_secret_basic` (RFC 6749 section 2.3.1):
/// `Authorization: Basic base64(client_id:client_secret)`, each part form-urlencoded first.
/// Confidential clients may send `client_id` and `client_secret` in the form instead
/// (`client_secret_post`); public clients send only `client_id` in the form.
#[derive(SecurityScheme)]
#[oai(ty = "basic", rename = "ClientSecretBasic")]
pub struct ClientSecretBasic(pub Basic);

/// How a client app authenticates at the token, introspection and revocation endpoints: HTTP
/// Basic, or no header at all (credentials in the form). Declared so the spec says so and SDKs
/// apply their basic-auth setting there; the handlers read the header themselves
/// (`oidc::token::client_auth`), so every failure is answered in the RFC 6749 shape.
#[derive(SecurityScheme)]
pub enum ClientCredentials {
    Basic(ClientSecretBasic),
    /// No (usable) `Authorization` header: the form carries the client's id.
    #[oai(fallback)]
    InForm,
}

/// The `{tenant}` segment of a `/t/{tenant}/...` path.
fn tenant_of(path: &str) -> &str {
    path.strip_prefix("/t/").and_then(|rest| rest.split('/').next()).unwrap_or_default()
}

/// Rewrites `Authorization: JWT <token>` (passport-jwt's `fromAuthHeaderWithScheme("JWT")`)
/// to the standard Bearer form before the security scheme reads it.
pub async fn accept_jwt_scheme<E: Endpoint>(next: E, mut req: Request) -> poem::Result<E::Output> {
    let rewritten = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("JWT").then(|| format!("Bearer {}", token.trim()))
    });
    if let Some(value) = rewritten.and_then(|v| poem::http::HeaderValue::from_str(&v).ok()) {
        req.headers_mut().insert(AUTHORIZATION, value);
    }
    next.call(req).await
}
