//! SeaORM entities, one per table, mirroring `migration/`. Queries live in `store/*.rs`.
pub mod action_tokens;
pub mod audit_events;
pub mod clients;
pub mod idempotency_keys;
pub mod identities;
pub mod kv_entries;
pub mod mail_templates;
pub mod outbox;
pub mod providers;
pub mod recovery_codes;
pub mod refresh_tokens;
pub mod remembered_devices;
pub mod sessions;
pub mod signing_keys;
pub mod tenants;
pub mod user_factors;
pub mod users;
