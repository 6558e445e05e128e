use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::{long_text_column, timestamp_column, with_table_options};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Products {
    Table,
    Id,
    Name,
    NameKey,
    Description,
    PriceCents,
    Sku,
    Stock,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(with_table_options(
                backend,
                Table::create()
                    .table(Products::Table)
                    .col(big_pk_auto(Products::Id))
                    .col(string_len(Products::Name, 200))
                    // Lower-cased name, for `?q=` and the name sort alike on every backend.
                    .col(string_len(Products::NameKey, 200))
                    .col(long_text_column(backend, Products::Description))
                    // Money as whole cents: exact, no floating point.
                    .col(big_integer(Products::PriceCents))
                    .col(string_len_null(Products::Sku, 64))
                    .col(big_integer(Products::Stock).default(0))
                    .col(timestamp_column(backend, Products::CreatedAt))
                    .col(timestamp_column(backend, Products::UpdatedAt)),
            ))
            .await?;
        // `sku` is optional but unique when given (NULLs never collide on any backend).
        manager
            .create_index(
                Index::create()
                    .name("uq_products_sku")
                    .table(Products::Table)
                    .col(Products::Sku)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // One index per sort order, each ending in id for the tie-break.
        for (name, column) in [
            ("ix_products_created_at_id", Products::CreatedAt),
            ("ix_products_price_cents_id", Products::PriceCents),
            ("ix_products_name_key_id", Products::NameKey),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Products::Table)
                        .col(column)
                        .col(Products::Id)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Products::Table).to_owned())
            .await
    }
}
