//! Second factors: one row per enrolled method of a user (TOTP now; passkeys later, several per
//! user), the user's single-use recovery codes, and on each session the `amr` values its
//! sign-in achieved, so refreshed tokens keep the original `amr` and `acr`.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum UserFactors {
    Table,
    Id,
    TenantId,
    UserId,
    Kind,
    Name,
    Secret,
    LastStep,
    ConfirmedAt,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum RecoveryCodes {
    Table,
    Id,
    TenantId,
    UserId,
    CodeHash,
    CreatedAt,
    UsedAt,
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

/// Rows go with their tenant and their user.
fn owner_fks<T: IntoIden + Copy + 'static>(
    table: T,
    tenant: impl IntoIden,
    user: impl IntoIden,
) -> [ForeignKeyCreateStatement; 2] {
    [
        ForeignKey::create()
            .from(table, tenant)
            .to(Tenants::Table, Tenants::Id)
            .on_delete(ForeignKeyAction::Cascade)
            .to_owned(),
        ForeignKey::create()
            .from(table, user)
            .to(Users::Table, Users::Id)
            .on_delete(ForeignKeyAction::Cascade)
            .to_owned(),
    ]
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Amr,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut factor_fks = owner_fks(UserFactors::Table, UserFactors::TenantId, UserFactors::UserId);
        let mut code_fks = owner_fks(RecoveryCodes::Table, RecoveryCodes::TenantId, RecoveryCodes::UserId);
        manager
            .create_table(
                Table::create()
                    .table(UserFactors::Table)
                    .col(uuid(UserFactors::Id).primary_key())
                    .col(uuid(UserFactors::TenantId))
                    .col(uuid(UserFactors::UserId))
                    // `totp` (later `passkey`)
                    .col(string_len(UserFactors::Kind, 32))
                    .col(string_len(UserFactors::Name, 100))
                    // Sealed with the master key (AES-GCM), bound to the row id.
                    .col(blob_null(UserFactors::Secret))
                    // The last accepted TOTP time step: a code is accepted once.
                    .col(big_integer_null(UserFactors::LastStep))
                    .col(timestamp_with_time_zone_null(UserFactors::ConfirmedAt))
                    .col(timestamp_with_time_zone(UserFactors::CreatedAt))
                    .col(timestamp_with_time_zone_null(UserFactors::LastUsedAt))
                    .foreign_key(&mut factor_fks[0])
                    .foreign_key(&mut factor_fks[1])
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_user_factors_user")
                    .table(UserFactors::Table)
                    .col(UserFactors::TenantId)
                    .col(UserFactors::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RecoveryCodes::Table)
                    .col(uuid(RecoveryCodes::Id).primary_key())
                    .col(uuid(RecoveryCodes::TenantId))
                    .col(uuid(RecoveryCodes::UserId))
                    // A keyed hash (HMAC-SHA256 under a key derived from the master key).
                    .col(string_len(RecoveryCodes::CodeHash, 64))
                    .col(timestamp_with_time_zone(RecoveryCodes::CreatedAt))
                    .col(timestamp_with_time_zone_null(RecoveryCodes::UsedAt))
                    .foreign_key(&mut code_fks[0])
                    .foreign_key(&mut code_fks[1])
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_recovery_codes_user")
                    .table(RecoveryCodes::Table)
                    .col(RecoveryCodes::TenantId)
                    .col(RecoveryCodes::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    // Space-separated RFC 8176 values; absent for sessions from before.
                    .add_column(string_len_null(Sessions::Amr, 200))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Sessions::Table).drop_column(Sessions::Amr).to_owned())
            .await?;
        manager.drop_table(Table::drop().table(RecoveryCodes::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(UserFactors::Table).to_owned()).await
    }
}
