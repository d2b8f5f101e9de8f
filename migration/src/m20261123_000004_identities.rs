//! External identities: which upstream account (provider row, subject) belongs to which user.
//! Deleting the user or the provider deletes its identities.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Providers {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Identities {
    Table,
    Id,
    TenantId,
    UserId,
    ProviderRowId,
    ProviderId,
    Subject,
    Email,
    EmailVerified,
    Claims,
    CreatedAt,
    LastLoginAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Identities::Table)
                    .col(uuid(Identities::Id).primary_key())
                    .col(uuid(Identities::TenantId))
                    .col(uuid(Identities::UserId))
                    .col(uuid(Identities::ProviderRowId))
                    .col(string_len(Identities::ProviderId, 64))
                    .col(string_len(Identities::Subject, 255))
                    .col(string_len_null(Identities::Email, 320))
                    .col(boolean(Identities::EmailVerified).default(false))
                    .col(json(Identities::Claims))
                    .col(timestamp_with_time_zone(Identities::CreatedAt))
                    .col(timestamp_with_time_zone(Identities::LastLoginAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Identities::Table, Identities::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Identities::Table, Identities::ProviderRowId)
                            .to(Providers::Table, Providers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One upstream account belongs to one user; a user links one account per provider.
        for (name, first, second) in [
            ("uq_identities_provider_subject", Identities::ProviderRowId, Identities::Subject),
            ("uq_identities_user_provider", Identities::UserId, Identities::ProviderRowId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Identities::Table)
                        .col(first)
                        .col(second)
                        .unique()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Identities::Table).to_owned()).await
    }
}
