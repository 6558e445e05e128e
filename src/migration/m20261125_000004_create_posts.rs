use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

use super::m20261125_000001_create_users::Users;
use super::{long_text_column, timestamp_column, with_table_options};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Posts {
    Table,
    Id,
    UserId,
    Title,
    TitleKey,
    Body,
    CreatedAt,
    UpdatedAt,
}

/// The tutorial's `Post`: a user has many posts; deleting the user deletes them.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend: DbBackend = manager.get_database_backend();
        manager
            .create_table(with_table_options(
                backend,
                Table::create()
                    .table(Posts::Table)
                    .col(big_pk_auto(Posts::Id))
                    .col(big_integer(Posts::UserId))
                    .col(string_len(Posts::Title, 200))
                    // Lower-cased title: `?q=` matches on it the same way on every backend.
                    .col(string_len(Posts::TitleKey, 200))
                    .col(long_text_column(backend, Posts::Body))
                    .col(timestamp_column(backend, Posts::CreatedAt))
                    .col(timestamp_column(backend, Posts::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_posts_user_id")
                            .from(Posts::Table, Posts::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    ),
            ))
            .await?;
        // The list order (newest first, ties by id), overall and per author.
        manager
            .create_index(
                Index::create()
                    .name("ix_posts_created_at_id")
                    .table(Posts::Table)
                    .col(Posts::CreatedAt)
                    .col(Posts::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_posts_user_id_created_at_id")
                    .table(Posts::Table)
                    .col(Posts::UserId)
                    .col(Posts::CreatedAt)
                    .col(Posts::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Posts::Table).to_owned())
            .await
    }
}
