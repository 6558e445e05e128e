use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A counter of writes to `products`, bumped in every transaction that inserts, updates or
/// deletes one. Filtered product counts are cached against it (`row_counts::cache`), so
/// a repeated search costs a page, not a scan, and a write anywhere invalidates every cache.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO row_counts (name, total) VALUES ('product_changes', 0)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DELETE FROM row_counts WHERE name = 'product_changes'")
            .await?;
        Ok(())
    }
}
