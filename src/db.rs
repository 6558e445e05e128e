//! The database pool. One `DatabaseConnection` over sqlx for SQLite, PostgreSQL and MySQL,
//! chosen by the URL's scheme; per-backend connection settings live here and nowhere else.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use sea_orm::sqlx;
use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    IsolationLevel, RuntimeErr, SqliteTransactionMode, SqlxMySqlConnector, SqlxPostgresConnector,
    SqlxSqliteConnector, TransactionOptions, TransactionTrait,
};

/// The URL with any password (in the user info or a `password=` parameter) replaced, for
/// logs.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let base = redact_userinfo(base);
    match query {
        None => base,
        Some(query) => {
            let params: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.to_ascii_lowercase().contains("password") => {
                        format!("{key}=***")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{base}?{}", params.join("&"))
        }
    }
}

fn redact_userinfo(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// How long a request waits for a pooled connection before it is answered with `503`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a SQLite writer waits for the lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<DatabaseConnection> {
    let shown = redact_url(url);
    let scheme = url
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let connection = match scheme.as_str() {
        "sqlite" => {
            crate::sqlite_reader::disable_memory_statistics();
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                .with_context(|| format!("parsing DATABASE_URL {shown}"))?
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(SQLITE_BUSY_TIMEOUT);
            // An in-memory database lives and dies with its one connection.
            let in_memory = is_in_memory(url);
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(if in_memory { 1 } else { max_connections })
                .min_connections(if in_memory { 1 } else { 0 })
                .idle_timeout(if in_memory {
                    None
                } else {
                    Some(Duration::from_secs(600))
                })
                .max_lifetime(if in_memory {
                    None
                } else {
                    Some(Duration::from_secs(1800))
                })
                .acquire_timeout(ACQUIRE_TIMEOUT)
                // A SQLite connection is a file handle and cannot go stale, so skip sqlx's
                // ping before each use (measured: ~1.6x the throughput of reads by id).
                // Network databases keep it: a pooled connection to a server that went away
                // must be found out before a request uses it.
                .test_before_acquire(false)
                .connect_with(options)
                .await
                .with_context(|| format!("opening SQLite database {shown}"))?;
            SqlxSqliteConnector::from_sqlx_sqlite_pool(pool)
        }
        "postgres" | "postgresql" => {
            let options = sqlx::postgres::PgConnectOptions::from_str(url)
                .with_context(|| format!("parsing DATABASE_URL {shown}"))?
                .application_name("larch");
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .test_before_acquire(false)
                .before_acquire(|conn, meta| Box::pin(ping_if_idle(conn, meta)))
                .connect_with(options)
                .await
                .with_context(|| format!("connecting to PostgreSQL at {shown}"))?;
            SqlxPostgresConnector::from_sqlx_postgres_pool(pool)
        }
        "mysql" | "mariadb" => {
            let url = url.replacen("mariadb://", "mysql://", 1);
            let options = sqlx::mysql::MySqlConnectOptions::from_str(&url)
                .with_context(|| format!("parsing DATABASE_URL {shown}"))?
                // 4-byte UTF-8 (emoji) needs utf8mb4; timestamps are UTC throughout.
                .charset("utf8mb4")
                .timezone(Some(String::from("+00:00")));
            let pool = sqlx::mysql::MySqlPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .test_before_acquire(false)
                .before_acquire(|conn, meta| Box::pin(ping_if_idle(conn, meta)))
                .connect_with(options)
                .await
                .with_context(|| format!("connecting to MySQL at {shown}"))?;
            SqlxMySqlConnector::from_sqlx_mysql_pool(pool)
        }
        _ => bail!("DATABASE_URL {shown} is not supported: use sqlite://, postgres:// or mysql://"),
    };
    Ok(connection)
}

/// How long a pooled connection to a database server may sit idle before it is pinged
/// before use. A connection handed back a moment ago was just used (and sqlx pings every
/// connection as it comes back), so pinging it again on every acquire only doubles the
/// round trips of a read by id; one that sat idle may have been cut by a server restart or
/// a proxy, and is checked (and replaced, within the acquire timeout) before a request
/// uses it.
pub(crate) const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

