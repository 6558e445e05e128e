//! The import's queries on larch's database: the rows already there in a batch's id range,
//! who holds a unique value, multi-row inserts with the Flask ids, and the id sequences.

use std::collections::HashMap;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter,
    QuerySelect, Set, Statement, Value,
};

use super::domain::{Post, Product, User};
use crate::posts::model::{self as post, Entity as Posts};
use crate::products::model::{self as product, Entity as Products};
use crate::row_counts;
use crate::users::domain::Role;
use crate::users::model::{self as user, Entity as Users};

/// Rows per INSERT statement: well under every backend's limit on bound parameters.
const ROWS_PER_INSERT: usize = 500;
/// Bytes of text per INSERT statement, at most (about): a post's body may be 400 KB, and
/// MySQL refuses a statement larger than `max_allowed_packet` (16 MiB by default).
const BYTES_PER_INSERT: usize = 4 << 20;

/// `rows` in runs of at most `ROWS_PER_INSERT` rows and about `BYTES_PER_INSERT` bytes
/// (a single larger row is a run of its own).
fn chunks<'a, T>(rows: &'a [&'a T], size: impl Fn(&T) -> usize) -> Vec<&'a [&'a T]> {
    let mut runs = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, row) in rows.iter().enumerate() {
        let row_bytes = size(row);
        if i > start && (i - start == ROWS_PER_INSERT || bytes + row_bytes > BYTES_PER_INSERT) {
            runs.push(&rows[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += row_bytes;
    }
    if start < rows.len() {
        runs.push(&rows[start..]);
    }
    runs
}

pub async fn users_between(
    db: &impl ConnectionTrait,
    first: i64,
    last: i64,
) -> Result<HashMap<i64, user::Model>, DbErr> {
    let rows = Users::find()
        .filter(user::Column::Id.between(first, last))
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|row| (row.id, row)).collect())
}

/// Who holds these username keys and emails: `(id, username_key, email)`.
pub async fn user_key_holders(
    db: &impl ConnectionTrait,
    keys: Vec<String>,
    emails: Vec<String>,
) -> Result<Vec<(i64, String, String)>, DbErr> {
    if keys.is_empty() && emails.is_empty() {
        return Ok(Vec::new());
    }
    Users::find()
        .select_only()
        .column(user::Column::Id)
        .column(user::Column::UsernameKey)
        .column(user::Column::Email)
        .filter(
            user::Column::UsernameKey
                .is_in(keys)
                .or(user::Column::Email.is_in(emails)),
        )
        .into_tuple()
        .all(db)
        .await
}

pub async fn insert_users(db: &impl ConnectionTrait, rows: &[&User]) -> Result<(), DbErr> {
    for chunk in chunks(rows, |_| 0) {
        let models = chunk.iter().map(|u| user::ActiveModel {
            id: Set(u.id),
            username: Set(u.username.as_str().to_owned()),
            username_key: Set(u.username.key()),
            email: Set(u.email.as_str().to_owned()),
            password_hash: Set(u.password_hash.clone()),
            role: Set(Role::User.as_str().to_owned()),
            // Nobody has followed a link sent by larch yet.
            email_verified: Set(false),
            created_at: Set(u.created_at),
            updated_at: Set(u.updated_at),
        });
        Users::insert_many(models)
            .exec_without_returning(db)
            .await?;
    }
    row_counts::adjust(db, row_counts::USERS, rows.len() as i64).await
}

pub async fn posts_between(
    db: &impl ConnectionTrait,
    first: i64,
    last: i64,
) -> Result<HashMap<i64, post::Model>, DbErr> {
    let rows = Posts::find()
        .filter(post::Column::Id.between(first, last))
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|row| (row.id, row)).collect())
}

/// Inserts posts and counts them in `row_counts`, in the caller's transaction.
pub async fn insert_posts(db: &impl ConnectionTrait, rows: &[&Post]) -> Result<(), DbErr> {
    for chunk in chunks(rows, |p| p.title.as_str().len() * 2 + p.body.as_str().len()) {
        let models = chunk.iter().map(|p| post::ActiveModel {
            id: Set(p.id),
            user_id: Set(p.user_id),
            title: Set(p.title.as_str().to_owned()),
            title_key: Set(p.title.key()),
            body: Set(p.body.as_str().to_owned()),
            created_at: Set(p.created_at),
            updated_at: Set(p.updated_at),
        });
        Posts::insert_many(models)
            .exec_without_returning(db)
            .await?;
    }
    row_counts::adjust(db, row_counts::POSTS, rows.len() as i64).await
}

pub async fn products_between(
    db: &impl ConnectionTrait,
    first: i64,
    last: i64,
) -> Result<HashMap<i64, product::Model>, DbErr> {
    let rows = Products::find()
        .filter(product::Column::Id.between(first, last))
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|row| (row.id, row)).collect())
}

/// Who holds these skus: `(id, sku)`.
pub async fn sku_holders(
    db: &impl ConnectionTrait,
    skus: Vec<String>,
) -> Result<Vec<(i64, String)>, DbErr> {
    if skus.is_empty() {
        return Ok(Vec::new());
    }
    Products::find()
        .select_only()
        .column(product::Column::Id)
        .column(product::Column::Sku)
        .filter(product::Column::Sku.is_in(skus))
        .into_tuple()
        .all(db)
        .await
}

