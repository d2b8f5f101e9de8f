//! The poem-openapi layer: parse, call one service function, map the result.
use std::sync::Arc;

use poem_openapi::{OpenApiService, Tags};

use crate::state::AppState;

pub(crate) use crate::client_ip::client_meta;

pub mod admin;
pub mod auth;
pub mod health;
pub mod identities;
pub mod me;
pub mod my_passkeys;
pub mod oauth;
pub mod passkeys;
pub mod second_factor;
pub mod security;
pub mod well_known;

/// The groups of `/docs`, in this order: what app developers need first, then probes, then
/// the admin API.
#[derive(Tags)]
pub enum ApiTags {
    /// Register, log in, refresh and log out with the local username/password strategy.
    Auth,
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
}

pub type Apis = (
    auth::AuthApi,
    me::MeApi,
    second_factor::SecondFactorApi,
    second_factor::MyFactorsApi,
    passkeys::PasskeyAuthApi,
    my_passkeys::MyPasskeysApi,
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

/// The whole API. Handlers take the state from the request (`Data`), so the spec is built
/// without one.
pub fn api_service(server_url: &str) -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            auth::AuthApi,
            me::MeApi,
            second_factor::SecondFactorApi,
            second_factor::MyFactorsApi,
            passkeys::PasskeyAuthApi,
            my_passkeys::MyPasskeysApi,
            identities::IdentitiesApi,
            identities::SignInOptionsApi,
            well_known::WellKnownApi,
            oauth::OAuthApi,
            health::HealthApi,
            admin::tenants::AdminTenantsApi,
            admin::users::AdminUsersApi,
            admin::clients::AdminClientsApi,
            admin::providers::AdminProvidersApi,
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
const TAG_ORDER: [ApiTags; 11] = [
    ApiTags::Auth,
    ApiTags::Me,
    ApiTags::OAuth,
    ApiTags::WellKnown,
    ApiTags::Health,
    ApiTags::AdminTenants,
    ApiTags::AdminUsers,
    ApiTags::AdminClients,
    ApiTags::AdminProviders,
    ApiTags::AdminKeys,
    ApiTags::AdminAudit,
];

/// The spec as served at `/openapi.json` and in `/docs`: the generated one with its tags in
/// [`ApiTags`] order.
pub fn spec_json(api: &OpenApiService<Apis, ()>) -> String {
    // Pretty JSON: the top-level list is `  "tags": [` ... `  ]`, one object per `    {` ... `    }`.
    order_tag_entries(&api.spec(), "  \"tags\": [", |l| l.starts_with("  ]"), |l| l == "    {")
}

/// The spec as served at `/openapi.yaml` and committed in `openapi/openapi.yaml`, tags ordered
/// as in [`spec_json`].
pub fn spec_yaml(api: &OpenApiService<Apis, ()>) -> String {
    order_tag_entries(&api.spec_yaml(), "tags:", |l| !l.starts_with([' ', '-']), |l| l.starts_with("- "))
}

/// Reorders the entries of the top-level tag list between the line `header` and the first line
/// that `ends`, each entry starting at a line that `starts` an entry.
fn order_tag_entries(
    spec: &str,
    header: &str,
    ends: impl Fn(&str) -> bool,
    starts: impl Fn(&str) -> bool,
) -> String {
    let lines: Vec<&str> = spec.split_inclusive('\n').collect();
    let Some(head) = lines.iter().position(|l| l.trim_end() == header) else { return spec.to_string() };
    let end = lines[head + 1..].iter().position(|l| ends(l.trim_end())).map_or(lines.len(), |i| head + 1 + i);
    let mut entries: Vec<Vec<&str>> = Vec::new();
    for line in &lines[head + 1..end] {
        match entries.last_mut() {
            Some(entry) if !starts(line.trim_end()) => entry.push(line),
            _ => entries.push(vec![line]),
        }
    }
    let rank = |entry: &Vec<&str>| {
        let text = entry.concat();
        TAG_ORDER
            .iter()
            .position(|t| {
                text.contains(&format!("name: {}\n", t.name()))
                    || text.contains(&format!("\"name\": \"{}\"", t.name()))
            })
            .unwrap_or(TAG_ORDER.len())
    };
    entries.sort_by_key(rank);
    // JSON entries are separated by commas: the last one has none, the others one.
    let count = entries.len();
    let mut out: String = lines[..=head].concat();
    for (i, entry) in entries.iter().enumerate() {
        let mut text = entry.concat();
        if header.starts_with("  \"") {
            let trimmed = text.trim_end().trim_end_matches(',').to_string();
            text = if i + 1 < count { format!("{trimmed},\n") } else { format!("{trimmed}\n") };
        }
        out.push_str(&text);
    }
    out.push_str(&lines[end..].concat());
    out
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
