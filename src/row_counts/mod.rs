//! Row counts of `users`, `posts` and `products`, maintained by the transactions that insert and
//! delete rows, so that an unfiltered list's `total` is one primary-key read instead of a
//! `COUNT(*)` that grows with the table. Increments are atomic `UPDATE … SET total = total
//! + n`, so concurrent writers (and several instances) never lose one.

pub mod cache;
pub mod model;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Statement};

pub use cache::{CachedCounts, ListCache};
use model::{Column, Entity};

pub const POSTS: &str = "posts";
pub const USERS: &str = "users";
pub const PRODUCTS: &str = "products";

/// Adds `delta` (negative for deletions) to `table`'s count; call in the writing transaction.
pub async fn adjust(db: &impl ConnectionTrait, table: &str, delta: i64) -> Result<(), DbErr> {
    if delta == 0 {
        return Ok(());
    }
    Entity::update_many()
        .col_expr(Column::Total, Expr::col(Column::Total).add(delta))
        .filter(Column::Name.eq(table))
        .exec(db)
        .await?;
    Ok(())
}

/// The counter, or `None` if its row is missing (a migration rolled back).
pub async fn find(db: &impl ConnectionTrait, name: &str) -> Result<Option<u64>, DbErr> {
    let row = Entity::find_by_id(name.to_owned()).one(db).await?;
    Ok(row.map(|r| non_negative(r.total)))
}

/// The counter, read outside any transaction (on SQLite on the calling thread; elsewhere
/// shared with the reads of it that arrive together, `read_batches::read_shared`); `None`
/// if its row is missing.
pub async fn read(db: &sea_orm::DatabaseConnection, name: &str) -> Result<Option<u64>, DbErr> {
    Ok(read_row(db, name).await?.map(|row| non_negative(row.total)))
}

/// The number of writes so far that changed what `table`'s list shows: the version its
/// cached pages are kept at (`cache`). Read as `read`; `None` if the row is missing.
pub async fn changes(db: &sea_orm::DatabaseConnection, table: &str) -> Result<Option<u64>, DbErr> {
    Ok(read_row(db, table)
        .await?
        .map(|row| non_negative(row.changes)))
}

async fn read_row(
    db: &sea_orm::DatabaseConnection,
    name: &str,
) -> Result<Option<model::Model>, DbErr> {
    use crate::reads::FromRow;
    use sea_orm::QueryTrait;
    let statement = Entity::find_by_id(name.to_owned()).build(db.get_database_backend());
    // Every list reads its counter first, and the same counter for every page: on
    // PostgreSQL and MySQL the requests that arrive together share one read of it.
    let rows = crate::read_batches::read_shared(db, statement).await?;
    match rows.first() {
        Some(row) => Ok(Some(model::Model::from_row(row)?)),
        None => Ok(None),
    }
}

fn non_negative(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// The counter as a scalar subquery, for a list to read its `total` in the statement that
/// reads its page (`pagination::read_counted_page`).
pub fn subquery(name: &str) -> Expr {
    let select = sea_orm::sea_query::Query::select()
        .column(Column::Total)
        .from(Entity)
        .and_where(Column::Name.eq(name))
        .to_owned();
    Expr::SubQuery(None, Box::new(select.into()))
}

/// The counter, `0` if its row is missing.
pub async fn get(db: &impl ConnectionTrait, table: &str) -> Result<u64, DbErr> {
    Ok(find(db, table).await?.unwrap_or(0))
}

/// Takes the posts of `user_id` off the posts count, before the user's deletion removes
/// them by cascade; call in the deleting transaction, with the user's row locked so no post
/// of theirs can be added in between. The posts are locked before their count, as a post's
/// edit locks the post before its trigger bumps the count's change counter: the other order
/// could deadlock with it.
pub async fn forget_posts_of(db: &impl ConnectionTrait, user_id: i64) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => "SELECT id FROM posts WHERE user_id = $1 FOR UPDATE",
        sea_orm::DbBackend::MySql => "SELECT id FROM posts WHERE user_id = ? FOR UPDATE",
        // SQLite's write transaction already holds the whole database.
        _ => "SELECT id FROM posts WHERE user_id = ?",
    };
    let posts = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [user_id.into()],
        ))
        .await?
        .len();
    adjust(db, POSTS, -(posts as i64)).await
}
