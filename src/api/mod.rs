//! The poem-openapi layer: parse, call one service function, map the result.
use std::sync::Arc;

use poem_openapi::{OpenApiService, Tags};

use crate::app::AppState;

pub mod auth;
pub mod health;
pub mod me;
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
}

pub type Apis = (auth::AuthApi, me::MeApi, well_known::WellKnownApi, health::HealthApi);

/// The whole API; `state` is `None` only when the spec is exported without a running service.
pub fn api_service(state: Option<Arc<AppState>>, server_url: &str) -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            auth::AuthApi { state: state.clone() },
            me::MeApi { state: state.clone() },
            well_known::WellKnownApi { state: state.clone() },
            health::HealthApi { state },
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
