//! Mail templates: a tenant admin's override of the subject, plain text and HTML of one mail
//! kind in one locale. Rendered sandboxed (`account::templates`); absent rows mean the
//! built-in wording.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum MailTemplates {
    Table,
    Id,
    TenantId,
    Kind,
    Locale,
    Subject,
    BodyText,
    BodyHtml,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MailTemplates::Table)
                    .col(uuid(MailTemplates::Id).primary_key())
                    .col(uuid(MailTemplates::TenantId))
                    // `verify_email`, `reset_password`, `change_email`, `email_sign_in`, ...
                    .col(string_len(MailTemplates::Kind, 32))
                    // A language tag: `en`, `de`, `pt-BR`.
                    .col(string_len(MailTemplates::Locale, 35))
                    .col(text(MailTemplates::Subject))
                    .col(text(MailTemplates::BodyText))
                    .col(text(MailTemplates::BodyHtml))
                    .col(timestamp_with_time_zone(MailTemplates::CreatedAt))
                    .col(timestamp_with_time_zone(MailTemplates::UpdatedAt))
                    // They go with their tenant.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_mail_templates_tenant")
                            .from(MailTemplates::Table, MailTemplates::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_mail_templates_tenant_kind_locale")
                    .table(MailTemplates::Table)
                    .col(MailTemplates::TenantId)
                    .col(MailTemplates::Kind)
                    .col(MailTemplates::Locale)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(MailTemplates::Table).to_owned()).await
    }
}
