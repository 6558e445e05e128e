use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::{timestamp_column, with_table_options};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Users {
    Table,
    Id,
    Username,
    UsernameKey,
    Email,
    PasswordHash,
    Role,
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
                    .table(Users::Table)
                    // AUTOINCREMENT on SQLite: an id is never reused, so a token or link
                    // naming a deleted user can never reach a newer one.
                    .col(big_pk_auto(Users::Id))
                    .col(string_len(Users::Username, 80))
                    .col(string_len(Users::UsernameKey, 80))
                    .col(string_len(Users::Email, 120))
                    .col(string_len(Users::PasswordHash, 255))
                    .col(string_len(Users::Role, 16).default("user"))
                    .col(timestamp_column(backend, Users::CreatedAt))
                    .col(timestamp_column(backend, Users::UpdatedAt)),
            ))
            .await?;
        // Uniqueness is enforced here, so concurrent registrations cannot both win.
        // Index names contain the column they guard: the 409 message is derived from them.
        manager
            .create_index(
                Index::create()
                    .name("uq_users_email")
                    .table(Users::Table)
                    .col(Users::Email)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_users_username_key")
                    .table(Users::Table)
                    .col(Users::UsernameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The list order: newest first, ties by id.
        manager
            .create_index(
                Index::create()
                    .name("ix_users_created_at_id")
                    .table(Users::Table)
                    .col(Users::CreatedAt)
                    .col(Users::Id)
                    .to_owned(),
            )
            .await?;
        // The last-admin rule counts admins.
        manager
            .create_index(
                Index::create()
                    .name("ix_users_role")
                    .table(Users::Table)
                    .col(Users::Role)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
}
