use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::with_table_options;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RowCounts {
    Table,
    Name,
    Total,
}

/// Row counts of the big tables, kept in the transactions that insert and delete, so that a
/// list's `total` is one primary-key read instead of a `COUNT(*)` over a million rows.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(with_table_options(
                backend,
                Table::create()
                    .table(RowCounts::Table)
                    .col(string_len(RowCounts::Name, 64).primary_key())
                    .col(big_integer(RowCounts::Total)),
            ))
            .await?;
        // Start from the rows already there.
        let connection = manager.get_connection();
        for table in ["posts", "products"] {
            connection
                .execute_unprepared(&format!(
                    "INSERT INTO row_counts (name, total) SELECT '{table}', COUNT(*) FROM {table}"
                ))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RowCounts::Table).to_owned())
            .await
    }
}
