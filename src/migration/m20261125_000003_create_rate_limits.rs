use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::with_table_options;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RateLimits {
    Table,
    Id,
    Bucket,
    Hits,
    ExpiresAt,
}

/// Counters for rate limits, in the database so that every larch instance sharing it
/// counts together.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(with_table_options(
                backend,
                Table::create()
                    .table(RateLimits::Table)
                    .col(big_pk_auto(RateLimits::Id))
                    // "<limit>:<client ip>:<window number>"
                    .col(string_len(RateLimits::Bucket, 128))
                    .col(integer(RateLimits::Hits))
                    // Unix seconds at which the window ends.
                    .col(big_integer(RateLimits::ExpiresAt)),
            ))
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_rate_limits_bucket")
                    .table(RateLimits::Table)
                    .col(RateLimits::Bucket)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_rate_limits_expires_at")
                    .table(RateLimits::Table)
                    .col(RateLimits::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RateLimits::Table).to_owned())
            .await
    }
}
