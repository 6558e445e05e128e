//! Reads made outside any transaction — the caller of every authenticated request, users,
//! posts and products by id, and every list — in one form for every backend: the same
//! statement, and rows mapped by one `FromRow` per type. On a SQLite file they run on the
//! calling thread (`sqlite_reader`); on PostgreSQL and MySQL on connections held outside
//! sqlx's pool (`held_reads`), or through the pool when none is free.

use chrono::{DateTime, Utc};
use rusqlite::types::Value as Sql;
use sea_orm::sqlx;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryResult, RuntimeErr, Statement,
    TryGetable, Value,
};

use crate::sqlite_reader::{SqliteRow, parse_time};

/// A row from either path.
pub enum ReadRow {
    Pool(QueryResult),
    Sqlite(SqliteRow),
}

impl ReadRow {
    /// The value of `column`, decoded as sqlx would have.
    pub fn get<T: ReadValue>(&self, column: &str) -> Result<T, DbErr> {
        match self {
            ReadRow::Pool(row) => row.try_get("", column),
            ReadRow::Sqlite(row) => {
                let value = row
                    .value(column)
                    .ok_or_else(|| DbErr::Type(format!("no column {column}")))?;
                T::from_sqlite(value).map_err(|e| DbErr::Type(format!("column {column}: {e}")))
            }
        }
    }
}

/// A type a column decodes to, from sqlx (`TryGetable`) or from SQLite's own value.
pub trait ReadValue: TryGetable + Sized {
    fn from_sqlite(value: &Sql) -> Result<Self, String>;
}

impl ReadValue for i64 {
    fn from_sqlite(value: &Sql) -> Result<Self, String> {
        match value {
            Sql::Integer(n) => Ok(*n),
            other => Err(format!("expected an integer, found {other:?}")),
        }
    }
}

impl ReadValue for bool {
    fn from_sqlite(value: &Sql) -> Result<Self, String> {
        i64::from_sqlite(value).map(|n| n != 0)
    }
}

impl ReadValue for String {
    fn from_sqlite(value: &Sql) -> Result<Self, String> {
        match value {
            Sql::Text(text) => Ok(text.clone()),
            other => Err(format!("expected text, found {other:?}")),
        }
    }
}

impl ReadValue for DateTime<Utc> {
    fn from_sqlite(value: &Sql) -> Result<Self, String> {
        match value {
            Sql::Text(text) => parse_time(text),
            other => Err(format!("expected a timestamp, found {other:?}")),
        }
    }
}

impl<T: ReadValue> ReadValue for Option<T>
where
    Option<T>: TryGetable,
{
    fn from_sqlite(value: &Sql) -> Result<Self, String> {
        match value {
            Sql::Null => Ok(None),
            other => T::from_sqlite(other).map(Some),
        }
    }
}

/// A type made from a row of a read; written once, for every backend.
pub trait FromRow: Sized {
    fn from_row(row: &ReadRow) -> Result<Self, DbErr>;
}

/// Each of `rows` as a `T`.
pub fn models<T: FromRow>(rows: &[ReadRow]) -> Result<Vec<T>, DbErr> {
    rows.iter().map(T::from_row).collect()
}

/// Reads at most one row by id with plain sqlx on sea-orm's own pool. The by-id reads that
/// every authenticated request and every `GET /…/{id}` makes skip sea-orm's query builder and
/// connection layer here: measured, that is most of their cost (see docs/benchmarks.md).
/// `sql` takes its one parameter as `?` and names its columns: a `SELECT *` prepared on a
/// pooled PostgreSQL connection fails once a migration adds a column.
pub async fn fetch_optional_by_id(
    db: &DatabaseConnection,
    sql: &'static str,
    id: i64,
) -> Result<Option<ReadRow>, DbErr> {
    fetch_optional_by_ids(db, sql, &[id]).await
}

/// As `fetch_optional_by_id`, with one `?` per id, bound in order.
pub async fn fetch_optional_by_ids(
    db: &DatabaseConnection,
    sql: &'static str,
    ids: &[i64],
) -> Result<Option<ReadRow>, DbErr> {
    fn bind_all<'q, DB: sqlx::Database>(
        mut query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>,
        ids: &[i64],
    ) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
    where
        i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        for id in ids {
            query = query.bind(*id);
        }
        query
    }
    // Acquire first, as sea-orm does, so that failing to get or open a connection is a
    // connection error (`503`) and only the statement's own failure a query error.
    let row = match db.get_database_backend() {
        DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            let values: Vec<Value> = ids.iter().map(|id| Value::BigInt(Some(*id))).collect();
            if let Some(read) = crate::sqlite_reader::query(pool, sql, &values, 1) {
                return read.map(|rows| rows.into_iter().next().map(ReadRow::Sqlite));
            }
            let mut conn = db
                .get_sqlite_connection_pool()
                .acquire()
                .await
                .map_err(crate::db::acquire_error)?;
            bind_all(sqlx::query(sql), ids)
                .fetch_optional(&mut *conn)
                .await
                .map(|row| row.map(QueryResult::from))
        }
        DbBackend::Postgres => {
            let sql = crate::db::numbered(sql);
            if let Some(read) = held_read_by_ids(db, &sql, ids).await {
                return read;
            }
            let mut conn = db
                .get_postgres_connection_pool()
                .acquire()
                .await
                .map_err(crate::db::acquire_error)?;
            bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), ids)
                .fetch_optional(&mut *conn)
                .await
                .map(|row| row.map(QueryResult::from))
        }
        DbBackend::MySql => {
            if let Some(read) = held_read_by_ids(db, sql, ids).await {
                return read;
            }
            let mut conn = db
                .get_mysql_connection_pool()
                .acquire()
                .await
                .map_err(crate::db::acquire_error)?;
            bind_all(sqlx::query(sql), ids)
                .fetch_optional(&mut *conn)
                .await
                .map(|row| row.map(QueryResult::from))
        }
        other => return Err(DbErr::Custom(format!("unsupported backend {other:?}"))),
    };
    row.map(|row| row.map(ReadRow::Pool)).map_err(query_error)
}

