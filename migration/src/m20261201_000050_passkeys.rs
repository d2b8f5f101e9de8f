//! Passkeys (WebAuthn credentials) as rows of `user_factors` (`kind = 'passkey'`, several per
//! user): the credential as webauthn-rs stores it (public key, sign counter, flags) and its
//! credential id, unique per tenant so one authenticator credential belongs to one account.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UserFactors {
    Table,
    TenantId,
    Credential,
    CredentialId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(UserFactors::Table)
                    // webauthn-rs `Passkey` as JSON: a public key and a counter, nothing secret.
                    .add_column(text_null(UserFactors::Credential))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(UserFactors::Table)
                    // base64url of the credential id (at most 1023 bytes by the spec).
                    .add_column(string_len_null(UserFactors::CredentialId, 1400))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_user_factors_credential")
                    .table(UserFactors::Table)
                    .col(UserFactors::TenantId)
                    .col(UserFactors::CredentialId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop().name("idx_user_factors_credential").table(UserFactors::Table).to_owned(),
            )
            .await?;
        for col in [UserFactors::CredentialId, UserFactors::Credential] {
            manager.alter_table(Table::alter().table(UserFactors::Table).drop_column(col).to_owned()).await?;
        }
        Ok(())
    }
}
