//! Reads on SQLite without crossing threads.
//!
//! sqlx runs each SQLite connection on a thread of its own and hands it every statement
//! through channels: a read by id costs two wake-ups on each side, and measured, that was
//! half of `GET /users/{id}`'s time. The reads outside transactions (`reads`: the caller
//! of every authenticated request, users and posts by id) run instead on a connection that
//! belongs to the calling thread, with their statements prepared once and cached. The
//! connection is opened `query_only` on the same file: in WAL mode, readers never wait for
//! the writer, and each read sees every transaction committed before it began, on any
//! instance. Writes keep sqlx's pool, transactions and locking.
//!
//! Only one `libsqlite3-sys` can be linked: rusqlite uses the same one as sqlx.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, Utc};
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OpenFlags};
use sea_orm::sqlx;
use sea_orm::{DbErr, Value};

/// Connections one thread keeps, at most (one per database it reads; a test process opens
/// many databases).
const PER_THREAD: usize = 4;
/// How long a read waits for a lock (a checkpoint) before failing, as sqlx's connections.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Statements each connection keeps prepared.
const STATEMENT_CACHE: usize = 64;

thread_local! {
    static CONNECTIONS: RefCell<Vec<(PathBuf, Connection)>> = const { RefCell::new(Vec::new()) };
}

/// One row read here: each column's name and value.
#[derive(Clone, Debug)]
pub struct SqliteRow(Vec<(String, Sql)>);

impl SqliteRow {
    pub fn value(&self, column: &str) -> Option<&Sql> {
        self.0
            .iter()
            .find(|(name, _)| name == column)
            .map(|(_, v)| v)
    }
}

/// The rows of `sql` with `values` bound in order, run on the calling thread's connection to
/// the file of `pool`. `None`
/// when the database is not a file (in memory: it lives on its one sqlx connection), for the
/// caller to use the pool.
pub fn query(
    pool: &sqlx::SqlitePool,
    sql: &str,
    values: &[Value],
    at_most: usize,
) -> Option<Result<Vec<SqliteRow>, DbErr>> {
    // A closed pool (shutting down) answers as the pool would: with an error.
    if pool.is_closed() {
        return None;
    }
    let options = pool.connect_options();
    let path = options.get_filename();
    let name = path.to_string_lossy();
    if name.is_empty() || name == ":memory:" || name.starts_with("file:") {
        return None;
    }
    // A value this path does not bind (none of the reads that come here have one) goes the
    // pool's way.
    let params = values.iter().map(to_sql).collect::<Option<Vec<_>>>()?;
    let read = with_connection(path, |conn| {
        let mut statement = conn.prepare_cached(sql)?;
        let mut rows = statement.query(rusqlite::params_from_iter(params.iter()))?;
        let mut found = Vec::new();
        while found.len() < at_most
            && let Some(row) = rows.next()?
        {
            found.push(owned(row)?);
        }
        Ok(found)
    });
    Some(read.map_err(|e| DbErr::Query(sea_orm::RuntimeErr::Internal(format!("SQLite read: {e}")))))
}

/// A bound value as SQLite takes it (what sqlx would have bound), for the kinds of value
/// the reads bind.
fn to_sql(value: &Value) -> Option<Sql> {
    Some(match value {
        Value::Bool(v) => v.map_or(Sql::Null, |b| Sql::Integer(i64::from(b))),
        Value::TinyInt(v) => v.map_or(Sql::Null, |n| Sql::Integer(n.into())),
        Value::SmallInt(v) => v.map_or(Sql::Null, |n| Sql::Integer(n.into())),
        Value::Int(v) => v.map_or(Sql::Null, |n| Sql::Integer(n.into())),
        Value::BigInt(v) => v.map_or(Sql::Null, Sql::Integer),
        Value::TinyUnsigned(v) => v.map_or(Sql::Null, |n| Sql::Integer(n.into())),
        Value::SmallUnsigned(v) => v.map_or(Sql::Null, |n| Sql::Integer(n.into())),
        Value::Unsigned(v) => v.map_or(Sql::Null, |n| Sql::Integer(n.into())),
        Value::BigUnsigned(v) => match v {
            None => Sql::Null,
            Some(n) => Sql::Integer(i64::try_from(*n).ok()?),
        },
        Value::Float(v) => v.map_or(Sql::Null, |x| Sql::Real(x.into())),
        Value::Double(v) => v.map_or(Sql::Null, Sql::Real),
        Value::String(v) => v.as_ref().map_or(Sql::Null, |t| Sql::Text(t.to_string())),
        Value::Char(v) => v.map_or(Sql::Null, |c| Sql::Text(c.to_string())),
        Value::Bytes(v) => v.as_ref().map_or(Sql::Null, |b| Sql::Blob(b.to_vec())),
        _ => return None,
    })
}

fn with_connection<T>(
    path: &Path,
    read: impl FnOnce(&Connection) -> Result<T, ReadError>,
) -> Result<T, ReadError> {
    CONNECTIONS.with(|cell| {
        let mut connections = cell.borrow_mut();
        let position = match connections.iter().position(|(p, _)| p == path) {
            Some(position) => position,
            None => {
                if connections.len() >= PER_THREAD {
                    connections.remove(0);
                }
                connections.push((path.to_owned(), open(path)?));
                connections.len() - 1
            }
        };
        read(&connections[position].1)
    })
}

fn open(path: &Path) -> Result<Connection, ReadError> {
    // Read-write flags with `query_only`: a read-only open of a WAL database needs its
    // shared-memory file to exist already, which it may not yet.
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "query_only", true)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // The planner keeps a plan once made: binding other values does not make SQLite
    // prepare the statement again.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(conn)
}

#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

fn owned(row: &rusqlite::Row<'_>) -> Result<SqliteRow, ReadError> {
    let statement = row.as_ref();
    let mut values = Vec::with_capacity(statement.column_count());
    for (index, name) in statement.column_names().into_iter().enumerate() {
        values.push((name.to_owned(), row.get::<_, Sql>(index)?));
    }
    Ok(SqliteRow(values))
}

/// A timestamp as sqlx writes `DateTime<Utc>` to SQLite (`2026-11-29 05:35:35.821+00:00`),
/// or in RFC 3339, or naive (taken as UTC).
pub(crate) fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc());
        }
    }
    Err(format!("not a timestamp: {text:?}"))
}

/// Turns off SQLite's memory statistics, which take one process-wide mutex on every
/// allocation. Must run before SQLite's first use in the process (before the first
/// connection); later, SQLite refuses it and nothing changes.
pub fn disable_memory_statistics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `sqlite3_config` is called before any other SQLite call in the process
        // (from `db::connect`, before a pool exists); if SQLite was already initialised, it
        // returns SQLITE_MISUSE and changes nothing.
        unsafe {
            rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_as_sqlx_writes_them() {
        let t = parse_time("2026-11-29 05:35:35.821+00:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-29T05:35:35.821+00:00");
        assert!(parse_time("2026-11-29T05:35:35Z").is_ok());
        assert!(parse_time("2026-11-29 05:35:35").is_ok());
        assert!(parse_time("yesterday").is_err());
    }
}
