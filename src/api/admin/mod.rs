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
pub mod mail_templates;
pub mod providers;
pub mod tenants;
pub mod users;

/// `Authorization: Bearer <token>` of a user holding `admin` (in tenant `system`) or
/// `tenant-admin`, obtained from `POST /t/{tenant}/auth/login`. Tokens for a tenant's own API
/// are refused with 403.
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
