//! Action tokens: single-use secrets mailed to a user (verify an address, reset a password,
//! change an address, sign in by mail, undo a change). Only keyed hashes are stored.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ActionTokens {
    Table,
    Id,
    TenantId,
    UserId,
    Purpose,
    LinkHash,
    CodeHash,
    Payload,
    Attempts,
    ExpiresAt,
    ConsumedAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ActionTokens::Table)
                    .col(uuid(ActionTokens::Id).primary_key())
                    .col(uuid(ActionTokens::TenantId))
                    .col(uuid(ActionTokens::UserId))
                    // `verify_email`, `reset_password`, `change_email`, `email_sign_in`, ...
                    .col(string_len(ActionTokens::Purpose, 32))
                    // HMAC-SHA256 under a key derived from the master key, base64url.
                    .col(string_len(ActionTokens::LinkHash, 64).unique_key())
                    .col(string_len(ActionTokens::CodeHash, 64))
                    // What the action applies, e.g. the new address of an email change.
                    .col(json_null(ActionTokens::Payload))
                    // Wrong codes typed; the code stops working at the limit (the link does not).
                    .col(integer(ActionTokens::Attempts).default(0))
                    // Unix milliseconds, compared as integers on both backends.
                    .col(big_integer(ActionTokens::ExpiresAt))
                    // Set when used, or when a newer token of the same purpose replaced it.
                    .col(big_integer_null(ActionTokens::ConsumedAt))
                    .col(timestamp_with_time_zone(ActionTokens::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_action_tokens_user_purpose")
                    .table(ActionTokens::Table)
                    .col(ActionTokens::TenantId)
                    .col(ActionTokens::UserId)
                    .col(ActionTokens::Purpose)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ActionTokens::Table).to_owned()).await
    }
}
