//! The poem-openapi layer: parse, call one service function, map the result.
use std::sync::Arc;

use poem::Request;
use poem_openapi::{OpenApiService, Tags};

use crate::{app::AppState, auth::ClientMeta};

pub mod admin;
pub mod auth;
pub mod health;
pub mod identities;
pub mod me;
pub mod oauth;
pub mod security;
pub mod well_known;

#[derive(Tags)]
pub enum ApiTags {
    /// Register, log in, refresh and log out with the local username/password strategy.
    Auth,
    /// The authenticated user.
    Me,
    /// Public key material and discovery.
    WellKnown,
    /// Liveness and readiness probes.
    Health,
    /// OpenID Connect and OAuth 2 endpoints for client apps.
    // Named so generated clients get an `oidc` module, not `o_auth`.
    #[oai(rename = "OIDC")]
    OAuth,
    /// Admin: tenants and their settings.
    AdminTenants,
    /// Admin: users, roles and sessions of a tenant.
    AdminUsers,
    /// Admin: a tenant's signing keys.
    AdminKeys,
    /// Admin: a tenant's audit log.
    AdminAudit,
    /// Admin: a tenant's client apps (OAuth2 clients) and their secrets.
    AdminClients,
    /// Admin: a tenant's login providers, their order, configuration and write-only secrets.
    AdminProviders,
}

pub type Apis = (
    auth::AuthApi,
    me::MeApi,
    identities::IdentitiesApi,
    identities::SignInOptionsApi,
    well_known::WellKnownApi,
    oauth::OAuthApi,
    health::HealthApi,
    admin::tenants::AdminTenantsApi,
    admin::users::AdminUsersApi,
    admin::clients::AdminClientsApi,
    admin::providers::AdminProvidersApi,
);

/// The whole API; `state` is `None` only when the spec is exported without a running service.
pub fn api_service(state: Option<Arc<AppState>>, server_url: &str) -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            auth::AuthApi { state: state.clone() },
            me::MeApi { state: state.clone() },
            identities::IdentitiesApi { state: state.clone() },
            identities::SignInOptionsApi { state: state.clone() },
            well_known::WellKnownApi { state: state.clone() },
            oauth::OAuthApi { state: state.clone() },
            health::HealthApi { state: state.clone() },
            admin::tenants::AdminTenantsApi { state: state.clone() },
            admin::users::AdminUsersApi { state: state.clone() },
            admin::clients::AdminClientsApi { state: state.clone() },
            admin::providers::AdminProvidersApi { state },
        ),
        "Gatehouse",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Gatehouse is a multi-tenant identity service. Every tenant has its own users, signing keys and \
         settings; tenant-scoped routes live under `/t/{tenant}`. Errors are RFC 9457 problem documents \
         with a stable `code`.",
    )
    .server(server_url)
}

/// The state behind an API struct. Only the spec exporter builds them without state, and it
/// never calls a handler.
pub(crate) fn state(state: &Option<Arc<AppState>>) -> Result<&AppState, crate::error::ApiError> {
    state.as_deref().ok_or_else(|| crate::error::ApiError::internal(anyhow::anyhow!("no application state")))
}

/// Where a request came from, for sessions and the audit log.
pub(crate) fn client_meta(req: &Request) -> ClientMeta {
    ClientMeta {
        ip: crate::client_ip::of(req).map(|ip| ip.to_string()),
        user_agent: req
            .headers()
            .get(poem::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect()),
    }
}

/// The active tenant at `slug`, or 404 `tenant_not_found`.
pub(crate) async fn active_tenant(
    state: &AppState,
    slug: &str,
) -> Result<Arc<crate::tenancy::TenantContext>, crate::error::ApiError> {
    state
        .tenants
        .get_active(slug)
        .await?
        .ok_or_else(|| crate::error::ApiError::not_found("tenant_not_found", "no such tenant"))
}
