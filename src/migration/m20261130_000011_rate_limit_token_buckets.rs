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

#[derive(DeriveIden)]
enum RateLimitBuckets {
    Table,
    Id,
    Bucket,
    TatMs,
}

/// The auth rate limit becomes a token bucket (GCRA): one row per route and client holding
/// the bucket's "theoretical arrival time", in a new table `rate_limit_buckets`, in place
/// of `rate_limits`' hit counts per fixed window. The old rows are counters that live a
/// minute at most, so they are dropped, not converted: at worst a client gets a fresh
/// allowance once, at the upgrade. (New names throughout: a SQLite connection that read the
/// schema before this migration must not find a name it thinks is taken.)
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(with_table_options(
                backend,
                Table::create()
                    .table(RateLimitBuckets::Table)
                    .col(big_pk_auto(RateLimitBuckets::Id))
                    // "<route>:<client ip>"
                    .col(string_len(RateLimitBuckets::Bucket, 128))
                    // Unix milliseconds at which the bucket is full again: each request
                    // moves it on by one refill interval (from now, if it was in the past).
                    .col(big_integer(RateLimitBuckets::TatMs)),
            ))
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_rate_limit_buckets_bucket")
                    .table(RateLimitBuckets::Table)
                    .col(RateLimitBuckets::Bucket)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_rate_limit_buckets_tat_ms")
                    .table(RateLimitBuckets::Table)
                    .col(RateLimitBuckets::TatMs)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(RateLimits::Table).to_owned())
            .await
    }

    /// Back to `rate_limits` as migration 3 made it (empty).
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(with_table_options(
                backend,
                Table::create()
                    .table(RateLimits::Table)
                    .col(big_pk_auto(RateLimits::Id))
                    .col(string_len(RateLimits::Bucket, 128))
                    .col(integer(RateLimits::Hits))
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
            .await?;
        manager
            .drop_table(Table::drop().table(RateLimitBuckets::Table).to_owned())
            .await
    }
}
