//! The shared state container every service receives: pools, the token store, caches and the
//! tenant directory. It sits below the faces (api, web, ops) and imports none of them.
use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::{
    cache::VersionedCache,
    config::Settings,
    crypto::{MasterKey, password::PasswordHasher},
    kv::Kv,
    metrics::Metrics,
    store::entities::{clients, users},
    tenancy::TenantDirectory,
    tokens::revocation::RevocationList,
    upstream::Upstream,
};

/// Everything a request handler may need; shared by all requests.
pub struct AppState {
    pub settings: Settings,
    pub db: DatabaseConnection,
    /// Reads that tolerate replication lag (admin listings): the replica, if configured.
    pub replica: DatabaseConnection,
    pub kv: Arc<Kv>,
    pub master_key: Arc<MasterKey>,
    pub tenants: TenantDirectory,
    pub revocations: RevocationList,
    /// User rows for the read-only bearer routes, checked against Redis change markers.
    pub users: VersionedCache<(uuid::Uuid, uuid::Uuid), users::Model>,
    /// Client apps for client authentication, checked the same way.
    pub clients: VersionedCache<(uuid::Uuid, String), clients::Model>,
    pub hasher: PasswordHasher,
    /// HTTP client and discovery cache for external login providers.
    pub upstream: Arc<Upstream>,
    /// This app's Prometheus counters (`GET /metrics`).
    pub metrics: Arc<Metrics>,
}
