//! The outbox: outgoing mail written in the same transaction as the change that causes it and
//! delivered by a worker with retries, so nothing is lost on a crash or an SMTP outage and
//! several instances deliver each row once.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    TenantId,
    Kind,
    Recipient,
    SenderName,
    ReplyTo,
    Subject,
    BodyText,
    BodyHtml,
    Status,
    Attempts,
    NextAttemptAt,
    ClaimedBy,
    ClaimedUntil,
    LastError,
    CreatedAt,
    SentAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(uuid(Outbox::Id).primary_key())
                    .col(uuid(Outbox::TenantId))
                    // `verify_email`, `password_reset`, `password_changed`, ...
                    .col(string_len(Outbox::Kind, 64))
                    .col(string_len(Outbox::Recipient, 320))
                    .col(string_len_null(Outbox::SenderName, 200))
                    .col(string_len_null(Outbox::ReplyTo, 320))
                    .col(string_len(Outbox::Subject, 500))
                    // Bodies may carry a single-use token: sealed with the master key (AES-GCM,
                    // bound to the row id), emptied once sent.
                    .col(blob(Outbox::BodyText))
                    .col(blob(Outbox::BodyHtml))
                    // `pending`, `sending`, `sent`, `failed`
                    .col(string_len(Outbox::Status, 16))
                    .col(integer(Outbox::Attempts).default(0))
                    // Unix milliseconds: the same on both backends, compared as integers.
                    .col(big_integer(Outbox::NextAttemptAt))
                    .col(string_len_null(Outbox::ClaimedBy, 64))
                    .col(big_integer_null(Outbox::ClaimedUntil))
                    .col(string_len_null(Outbox::LastError, 500))
                    .col(timestamp_with_time_zone(Outbox::CreatedAt))
                    .col(timestamp_with_time_zone_null(Outbox::SentAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_outbox_due")
                    .table(Outbox::Table)
                    .col(Outbox::Status)
                    .col(Outbox::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_outbox_tenant_created")
                    .table(Outbox::Table)
                    .col(Outbox::TenantId)
                    .col(Outbox::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Outbox::Table).to_owned()).await
    }
}
