//! Remembered devices: a browser where the user ticked "Remember this device" after a second
//! step skips it for the tenant's number of days. One row per remembered browser so it can be
//! listed, revoked, and outlives a restart; only a keyed hash of the cookie's secret is kept.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum RememberedDevices {
    Table,
    Id,
    TenantId,
    UserId,
    SecretHash,
    Label,
    CreatedAt,
    ExpiresAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RememberedDevices::Table)
                    .col(uuid(RememberedDevices::Id).primary_key())
                    .col(uuid(RememberedDevices::TenantId))
                    .col(uuid(RememberedDevices::UserId))
                    // A keyed hash (HMAC-SHA256 under a key derived from the master key).
                    .col(string_len(RememberedDevices::SecretHash, 64))
                    // What the browser said it was (User-Agent, cut short), for the listing.
                    .col(string_len(RememberedDevices::Label, 200))
                    .col(timestamp_with_time_zone(RememberedDevices::CreatedAt))
                    .col(timestamp_with_time_zone(RememberedDevices::ExpiresAt))
                    .col(timestamp_with_time_zone_null(RememberedDevices::LastUsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RememberedDevices::Table, RememberedDevices::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(RememberedDevices::Table, RememberedDevices::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_remembered_devices_user")
                    .table(RememberedDevices::Table)
                    .col(RememberedDevices::TenantId)
                    .col(RememberedDevices::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(RememberedDevices::Table).to_owned()).await
    }
}
