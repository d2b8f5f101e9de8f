//! The poem-openapi layer: parse, call one service function, map the result.
use std::sync::Arc;

use poem_openapi::{OpenApiService, Tags};

use crate::state::AppState;

pub(crate) use crate::client_ip::client_meta;
pub use cookies::WithCookies;
pub use spec::{spec_json, spec_yaml};

pub mod account;
pub mod admin;
pub mod auth;
mod cookies;
pub mod email_change;
pub mod health;
pub mod identities;
pub mod me;
pub mod my_passkeys;
pub mod oauth;
pub mod passkeys;
pub mod remembered_devices;
pub mod second_factor;
pub mod security;
mod spec;
pub mod well_known;

/// The groups of `/docs`, in this order: what app developers need first, then probes, then
/// the admin API.
#[derive(Tags)]
pub enum ApiTags {
    /// Register, log in, refresh and log out with the local username/password strategy.
    Auth,
    /// Password reset and email verification by mailed link or code.
    Account,
    /// The authenticated user.
    Me,
    /// OpenID Connect and OAuth 2 endpoints for client apps.
    // Named so generated clients get an `oidc` module, not `o_auth`.
    #[oai(rename = "OIDC")]
    OAuth,
    /// Public key material and discovery.
    WellKnown,
    /// Liveness and readiness probes.
    Health,
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
    /// Admin: account mail to a user (verification, password reset) and the tenant's outbox.
    AdminMail,
}

/// The areas, in two groups: poem-openapi implements `OpenApi` for tuples of up to 16.
pub type Apis = (
    (
        auth::AuthApi,
        account::AccountApi,
        email_change::EmailChangeApi,
        me::MeApi,
        second_factor::SecondFactorApi,
        second_factor::MyFactorsApi,
        passkeys::PasskeyAuthApi,
        my_passkeys::MyPasskeysApi,
        remembered_devices::RememberedDevicesApi,
        identities::IdentitiesApi,
        identities::SignInOptionsApi,
        well_known::WellKnownApi,
        oauth::OAuthApi,
        health::HealthApi,
    ),
    (
        admin::tenants::AdminTenantsApi,
        admin::users::AdminUsersApi,
        admin::user_factors::AdminUserFactorsApi,
        admin::clients::AdminClientsApi,
        admin::providers::AdminProvidersApi,
        admin::mail::AdminMailApi,
        admin::mail_templates::AdminMailTemplatesApi,
    ),
);

/// The whole API. Handlers take the state from the request (`Data`), so the spec is built
/// without one.
pub fn api_service(server_url: &str) -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            (
                auth::AuthApi,
                account::AccountApi,
                email_change::EmailChangeApi,
                me::MeApi,
                second_factor::SecondFactorApi,
                second_factor::MyFactorsApi,
                passkeys::PasskeyAuthApi,
                my_passkeys::MyPasskeysApi,
                remembered_devices::RememberedDevicesApi,
                identities::IdentitiesApi,
                identities::SignInOptionsApi,
                well_known::WellKnownApi,
                oauth::OAuthApi,
                health::HealthApi,
            ),
            (
                admin::tenants::AdminTenantsApi,
                admin::users::AdminUsersApi,
                admin::user_factors::AdminUserFactorsApi,
                admin::clients::AdminClientsApi,
                admin::providers::AdminProvidersApi,
                admin::mail::AdminMailApi,
                admin::mail_templates::AdminMailTemplatesApi,
            ),
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

/// The groups in the order `/docs` shows them (poem-openapi lists tags by name).
pub(crate) const TAG_ORDER: [ApiTags; 13] = [
    ApiTags::Auth,
    ApiTags::Me,
    ApiTags::OAuth,
    ApiTags::WellKnown,
    ApiTags::Account,
    ApiTags::Health,
    ApiTags::AdminTenants,
    ApiTags::AdminUsers,
    ApiTags::AdminClients,
    ApiTags::AdminProviders,
    ApiTags::AdminMail,
    ApiTags::AdminKeys,
    ApiTags::AdminAudit,
];

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