fn query_error(error: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(std::sync::Arc::new(error)))
}

/// `fetch_optional_by_ids`' read on a held connection (`held_reads`), or `None` when it is
/// to take the pool's way.
async fn held_read_by_ids(
    db: &DatabaseConnection,
    sql: &str,
    ids: &[i64],
) -> Option<Result<Option<ReadRow>, DbErr>> {
    let values = ids.iter().map(|id| Value::BigInt(Some(*id))).collect();
    let statement =
        Statement::from_sql_and_values(db.get_database_backend(), sql, sea_orm::Values(values));
    let read = held_read(db, &statement, 1).await?;
    Some(read.map(|rows| rows.into_iter().next()))
}

/// The first `at_most` rows of `sql` on a leased connection, given back once the read is
/// whole.
async fn read_on<DB>(
    mut lease: crate::held_reads::Lease<DB>,
    sql: sqlx::AssertSqlSafe<&str>,
    values: sea_query_sqlx::SqlxValues,
    at_most: usize,
) -> Result<Vec<QueryResult>, sqlx::Error>
where
    DB: sqlx::Database,
    sea_query_sqlx::SqlxValues: sqlx::IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    QueryResult: From<DB::Row>,
{
    // All the rows, not a prefix: a connection given back must have read its answer to the
    // end.
    let rows = sqlx::query_with(sql, values)
        .fetch_all(lease.conn())
        .await?;
    lease.give_back();
    Ok(rows
        .into_iter()
        .take(at_most)
        .map(QueryResult::from)
        .collect())
}

/// The rows of `statement` on a held connection (`held_reads`), or `None` when the read is
/// to take the pool's way: when it cannot get one, or when the statement is a search. A
/// held PostgreSQL connection plans each statement once, for any values; a `LIKE`
/// pattern's best plan depends on how rare it is (walk an index in order and stop early, or
/// scan and sort), so searches are planned for their pattern, on the pool's connections.
async fn held_read(
    db: &DatabaseConnection,
    statement: &Statement,
    at_most: usize,
) -> Option<Result<Vec<ReadRow>, DbErr>> {
    if is_search(&statement.sql) {
        return None;
    }
    let values = sea_query_sqlx::SqlxValues(
        statement
            .values
            .clone()
            .unwrap_or_else(|| sea_orm::Values(Vec::new())),
    );
    let sql = sqlx::AssertSqlSafe(statement.sql.as_str());
    let read = match db.get_database_backend() {
        DbBackend::Postgres => {
            read_on(crate::held_reads::postgres(db).await?, sql, values, at_most).await
        }
        DbBackend::MySql => {
            read_on(crate::held_reads::mysql(db).await?, sql, values, at_most).await
        }
        _ => return None,
    };
    match read {
        Ok(rows) => Some(Ok(rows.into_iter().map(ReadRow::Pool).collect())),
        Err(error) if crate::held_reads::is_connection_error(&error) => None,
        Err(error) => Some(Err(query_error(error))),
    }
}

/// Whether `sql` matches a pattern (`pagination::contains`).
pub(crate) fn is_search(sql: &str) -> bool {
    sql.contains(" LIKE ")
}

/// The rows of a read made outside any transaction (`statement` built for `db`'s backend):
/// on a SQLite file on the calling thread (`sqlite_reader`), on PostgreSQL and MySQL on a
/// held connection (`held_reads`), else through the pool.
pub async fn read_all(
    db: &DatabaseConnection,
    statement: Statement,
) -> Result<Vec<ReadRow>, DbErr> {
    if db.get_database_backend() == DbBackend::Sqlite {
        let values = statement.values.as_ref().map_or(&[][..], |v| &v.0[..]);
        if let Some(read) = crate::sqlite_reader::query(
            db.get_sqlite_connection_pool(),
            &statement.sql,
            values,
            usize::MAX,
        ) {
            return read.map(|rows| rows.into_iter().map(ReadRow::Sqlite).collect());
        }
    } else if let Some(read) = held_read(db, &statement, usize::MAX).await {
        return read;
    }
    Ok(db
        .query_all_raw(statement)
        .await?
        .into_iter()
        .map(ReadRow::Pool)
        .collect())
}

/// As `read_all`, the first row.
pub async fn read_one(
    db: &DatabaseConnection,
    statement: Statement,
) -> Result<Option<ReadRow>, DbErr> {
    if db.get_database_backend() == DbBackend::Sqlite {
        let values = statement.values.as_ref().map_or(&[][..], |v| &v.0[..]);
        if let Some(read) =
            crate::sqlite_reader::query(db.get_sqlite_connection_pool(), &statement.sql, values, 1)
        {
            return read.map(|rows| rows.into_iter().next().map(ReadRow::Sqlite));
        }
    } else if let Some(read) = held_read(db, &statement, 1).await {
        return read.map(|rows| rows.into_iter().next());
    }
    Ok(db.query_one_raw(statement).await?.map(ReadRow::Pool))
}
