//! Reads on SQLite without crossing threads.
//!
//! sqlx runs each SQLite connection on a thread of its own and hands it every statement
//! through channels: a read by id costs two wake-ups on each side, and measured, that was
//! half of `GET /users/{id}`'s time. The hot reads (`db::fetch_optional_by_ids`: the caller
//! of every authenticated request, users and posts by id) run instead on a connection that
//! belongs to the calling thread, with their statements prepared once and cached. The
//! connection is opened `query_only` on the same file: in WAL mode, readers never wait for
//! the writer, and each read sees every transaction committed before it began, on any
//! instance. Writes keep sqlx's pool, transactions and locking.
//!
//! Only one `libsqlite3-sys` can be linked: rusqlite uses the same one as sqlx.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use sea_orm::sqlx;
use sea_orm::{DbErr, ProxyRow, QueryResult, Value};

/// Connections one thread keeps, at most (one per database it reads; a test process opens
/// many databases).
const PER_THREAD: usize = 4;
/// Statements each connection keeps prepared.
const STATEMENT_CACHE: usize = 64;

thread_local! {
    static CONNECTIONS: RefCell<Vec<(PathBuf, Connection)>> = const { RefCell::new(Vec::new()) };
}

/// Runs `sql` with `ids` bound in order on the calling thread's connection to the file of
/// `pool`, and returns its first row, if any, as sea-orm's row type (so one mapping serves
/// every backend). `None` when the database is not a file (in memory: it lives on its one
/// sqlx connection), for the caller to use the pool.
pub fn fetch_optional(
    pool: &sqlx::SqlitePool,
    sql: &str,
    ids: &[i64],
) -> Option<Result<Option<QueryResult>, DbErr>> {
    let options = pool.connect_options();
    let path = options.get_filename();
    let name = path.to_string_lossy();
    if name.is_empty() || name == ":memory:" || name.starts_with("file:") {
        return None;
    }
    let read = with_connection(path, |conn| {
        let mut statement = conn.prepare_cached(sql)?;
        let mut rows = statement.query(rusqlite::params_from_iter(ids.iter()))?;
        match rows.next()? {
            None => Ok(None),
            Some(row) => Ok(Some(to_query_result(row)?)),
        }
    });
    Some(read.map_err(|e| {
        DbErr::Query(sea_orm::RuntimeErr::Internal(format!("SQLite read: {e}")))
    }))
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
    conn.busy_timeout(crate::db::SQLITE_BUSY_TIMEOUT)?;
    conn.pragma_update(None, "query_only", true)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // The planner keeps a plan once made: binding other values does not make SQLite
    // prepare the statement again.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(conn)
}

#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("column {0}: {1}")]
    Column(String, String),
}

/// A row as sea-orm's `QueryResult`, each value typed by its column's declared type (the
/// schema's, as the migrations wrote it): what sqlx would have decoded.
fn to_query_result(row: &rusqlite::Row<'_>) -> Result<QueryResult, ReadError> {
    let statement = row.as_ref();
    let mut values = BTreeMap::new();
    for (index, column) in statement.columns().iter().enumerate() {
        let name = column.name().to_owned();
        let declared = column.decl_type().unwrap_or_default().to_ascii_lowercase();
        let value = convert(row.get_ref(index)?, &declared)
            .map_err(|reason| ReadError::Column(name.clone(), reason))?;
        values.insert(name, value);
    }
    Ok(QueryResult::from(ProxyRow::new(values)))
}

fn convert(value: ValueRef<'_>, declared: &str) -> Result<Value, String> {
    let is_time = declared.contains("timestamp") || declared.contains("date");
    let is_bool = declared.contains("bool");
    let is_int = declared.contains("int");
    let is_real = declared.contains("real") || declared.contains("double") || declared.contains("float");
    Ok(match value {
        ValueRef::Null if is_time => Value::ChronoDateTimeUtc(None),
        ValueRef::Null if is_bool => Value::Bool(None),
        ValueRef::Null if is_int => Value::BigInt(None),
        ValueRef::Null if is_real => Value::Double(None),
        ValueRef::Null => Value::String(None),
        ValueRef::Integer(n) if is_bool => Value::Bool(Some(n != 0)),
        ValueRef::Integer(n) => Value::BigInt(Some(n)),
        ValueRef::Real(x) => Value::Double(Some(x)),
        ValueRef::Text(text) => {
            let text = std::str::from_utf8(text).map_err(|e| e.to_string())?;
            if is_time {
                Value::ChronoDateTimeUtc(Some(Box::new(parse_time(text)?)))
            } else {
                Value::String(Some(text.to_owned()))
            }
        }
        ValueRef::Blob(bytes) => Value::Bytes(Some(bytes.to_vec())),
    })
}

/// A timestamp as sqlx writes `DateTime<Utc>` to SQLite (`2026-11-29 05:35:35.821+00:00`),
/// or in RFC 3339, or naive (taken as UTC).
fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
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

    #[test]
    fn values_follow_declared_types() {
        assert_eq!(convert(ValueRef::Integer(1), "boolean").unwrap(), Value::Bool(Some(true)));
        assert_eq!(convert(ValueRef::Integer(7), "integer").unwrap(), Value::BigInt(Some(7)));
        assert_eq!(convert(ValueRef::Null, "timestamp_with_timezone_text").unwrap(), Value::ChronoDateTimeUtc(None));
        assert_eq!(
            convert(ValueRef::Text(b"x"), "varchar").unwrap(),
            Value::String(Some("x".to_owned()))
        );
    }
}
