//! The bearer security scheme: what passport-jwt does, plus the revocation check.
use std::sync::Arc;

use poem::{Endpoint, Request, http::header::AUTHORIZATION};
use poem_openapi::{SecurityScheme, auth::Bearer};

use crate::{auth::Principal, error::ApiError, state::AppState};

/// `Authorization: Bearer <access token>` (the `JWT <token>` form of passport-jwt apps is
/// accepted too).
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub Principal);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    let state = req
        .data::<Arc<AppState>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no application state")))?;
    let slug = tenant_of(req.uri().path());
    crate::auth::authenticate(state, slug, &bearer.token).await.map_err(|e| ApiError::from(e).into())
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
