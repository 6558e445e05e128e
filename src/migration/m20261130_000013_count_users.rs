use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A maintained count of `users`, as `posts` and `products` have: `GET /users`' total is
/// one primary-key read instead of a `COUNT(*)` over every user on every request.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO row_counts (name, total) SELECT 'users', COUNT(*) FROM users",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DELETE FROM row_counts WHERE name = 'users'")
            .await?;
        Ok(())
    }
}