async fn ping_if_idle<C: sqlx::Connection>(
    conn: &mut C,
    meta: sqlx::pool::PoolConnectionMetadata,
) -> Result<bool, sqlx::Error> {
    if meta.idle_for >= PING_AFTER_IDLE {
        conn.ping().await?;
    }
    Ok(true)
}

/// An in-memory SQLite database, which exists only as long as its one connection.
pub fn is_in_memory(url: &str) -> bool {
    url.starts_with("sqlite:") && (url.contains(":memory:") || url.contains("mode=memory"))
}

/// Begins a transaction that will write. On SQLite it takes the write lock up front
/// (`BEGIN IMMEDIATE`), so a read-then-write transaction waits for other writers instead
/// of failing when it upgrades its lock. Other backends lock rows as they go, at READ
/// COMMITTED (PostgreSQL's default; on MySQL it turns off the gap locks that otherwise make
/// concurrent writers to one index range deadlock).
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let options = match db.get_database_backend() {
        DbBackend::Sqlite => TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        },
        _ => TransactionOptions {
            isolation_level: Some(IsolationLevel::ReadCommitted),
            ..Default::default()
        },
    };
    db.begin_with_options(options).await
}

/// An error that may not recur if the transaction that met it runs again.
pub trait Transient {
    fn is_transient(&self) -> bool;
}

/// Runs `attempt` (a whole transaction) again, up to three times in all, when it fails with
/// a transient error (a deadlock or serialisation failure): the standard answer to MySQL's
/// "try restarting transaction", which concurrent admin changes can provoke under load.
pub async fn retry_transient<T, E, F, Fut>(mut attempt: F) -> Result<T, E>
where
    E: Transient,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await {
            Err(error) if error.is_transient() && tries < 3 => {
                tokio::time::sleep(Duration::from_millis(5 * tries)).await;
            }
            other => return other,
        }
    }
}

/// Refreshes the query planner's statistics of the tables a bulk load filled (`larch seed`,
/// `larch import-flask`). Until autovacuum gets to them, PostgreSQL otherwise plans from
/// the empty tables it last saw: measured, a sequential scan and sort of `users` for every
/// page of `GET /users`, and a walk of the caller's sessions for every authenticated
/// request.
pub async fn analyze(db: &DatabaseConnection) -> Result<(), DbErr> {
    let statement = match db.get_database_backend() {
        DbBackend::Postgres => "ANALYZE users, sessions, posts, products, row_counts",
        DbBackend::MySql => "ANALYZE TABLE users, sessions, posts, products, row_counts",
        // SQLite plans these reads from its indexes alone, with no statistics kept.
        _ => return Ok(()),
    };
    // MySQL answers ANALYZE TABLE with a result set: read it as a query.
    db.query_all_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        statement,
    ))
    .await?;
    Ok(())
}

/// True when the database answers a trivial query.
pub async fn is_reachable(db: &DatabaseConnection) -> bool {
    let probe = db.execute_unprepared("SELECT 1");
    matches!(
        tokio::time::timeout(Duration::from_secs(3), probe).await,
        Ok(Ok(_))
    )
}

pub fn backend_name(db: &DatabaseConnection) -> &'static str {
    match db.get_database_backend() {
        DbBackend::Sqlite => "sqlite",
        DbBackend::Postgres => "postgres",
        DbBackend::MySql => "mysql",
        _ => "other",
    }
}

/// `?` placeholders as PostgreSQL's `$1`, `$2`, … (the statements here have no `?` inside
/// string literals).
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// The errors sea-orm's own acquire gives, so `ApiError`'s mapping applies unchanged.
pub(crate) fn acquire_error(error: sqlx::Error) -> DbErr {
    match error {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        other => DbErr::Conn(RuntimeErr::SqlxError(std::sync::Arc::new(other))),
    }
}