/// Inserts products, counts them, and bumps the products' change counter (which ends the
/// cached search totals of every running instance).
pub async fn insert_products(db: &impl ConnectionTrait, rows: &[&Product]) -> Result<(), DbErr> {
    for chunk in chunks(rows, |p| {
        p.name.as_str().len() * 2 + p.description.as_str().len()
    }) {
        let models = chunk.iter().map(|p| product::ActiveModel {
            id: Set(p.id),
            name: Set(p.name.as_str().to_owned()),
            name_key: Set(p.name.key()),
            description: Set(p.description.as_str().to_owned()),
            price_cents: Set(p.price.cents()),
            sku: Set(p.sku.as_ref().map(|sku| sku.as_str().to_owned())),
            stock: Set(p.stock),
            created_at: Set(p.created_at),
            updated_at: Set(p.updated_at),
        });
        Products::insert_many(models)
            .exec_without_returning(db)
            .await?;
    }
    row_counts::adjust(db, row_counts::PRODUCTS, rows.len() as i64).await
}

/// Makes a user an admin.
pub async fn promote(db: &DatabaseConnection, id: i64) -> Result<(), DbErr> {
    Users::update_many()
        .col_expr(user::Column::Role, Expr::value(Role::Admin.as_str()))
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The tables whose ids the import sets.
pub const TABLES: [&str; 3] = ["users", "posts", "products"];

/// The highest id in `table` (0 when empty).
pub async fn max_id(db: &DatabaseConnection, table: &'static str) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COALESCE(MAX(id), 0) AS n FROM {table}"),
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    })
}

/// Moves `table`'s id generator so that the next id it hands out is above `at_least`, and
/// never back: PostgreSQL's sequence, MySQL's `AUTO_INCREMENT`, SQLite's `sqlite_sequence`.
pub async fn raise_next_id(
    db: &DatabaseConnection,
    table: &'static str,
    at_least: i64,
) -> Result<(), DbErr> {
    if at_least < 1 {
        return Ok(());
    }
    let backend = db.get_database_backend();
    let run = |sql: &str, values: Vec<Value>| Statement::from_sql_and_values(backend, sql, values);
    match backend {
        DbBackend::Postgres => {
            let Some(row) = db
                .query_one_raw(run(
                    "SELECT pg_get_serial_sequence($1, 'id') AS seq",
                    vec![table.into()],
                ))
                .await?
            else {
                return Ok(());
            };
            let Some(sequence): Option<String> = row.try_get("", "seq")? else {
                return Ok(());
            };
            // The next value is `last_value + 1` once called, `last_value` before.
            let next = db
                .query_one_raw(Statement::from_string(
                    backend,
                    format!(
                        "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END AS next \
                         FROM {sequence}"
                    ),
                ))
                .await?
                .map(|row| row.try_get::<i64>("", "next"))
                .transpose()?
                .unwrap_or(1);
            if next <= at_least {
                db.query_one_raw(run(
                    "SELECT setval(CAST($1 AS regclass), $2, true)",
                    vec![sequence.into(), at_least.into()],
                ))
                .await?;
            }
        }
        DbBackend::MySql => {
            // MySQL 8 caches table statistics (the counter among them); MariaDB has no such
            // setting and refuses it, which is fine.
            let _ = db
                .execute_unprepared("SET SESSION information_schema_stats_expiry = 0")
                .await;
            let next: Option<i64> = db
                .query_one_raw(run(
                    "SELECT CAST(AUTO_INCREMENT AS SIGNED) AS next FROM information_schema.tables \
                     WHERE table_schema = DATABASE() AND table_name = ?",
                    vec![table.into()],
                ))
                .await?
                .map(|row| row.try_get::<Option<i64>>("", "next"))
                .transpose()?
                .flatten();
            if next.unwrap_or(1) <= at_least {
                db.execute_unprepared(&format!(
                    "ALTER TABLE {table} AUTO_INCREMENT = {}",
                    at_least + 1
                ))
                .await?;
            }
        }
        _ => {
            db.execute_raw(run(
                "UPDATE sqlite_sequence SET seq = ? WHERE name = ? AND seq < ?",
                vec![at_least.into(), table.into(), at_least.into()],
            ))
            .await?;
            db.execute_raw(run(
                "INSERT INTO sqlite_sequence (name, seq) SELECT ?, ? \
                 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = ?)",
                vec![table.into(), at_least.into(), table.into()],
            ))
            .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_are_bounded_in_rows_and_bytes() {
        let sizes: Vec<usize> = vec![10; 1200];
        let rows: Vec<&usize> = sizes.iter().collect();
        let runs = chunks(&rows, |n| *n);
        assert_eq!(
            runs.iter().map(|r| r.len()).collect::<Vec<_>>(),
            [500, 500, 200]
        );
        let big = [
            BYTES_PER_INSERT / 2 + 1,
            BYTES_PER_INSERT / 2 + 1,
            BYTES_PER_INSERT * 2,
            1,
        ];
        let rows: Vec<&usize> = big.iter().collect();
        let runs = chunks(&rows, |n| *n);
        assert_eq!(
            runs.iter().map(|r| r.len()).collect::<Vec<_>>(),
            [1, 1, 1, 1]
        );
        assert!(chunks::<usize>(&[], |n| *n).is_empty());
    }
}
