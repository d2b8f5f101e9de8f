//! Schema migrations, one file per change, named by date. Identical on SQLite and PostgreSQL.
pub use sea_orm_migration::prelude::*;

mod m20261122_000001_foundation;
mod m20261122_000002_admin;
mod m20261122_000003_oidc;
mod m20261123_000004_identities;
mod m20261130_000005_signing_key_purpose;
mod m20261130_000006_kv_entries;
mod m20261130_000007_client_pkce;
mod m20261130_000020_outbox;
mod m20261201_000021_action_tokens;
mod m20261201_000030_second_factors;
mod m20261201_000045_mail_templates;
mod m20261201_000050_passkeys;
mod m20261201_000055_user_display_name;
mod m20261201_000060_user_enrol_required;
mod m20261201_000061_remembered_devices;
mod m20261201_000062_client_second_factor;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_foundation::Migration),
            Box::new(m20261122_000002_admin::Migration),
            Box::new(m20261122_000003_oidc::Migration),
            Box::new(m20261123_000004_identities::Migration),
            Box::new(m20261130_000005_signing_key_purpose::Migration),
            Box::new(m20261130_000006_kv_entries::Migration),
            Box::new(m20261130_000007_client_pkce::Migration),
            Box::new(m20261130_000020_outbox::Migration),
            Box::new(m20261201_000021_action_tokens::Migration),
            Box::new(m20261201_000030_second_factors::Migration),
            Box::new(m20261201_000045_mail_templates::Migration),
            Box::new(m20261201_000050_passkeys::Migration),
            Box::new(m20261201_000055_user_display_name::Migration),
            Box::new(m20261201_000060_user_enrol_required::Migration),
            Box::new(m20261201_000061_remembered_devices::Migration),
            Box::new(m20261201_000062_client_second_factor::Migration),
        ]
    }
}
