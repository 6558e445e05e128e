use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

use super::m20261125_000001_create_users::Users;
use super::{timestamp_column, with_table_options};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    FamilyId,
    UserId,
    CreatedAt,
    LastUsedAt,
    EndedAt,
    Ip,
    UserAgent,
}

/// Sessions: one row per login, tied to its refresh-token family. Each family that already
/// has refresh tokens becomes a session, so nobody logged in before the upgrade is logged
/// out by it (their access tokens, which name no session, are refused once: a refresh gives
/// new ones).
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let mut ended_at = timestamp_column(backend, Sessions::EndedAt);
        ended_at.null();
        manager
            .create_table(with_table_options(
                backend,
                Table::create()
                    .table(Sessions::Table)
                    .col(big_pk_auto(Sessions::Id))
                    .col(string_len(Sessions::FamilyId, 36))
                    .col(big_integer(Sessions::UserId))
                    .col(timestamp_column(backend, Sessions::CreatedAt))
                    .col(timestamp_column(backend, Sessions::LastUsedAt))
                    .col(ended_at)
                    // An IPv6 address in text is at most 45 characters.
                    .col(string_len_null(Sessions::Ip, 45))
                    .col(string_len_null(Sessions::UserAgent, 256))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sessions_user_id")
                            .from(Sessions::Table, Sessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    ),
            ))
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_sessions_family_id")
                    .table(Sessions::Table)
                    .col(Sessions::FamilyId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // A user's sessions, newest first.
        manager
            .create_index(
                Index::create()
                    .name("ix_sessions_user_id_created_at")
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .col(Sessions::CreatedAt)
                    .to_owned(),
            )
            .await?;
        // Each existing family becomes a session: created at its first token, last used at
        // its newest, ended if its newest token is revoked.
        let db = manager.get_connection();
        let sql = "INSERT INTO sessions (family_id, user_id, created_at, last_used_at, ended_at) \
             SELECT family_id, MIN(user_id), MIN(created_at), MAX(created_at), \
             CASE WHEN COUNT(*) = COUNT(revoked_at) THEN MAX(revoked_at) END \
             FROM refresh_tokens WHERE user_id IN (SELECT id FROM users) GROUP BY family_id";
        db.execute_raw(Statement::from_string(backend, sql)).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Sessions::Table).to_owned())
            .await
    }
}
