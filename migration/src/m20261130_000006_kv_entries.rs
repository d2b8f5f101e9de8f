//! The embedded store's durable copy: with no Redis configured, revocations, sessions, lockouts
//! and pending codes are written here as well as kept in memory, so a restart forgets nothing.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum KvEntries {
    Table,
    Key,
    Value,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(KvEntries::Table)
                    .col(string_len(KvEntries::Key, 512).primary_key())
                    .col(text(KvEntries::Value))
                    // Unix milliseconds: the same on both backends, compared as integers.
                    .col(big_integer(KvEntries::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_kv_entries_expires_at")
                    .table(KvEntries::Table)
                    .col(KvEntries::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(KvEntries::Table).to_owned()).await
    }
}
