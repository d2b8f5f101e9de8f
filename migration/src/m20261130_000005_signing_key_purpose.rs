//! Each signing key signs one kind of token (RFC 8725 §3.12): `access` or `id_token`.
//! RS256 keys created beside a key of another algorithm were the ID-token keys; a tenant whose
//! only active key is RS256 used it for both, keeps it for access tokens and gets a separate
//! ID-token key when it next loads.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Purpose,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SigningKeys::Table)
                    .add_column(string_len(SigningKeys::Purpose, 16).default("access"))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE signing_keys SET purpose = 'id_token' WHERE algorithm = 'RS256' AND EXISTS \
                 (SELECT 1 FROM signing_keys o WHERE o.tenant_id = signing_keys.tenant_id \
                 AND o.status = signing_keys.status AND o.algorithm <> 'RS256')",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(SigningKeys::Table).drop_column(SigningKeys::Purpose).to_owned(),
            )
            .await
    }
}
