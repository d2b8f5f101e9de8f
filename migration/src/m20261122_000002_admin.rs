//! Client apps, login providers, the audit log and idempotency records for the admin API.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    Id,
    TenantId,
    ClientId,
    Name,
    ClientType,
    SecretHash,
    RedirectUris,
    PostLogoutRedirectUris,
    GrantTypes,
    Scopes,
    AccessTokenTtlSecs,
    RefreshTokenTtlSecs,
    Enabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Providers {
    Table,
    Id,
    TenantId,
    ProviderId,
    Kind,
    DisplayName,
    Enabled,
    Position,
    Config,
    SecretEnc,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    TenantId,
    EventType,
    ActorId,
    ActorTenant,
    UserId,
    Target,
    Outcome,
    Ip,
    UserAgent,
    Details,
    CreatedAt,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    Id,
    Scope,
    Key,
    Fingerprint,
    Status,
    Response,
    CreatedAt,
}

fn tenant_fk(table: impl IntoIden + 'static, column: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, column)
        .to(Tenants::Table, Tenants::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Clients::Table)
                    .col(uuid(Clients::Id).primary_key())
                    .col(uuid(Clients::TenantId))
                    .col(string_len(Clients::ClientId, 128))
                    .col(string_len(Clients::Name, 200))
                    .col(string_len(Clients::ClientType, 16))
                    .col(string_len_null(Clients::SecretHash, 128))
                    .col(json(Clients::RedirectUris))
                    .col(json(Clients::PostLogoutRedirectUris))
                    .col(json(Clients::GrantTypes))
                    .col(json(Clients::Scopes))
                    .col(big_integer_null(Clients::AccessTokenTtlSecs))
                    .col(big_integer_null(Clients::RefreshTokenTtlSecs))
                    .col(boolean(Clients::Enabled).default(true))
                    .col(timestamp_with_time_zone(Clients::CreatedAt))
                    .col(timestamp_with_time_zone(Clients::UpdatedAt))
                    .foreign_key(&mut tenant_fk(Clients::Table, Clients::TenantId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_clients_tenant_client_id")
                    .table(Clients::Table)
                    .col(Clients::TenantId)
                    .col(Clients::ClientId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Providers::Table)
                    .col(uuid(Providers::Id).primary_key())
                    .col(uuid(Providers::TenantId))
                    .col(string_len(Providers::ProviderId, 64))
                    .col(string_len(Providers::Kind, 16))
                    .col(string_len(Providers::DisplayName, 200))
                    .col(boolean(Providers::Enabled).default(true))
                    .col(integer(Providers::Position).default(0))
                    .col(json(Providers::Config))
                    .col(blob_null(Providers::SecretEnc))
                    .col(timestamp_with_time_zone(Providers::CreatedAt))
                    .col(timestamp_with_time_zone(Providers::UpdatedAt))
                    .foreign_key(&mut tenant_fk(Providers::Table, Providers::TenantId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_providers_tenant_provider_id")
                    .table(Providers::Table)
                    .col(Providers::TenantId)
                    .col(Providers::ProviderId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(uuid(AuditEvents::Id).primary_key())
                    .col(uuid(AuditEvents::TenantId))
                    .col(string_len(AuditEvents::EventType, 64))
                    .col(uuid_null(AuditEvents::ActorId))
                    .col(string_len_null(AuditEvents::ActorTenant, 63))
                    .col(uuid_null(AuditEvents::UserId))
                    .col(string_len_null(AuditEvents::Target, 200))
                    .col(string_len(AuditEvents::Outcome, 16))
                    .col(string_len_null(AuditEvents::Ip, 64))
                    .col(string_len_null(AuditEvents::UserAgent, 512))
                    .col(json(AuditEvents::Details))
                    .col(timestamp_with_time_zone(AuditEvents::CreatedAt))
                    .foreign_key(&mut tenant_fk(AuditEvents::Table, AuditEvents::TenantId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_events_tenant_id")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::TenantId)
                    .col(AuditEvents::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(uuid(IdempotencyKeys::Id).primary_key())
                    .col(string_len(IdempotencyKeys::Scope, 200))
                    .col(string_len(IdempotencyKeys::Key, 200))
                    .col(string_len(IdempotencyKeys::Fingerprint, 64))
                    .col(integer_null(IdempotencyKeys::Status))
                    .col(blob_null(IdempotencyKeys::Response))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_idempotency_scope_key")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::Scope)
                    .col(IdempotencyKeys::Key)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            IdempotencyKeys::Table.into_iden(),
            AuditEvents::Table.into_iden(),
            Providers::Table.into_iden(),
            Clients::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
