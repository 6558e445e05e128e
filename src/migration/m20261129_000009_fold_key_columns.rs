use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::text::{FOLD_GROWTH, fold_case};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Longest title or product name, in characters.
const TEXT_MAX_LENGTH: usize = 200;
/// Rows read and rewritten per statement.
const BATCH: i64 = 1000;

/// Key columns sized for the folded form of any value of allowed length (case folding makes
/// one character into up to three: a title of 200 `İ` has a 400-character key, which the
/// 200-character column refused on PostgreSQL and MySQL), and every key recomputed with full
/// case folding (`Σ`, `σ` and `ς` alike), the same function searches fold their terms with.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let key_length = (FOLD_GROWTH * TEXT_MAX_LENGTH) as u32;
        // SQLite does not enforce a VARCHAR's length, so its columns already hold any key.
        if manager.get_database_backend() != DbBackend::Sqlite {
            for (table, column) in [("posts", "title_key"), ("products", "name_key")] {
                manager
                    .alter_table(
                        Table::alter()
                            .table(Alias::new(table))
                            .modify_column(
                                ColumnDef::new(Alias::new(column))
                                    .string_len(key_length)
                                    .not_null(),
                            )
                            .to_owned(),
                    )
                    .await?;
            }
        }
        refold(manager, "posts", "title", "title_key").await?;
        refold(manager, "products", "name", "name_key").await
    }

    /// Keeps the wider columns: a folded key longer than 200 characters would not fit back.
    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

/// Rewrites `key` as `fold_case(text)` wherever it differs, in batches by id.
async fn refold(
    manager: &SchemaManager<'_>,
    table: &str,
    text: &str,
    key: &str,
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let backend = manager.get_database_backend();
    let placeholders = |n: usize| match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    };
    let select = format!(
        "SELECT id, {text}, {key} FROM {table} WHERE id > {} ORDER BY id LIMIT {BATCH}",
        placeholders(1)
    );
    let update = format!(
        "UPDATE {table} SET {key} = {} WHERE id = {}",
        placeholders(1),
        placeholders(2)
    );
    let mut after = 0i64;
    loop {
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                &select,
                [after.into()],
            ))
            .await?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.try_get("", "id")?;
        for row in &rows {
            let id: i64 = row.try_get("", "id")?;
            let value: String = row.try_get("", text)?;
            let stored: String = row.try_get("", key)?;
            let folded = fold_case(&value);
            if folded != stored {
                db.execute_raw(Statement::from_sql_and_values(
                    backend,
                    &update,
                    [folded.into(), id.into()],
                ))
                .await?;
            }
        }
    }
}
