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
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    static CONNECTIONS: RefCell<Vec<(PathBuf, Reader)>> = const { RefCell::new(Vec::new()) };
}

/// A thread's connection to one database, and the column names of the statements it has
/// run (shared by every row they return; making them anew was 1% of `GET /auth/me`).
struct Reader {
    conn: Connection,
    columns: HashMap<String, Arc<[String]>>,
}

/// One row read here: its values, and the column names it shares with the other rows of
/// its read.
#[derive(Clone, Debug)]
pub struct SqliteRow {
    columns: Arc<[String]>,
    values: Vec<Sql>,
}

impl SqliteRow {
    pub fn value(&self, column: &str) -> Option<&Sql> {
        let index = self.columns.iter().position(|name| name == column)?;
        self.values.get(index)
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
    let read = with_connection(path, |reader| {
        let mut statement = reader.conn.prepare_cached(sql)?;
        // (A statement SQLite prepared again after a schema change may have other columns.)
        let columns = match reader.columns.get(sql) {
            Some(columns) if columns.len() == statement.column_count() => columns.clone(),
            _ => {
                let columns: Arc<[String]> = statement
                    .column_names()
                    .into_iter()
                    .map(str::to_owned)
                    .collect();
                // As many as the statements kept prepared; then it starts again.
                if reader.columns.len() >= STATEMENT_CACHE {
                    reader.columns.clear();
                }
                reader.columns.insert(sql.to_owned(), columns.clone());
                columns
            }
        };
        let mut rows = statement.query(rusqlite::params_from_iter(params.iter()))?;
        let mut found = Vec::new();
        while found.len() < at_most
            && let Some(row) = rows.next()?
        {
            let values = (0..columns.len())
                .map(|index| row.get::<_, Sql>(index))
                .collect::<Result<Vec<_>, _>>()?;
            found.push(SqliteRow {
                columns: columns.clone(),
                values,
            });
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
    read: impl FnOnce(&mut Reader) -> Result<T, ReadError>,
) -> Result<T, ReadError> {
    CONNECTIONS.with(|cell| {
        let mut connections = cell.borrow_mut();
        let position = match connections.iter().position(|(p, _)| p == path) {
            Some(position) => position,
            None => {
                if connections.len() >= PER_THREAD {
                    connections.remove(0);
                }
                let reader = Reader {
                    conn: open(path)?,
                    columns: HashMap::new(),
                };
                connections.push((path.to_owned(), reader));
                connections.len() - 1
            }
        };
        read(&mut connections[position].1)
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

/// A timestamp as sqlx writes `DateTime<Utc>` to SQLite (`2026-11-29 05:35:35.821+00:00`),
/// or in RFC 3339, or naive (taken as UTC).
pub(crate) fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    // Every row of every list carries two of these: read sqlx's own form by position
    // (measured: chrono's format-string parser was 6% of a page of posts).
    if let Some(t) = parse_sqlx_time(text.as_bytes()) {
        return Ok(t);
    }
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

/// `YYYY-MM-DD HH:MM:SS[.f{1,9}]+HH:MM` (or `-HH:MM`; a `T` for the space), the forms sqlx
/// and sea-orm write; `None` for anything else.
fn parse_sqlx_time(b: &[u8]) -> Option<DateTime<Utc>> {
    fn digits(b: &[u8], from: usize, len: usize) -> Option<u32> {
        let part = b.get(from..from + len)?;
        part.iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    }
    if b.len() < 25
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b' ' | b'T')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(
        i32::try_from(digits(b, 0, 4)?).ok()?,
        digits(b, 5, 2)?,
        digits(b, 8, 2)?,
    )?;
    let mut at = 19;
    let mut nanos = 0u32;
    if b.get(at) == Some(&b'.') {
        let start = at + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        let count = end - start;
        if count == 0 || count > 9 {
            return None;
        }
        nanos = digits(b, start, count)? * 10u32.pow(9 - count as u32);
        at = end;
    }
    let time = chrono::NaiveTime::from_hms_nano_opt(
        digits(b, 11, 2)?,
        digits(b, 14, 2)?,
        digits(b, 17, 2)?,
        nanos,
    )?;
    // The offset: exactly `+HH:MM` or `-HH:MM` to the end.
    if b.len() != at + 6 || b[at + 3] != b':' {
        return None;
    }
    let sign = match b[at] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = (digits(b, at + 1, 2)?, digits(b, at + 4, 2)?);
    if hours > 23 || minutes > 59 {
        return None;
    }
    let offset_seconds = sign * i32::try_from(hours * 3600 + minutes * 60).ok()?;
    let offset = chrono::FixedOffset::east_opt(offset_seconds)?;
    date.and_time(time)
        .and_local_timezone(offset)
        .single()
        .map(|t| t.with_timezone(&Utc))
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
        // The fast path agrees with chrono's parser on every form sqlx may write.
        for text in [
            "2026-11-29 05:35:35+00:00",
            "2026-11-29 05:35:35.8+00:00",
            "2026-11-29 05:35:35.821+00:00",
            "2026-11-29 05:35:35.123456789+00:00",
            "2026-11-29 23:59:59.999-05:30",
            "2024-02-29 00:00:00.000+14:00",
        ] {
            let with_t = text.replacen(' ', "T", 1);
            assert_eq!(
                parse_sqlx_time(with_t.as_bytes()),
                parse_sqlx_time(text.as_bytes()),
                "{with_t}"
            );
            let slow = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z")
                .unwrap()
                .with_timezone(&Utc);
            assert_eq!(parse_sqlx_time(text.as_bytes()), Some(slow), "{text}");
        }
        for bad in [
            "2026-02-30 05:35:35+00:00",
            "2026-11-29 25:35:35+00:00",
            "2026-11-29 05:35:35.+00:00",
            "2026-11-29 05:35:35.1234567890+00:00",
            "2026-11-29 05:35:35+0000",
            "2026-11-29 05:35:35+00:00x",
            "２026-11-29 05:35:35+00:00",
            "2026-11-29 05:35:35+00:60",
            "2026-11-29 05:35:35+24:00",
        ] {
            assert_eq!(parse_sqlx_time(bad.as_bytes()), None, "{bad}");
        }
    }
}
