//! A client app can require a second factor of every sign-in it starts, as if each of its
//! authorization requests asked for `acr_values=urn:gatehouse:loa:2fa`.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    RequireSecondFactor,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(boolean(Clients::RequireSecondFactor).default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(Clients::Table).drop_column(Clients::RequireSecondFactor).to_owned(),
            )
            .await
    }
}
