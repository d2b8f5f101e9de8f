//! The admin API under `/admin/v1`: operators manage every tenant, tenant admins their own.
use std::sync::Arc;

use poem::Request;
use poem_openapi::{Object, SecurityScheme, auth::Bearer};

use crate::{
    admin::Admin,
    audit::Actor,
    auth::{self, ROLE_ADMIN, ROLE_TENANT_ADMIN},
    error::ApiError,
    state::AppState,
    tenancy::SYSTEM_TENANT,
};

pub mod clients;
pub mod mail;
pub mod mail_templates;
pub mod providers;
pub mod tenants;
pub mod user_factors;
pub mod users;

/// An administrator's access token, `Authorization: Bearer <token>`: an operator's (a user of
/// tenant `system` holding `admin`, such as the bootstrap `admin`) for every tenant, or a
/// tenant admin's (holding `tenant-admin`) for their own tenant. Get one with
/// `POST /t/system/auth/login` (or `/t/{tenant}/auth/login` for a tenant admin) or, on the
/// server, `gatehouse token`. Tokens of users without those roles are refused with 403. Not for
/// the tenant API (`/t/{tenant}/...`), which takes `UserBearer`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_admin", rename = "AdminBearer")]
pub struct AdminAuth(pub Admin);

async fn check_admin(req: &Request, bearer: Bearer) -> poem::Result<Admin> {
    let state = req
        .data::<Arc<AppState>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no application state")))?;
    let (principal, user) = auth::authenticate_admin(state, &bearer.token).await.map_err(ApiError::from)?;
    let roles = auth::roles_of(&user);
    let home = principal.tenant.slug.clone();
    Ok(Admin {
        operator: home == SYSTEM_TENANT && roles.iter().any(|r| r == ROLE_ADMIN),
        tenant_admin: roles.iter().any(|r| r == ROLE_TENANT_ADMIN),
        actor: Actor { id: user.id, tenant: home },
        meta: super::client_meta(req),
    })
}

/// The cursor of the next page, absent on the last page.
#[derive(Object)]
pub struct PageInfo {
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}
