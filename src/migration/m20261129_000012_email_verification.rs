use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::m20261125_000001_create_users::Users;
use super::{timestamp_column, with_table_options};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EmailTokens {
    Table,
    Id,
    UserId,
    Purpose,
    TokenHash,
    Email,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum UsersColumn {
    EmailVerified,
}

/// `users.email_verified` (every existing address starts unverified: nobody has followed a
/// link yet) and `email_tokens`, the single-use tokens sent in emails.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(boolean(UsersColumn::EmailVerified).default(false))
                    .to_owned(),
            )
            .await?;
        let mut used_at = timestamp_column(backend, EmailTokens::UsedAt);
        used_at.null();
        manager
            .create_table(with_table_options(
                backend,
                Table::create()
                    .table(EmailTokens::Table)
                    .col(big_pk_auto(EmailTokens::Id))
                    .col(big_integer(EmailTokens::UserId))
                    .col(string_len(EmailTokens::Purpose, 16))
                    .col(string_len(EmailTokens::TokenHash, 64))
                    .col(string_len(EmailTokens::Email, 120))
                    .col(timestamp_column(backend, EmailTokens::CreatedAt))
                    .col(timestamp_column(backend, EmailTokens::ExpiresAt))
                    .col(used_at)
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_email_tokens_user_id")
                            .from(EmailTokens::Table, EmailTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    ),
            ))
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_email_tokens_token_hash")
                    .table(EmailTokens::Table)
                    .col(EmailTokens::TokenHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The per-address cap counts the tokens sent to an address lately.
        manager
            .create_index(
                Index::create()
                    .name("ix_email_tokens_email_created_at")
                    .table(EmailTokens::Table)
                    .col(EmailTokens::Email)
                    .col(EmailTokens::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_email_tokens_user_id")
                    .table(EmailTokens::Table)
                    .col(EmailTokens::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EmailTokens::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(UsersColumn::EmailVerified)
                    .to_owned(),
            )
            .await
    }
}
