//! SeaORM entities, one per table, mirroring `migration/`. Queries live in `store/*.rs`.
pub mod refresh_tokens;
pub mod sessions;
pub mod signing_keys;
pub mod tenants;
pub mod users;
