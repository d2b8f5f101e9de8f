//! OpenID Connect: sessions get the scope they grant and a parent (the browser SSO session
//! that a client's grant came from), so ending the SSO session ends its grants.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sessions {
    Table,
    ParentId,
    Scope,
    AuthTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite allows one column per ALTER TABLE.
        for col in [
            uuid_null(Sessions::ParentId),
            string_len_null(Sessions::Scope, 1024),
            timestamp_with_time_zone_null(Sessions::AuthTime),
        ] {
            let mut col = col;
            manager
                .alter_table(Table::alter().table(Sessions::Table).add_column(&mut col).to_owned())
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_parent")
                    .table(Sessions::Table)
                    .col(Sessions::ParentId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name("idx_sessions_parent").table(Sessions::Table).to_owned())
            .await?;
        for col in [Sessions::ParentId, Sessions::Scope, Sessions::AuthTime] {
            manager.alter_table(Table::alter().table(Sessions::Table).drop_column(col).to_owned()).await?;
        }
        Ok(())
    }
}
