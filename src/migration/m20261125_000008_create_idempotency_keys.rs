use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::m20261125_000001_create_users::Users;
use super::{long_text_column, timestamp_column, with_table_options};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    Id,
    UserId,
    IdempotencyKey,
    RequestHash,
    ResponseStatus,
    ResponseBody,
    CreatedAt,
    ExpiresAt,
}

/// The first response to each `Idempotency-Key`, per user, replayed to retries until it
/// expires (`idempotency` module).
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(with_table_options(
                backend,
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(big_pk_auto(IdempotencyKeys::Id))
                    .col(big_integer(IdempotencyKeys::UserId))
                    .col(string_len(IdempotencyKeys::IdempotencyKey, 255))
                    // SHA-256 of method, path and the canonical JSON body, hex.
                    .col(string_len(IdempotencyKeys::RequestHash, 64))
                    .col(small_integer(IdempotencyKeys::ResponseStatus))
                    .col(long_text_column(backend, IdempotencyKeys::ResponseBody).not_null())
                    .col(timestamp_column(backend, IdempotencyKeys::CreatedAt))
                    .col(timestamp_column(backend, IdempotencyKeys::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_idempotency_keys_user_id")
                            .from(IdempotencyKeys::Table, IdempotencyKeys::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    ),
            ))
            .await?;
        // One stored response per user and key; concurrent first uses race on this index.
        manager
            .create_index(
                Index::create()
                    .name("uq_idempotency_keys_user_id_key")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::UserId)
                    .col(IdempotencyKeys::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_idempotency_keys_expires_at")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned())
            .await
    }
}
