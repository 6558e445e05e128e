//! The Flask app's database, opened read-only: its URL in SQLAlchemy's form, the tables and
//! columns it has, and its rows in batches by id. Read with sqlx directly (on one connection,
//! not larch's pool), as text wherever the backend can say a value as text, so that a price
//! is judged by its decimal digits and a timestamp by what was stored.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, bail};
use sea_orm::sqlx::{self, Connection, Row, TypeInfo, ValueRef};

use crate::db::redact_url;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    Sqlite,
    Postgres,
    MySql,
}

/// The Flask app's `DATABASE_URL`, understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceUrl {
    Sqlite(PathBuf),
    /// A URL sqlx takes (`postgres://…` or `mysql://…`).
    Server(SourceKind, String),
}

impl SourceUrl {
    /// SQLAlchemy's URL forms: `sqlite:///relative/path`, `sqlite:////absolute/path`,
    /// `postgresql[+driver]://…`, `mysql[+driver]://…` (`mariadb` too). The driver part
    /// (`+psycopg2`, `+pymysql`, …) is Python's business and is dropped.
    pub fn parse(url: &str) -> anyhow::Result<SourceUrl> {
        let shown = redact_url(url);
        let Some((scheme, rest)) = url.split_once("://") else {
            bail!("--from {shown} is not a database URL (such as sqlite:///app.db)");
        };
        let dialect = scheme.split('+').next().unwrap_or_default();
        match dialect.to_ascii_lowercase().as_str() {
            "sqlite" => {
                // `sqlite:///x.db` is the relative path `x.db`; `sqlite:////x.db` is `/x.db`.
                let path = rest.strip_prefix('/').unwrap_or_default();
                let path = path.split('?').next().unwrap_or_default();
                if path.is_empty() || path == ":memory:" {
                    bail!(
                        "--from {shown}: an in-memory SQLite database has nothing to import; give the file, as in sqlite:///instance/app.db"
                    );
                }
                Ok(SourceUrl::Sqlite(PathBuf::from(path)))
            }
            "postgresql" | "postgres" => Ok(SourceUrl::Server(
                SourceKind::Postgres,
                format!("postgres://{rest}"),
            )),
            "mysql" | "mariadb" => Ok(SourceUrl::Server(
                SourceKind::MySql,
                format!("mysql://{rest}"),
            )),
            _ => bail!(
                "--from {shown}: the {dialect:?} dialect is not supported (use sqlite, postgresql or mysql)"
            ),
        }
    }
}

/// One value as read: SQLite's own types, or text from the server backends.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
}

impl Cell {
    /// The value as text, as the Flask app would have printed it (a real number in its
    /// shortest exact form, `19.99`), or `None` for NULL or bytes that are not UTF-8.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Cell::Null => None,
            Cell::Int(n) => Some(n.to_string()),
            Cell::Real(x) => Some(x.to_string()),
            Cell::Text(text) => Some(text.clone()),
            Cell::Bytes(bytes) => String::from_utf8(bytes.clone()).ok(),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Cell::Null)
    }
}

/// A row: its id and its cells in the order the columns were asked for.
#[derive(Clone, Debug)]
pub struct SourceRow {
    pub id: i64,
    pub cells: Vec<Cell>,
}

enum Conn {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
    MySql(sqlx::MySqlConnection),
}

/// An open, read-only connection to the Flask app's database. On PostgreSQL and MySQL every
/// read is in one read-only snapshot, so rows written while the import runs are left for
/// the next run rather than half seen.
pub struct Source {
    conn: Conn,
}

impl Source {
    pub async fn open(url: &SourceUrl) -> anyhow::Result<Source> {
        let conn = match url {
            SourceUrl::Sqlite(path) => {
                if !path.exists() {
                    let hint = if path.is_relative() {
                        " (a relative path is taken from the current directory; Flask-SQLAlchemy 3 keeps `sqlite:///app.db` in the app's `instance/` folder)"
                    } else {
                        ""
                    };
                    bail!("the Flask database {} does not exist{hint}", path.display());
                }
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(path)
                    .read_only(true)
                    .create_if_missing(false);
                let conn = sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .with_context(|| format!("opening the Flask database {}", path.display()))?;
                Conn::Sqlite(conn)
            }
            SourceUrl::Server(SourceKind::Postgres, url) => {
                let options = sqlx::postgres::PgConnectOptions::from_str(url)
                    .with_context(|| format!("parsing --from {}", redact_url(url)))?
                    .application_name("larch import-flask");
                let mut conn = sqlx::PgConnection::connect_with(&options)
                    .await
                    .with_context(|| format!("connecting to {}", redact_url(url)))?;
                for statement in [
                    "SET TIME ZONE 'UTC'",
                    "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                ] {
                    sqlx::raw_sql(statement).execute(&mut conn).await?;
                }
                Conn::Postgres(conn)
            }
            SourceUrl::Server(_, url) => {
                let options = sqlx::mysql::MySqlConnectOptions::from_str(url)
                    .with_context(|| format!("parsing --from {}", redact_url(url)))?
                    .charset("utf8mb4")
                    .timezone(Some(String::from("+00:00")));
                let mut conn = sqlx::MySqlConnection::connect_with(&options)
                    .await
                    .with_context(|| format!("connecting to {}", redact_url(url)))?;
                for statement in [
                    "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
                    "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
                ] {
                    sqlx::raw_sql(statement).execute(&mut conn).await?;
                }
                Conn::MySql(conn)
            }
        };
        Ok(Source { conn })
    }

    pub fn kind(&self) -> SourceKind {
        match self.conn {
            Conn::Sqlite(_) => SourceKind::Sqlite,
            Conn::Postgres(_) => SourceKind::Postgres,
            Conn::MySql(_) => SourceKind::MySql,
        }
    }

    /// The names of the tables, as the database spells them.
    pub async fn tables(&mut self) -> anyhow::Result<Vec<String>> {
        let names = match &mut self.conn {
            Conn::Sqlite(conn) => {
                sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
                )
                .fetch_all(conn)
                .await?
            }
            Conn::Postgres(conn) => {
                sqlx::query_scalar(
                    "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
                     WHERE table_schema = current_schema() ORDER BY table_name",
                )
                .fetch_all(conn)
                .await?
            }
            Conn::MySql(conn) => {
                sqlx::query_scalar(
                    "SELECT CAST(table_name AS CHAR CHARACTER SET utf8mb4) \
                     FROM information_schema.tables \
                     WHERE table_schema = DATABASE() ORDER BY table_name",
                )
                .fetch_all(conn)
                .await?
            }
        };
        Ok(names)
    }

    /// The columns of `table`, in their order.
    pub async fn columns(&mut self, table: &str) -> anyhow::Result<Vec<String>> {
        let names = match &mut self.conn {
            Conn::Sqlite(conn) => {
                sqlx::query_scalar("SELECT name FROM pragma_table_info(?) ORDER BY cid")
                    .bind(table)
                    .fetch_all(conn)
                    .await?
            }
            Conn::Postgres(conn) => {
                sqlx::query_scalar(
                    "SELECT CAST(column_name AS TEXT) FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1 \
                     ORDER BY ordinal_position",
                )
                .bind(table)
                .fetch_all(conn)
                .await?
            }
            Conn::MySql(conn) => {
                sqlx::query_scalar(
                    "SELECT CAST(column_name AS CHAR CHARACTER SET utf8mb4) \
                     FROM information_schema.columns \
                     WHERE table_schema = DATABASE() AND table_name = ? \
                     ORDER BY ordinal_position",
                )
                .bind(table)
                .fetch_all(conn)
                .await?
            }
        };
        Ok(names)
    }

    /// How many rows `table` has, and its highest id (0 when empty).
    pub async fn size(&mut self, table: &str, id: &str) -> anyhow::Result<(u64, i64)> {
        let (count, max): (i64, i64) = match &mut self.conn {
            Conn::Sqlite(conn) => {
                let sql = format!(
                    "SELECT COUNT(*), COALESCE(MAX({}), 0) FROM {}",
                    quote_double(id),
                    quote_double(table)
                );
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .fetch_one(conn)
                    .await?
            }
            Conn::Postgres(conn) => {
                let sql = format!(
                    "SELECT COUNT(*), CAST(COALESCE(MAX({}), 0) AS BIGINT) FROM {}",
                    quote_double(id),
                    quote_double(table)
                );
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .fetch_one(conn)
                    .await?
            }
            Conn::MySql(conn) => {
                let sql = format!(
                    "SELECT COUNT(*), CAST(COALESCE(MAX({}), 0) AS SIGNED) FROM {}",
                    quote_mysql(id),
                    quote_mysql(table)
                );
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .fetch_one(conn)
                    .await?
            }
        };
        Ok((u64::try_from(count).unwrap_or(0), max))
    }

    /// Up to `limit` rows of `table` with an id above `after`, in id order; `columns[0]` is
    /// the id column.
    pub async fn fetch(
        &mut self,
        table: &str,
        columns: &[String],
        after: i64,
        limit: usize,
    ) -> anyhow::Result<Vec<SourceRow>> {
        let id = &columns[0];
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match &mut self.conn {
            Conn::Sqlite(conn) => {
                let list: Vec<String> = columns.iter().map(|c| quote_double(c)).collect();
                let sql = format!(
                    "SELECT {} FROM {} WHERE {id} > ? ORDER BY {id} LIMIT ?",
                    list.join(", "),
                    quote_double(table),
                    id = quote_double(id),
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(after)
                    .bind(limit)
                    .fetch_all(conn)
                    .await?;
                rows.iter()
                    .map(|row| {
                        (0..columns.len())
                            .map(|i| sqlite_cell(row, i))
                            .collect::<anyhow::Result<Vec<Cell>>>()
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?
            }
            Conn::Postgres(conn) => {
                let list: Vec<String> = columns
                    .iter()
                    .enumerate()
                    // Named apart from the columns: `ORDER BY id` must sort the integers, not
                    // their text.
                    .map(|(i, c)| format!("CAST({} AS TEXT) AS c{i}", quote_double(c)))
                    .collect();
                let sql = format!(
                    "SELECT {} FROM {} WHERE {id} > $1 ORDER BY {id} LIMIT $2",
                    list.join(", "),
                    quote_double(table),
                    id = quote_double(id),
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(after)
                    .bind(limit)
                    .fetch_all(conn)
                    .await?;
                rows.iter()
                    .map(|row| text_cells(row, columns.len()))
                    .collect::<anyhow::Result<Vec<_>>>()?
            }
            Conn::MySql(conn) => {
                let list: Vec<String> = columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        format!(
                            "CAST({} AS CHAR CHARACTER SET utf8mb4) AS c{i}",
                            quote_mysql(c)
                        )
                    })
                    .collect();
                let sql = format!(
                    "SELECT {} FROM {} WHERE {id} > ? ORDER BY {id} LIMIT ?",
                    list.join(", "),
                    quote_mysql(table),
                    id = quote_mysql(id),
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(after)
                    .bind(limit)
                    .fetch_all(conn)
                    .await?;
                rows.iter()
                    .map(|row| text_cells(row, columns.len()))
                    .collect::<anyhow::Result<Vec<_>>>()?
            }
        };
        rows.into_iter()
            .map(|cells| {
                let id = match cells.first() {
                    Some(Cell::Int(id)) => *id,
                    Some(Cell::Text(text)) => text
                        .trim()
                        .parse()
                        .with_context(|| format!("{table}: id {text:?} is not an integer"))?,
                    other => bail!("{table}: an id that is not an integer ({other:?})"),
                };
                Ok(SourceRow { id, cells })
            })
            .collect()
    }

    /// Ends the read snapshot and the connection.
    pub async fn close(self) -> anyhow::Result<()> {
        match self.conn {
            Conn::Sqlite(conn) => conn.close().await?,
            Conn::Postgres(mut conn) => {
                sqlx::raw_sql("ROLLBACK").execute(&mut conn).await?;
                conn.close().await?
            }
            Conn::MySql(mut conn) => {
                sqlx::raw_sql("ROLLBACK").execute(&mut conn).await?;
                conn.close().await?
            }
        }
        Ok(())
    }
}

fn quote_double(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_mysql(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A SQLite value by its own storage class.
fn sqlite_cell(row: &sqlx::sqlite::SqliteRow, i: usize) -> anyhow::Result<Cell> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Cell::Null);
    }
    let class = raw.type_info().name().to_owned();
    Ok(match class.as_str() {
        "INTEGER" => Cell::Int(row.try_get_unchecked(i)?),
        "REAL" => Cell::Real(row.try_get_unchecked(i)?),
        "BLOB" => Cell::Bytes(row.try_get_unchecked(i)?),
        _ => Cell::Text(row.try_get_unchecked(i)?),
    })
}

/// Columns selected as text (PostgreSQL, MySQL).
fn text_cells<R>(row: &R, n: usize) -> anyhow::Result<Vec<Cell>>
where
    R: Row,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    (0..n)
        .map(|i| {
            let text: Option<String> = row.try_get(i)?;
            Ok(text.map(Cell::Text).unwrap_or(Cell::Null))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlalchemy_urls() {
        assert_eq!(
            SourceUrl::parse("sqlite:///instance/app.db").unwrap(),
            SourceUrl::Sqlite(PathBuf::from("instance/app.db"))
        );
        assert_eq!(
            SourceUrl::parse("sqlite:////tmp/app.db").unwrap(),
            SourceUrl::Sqlite(PathBuf::from("/tmp/app.db"))
        );
        assert!(SourceUrl::parse("sqlite://").is_err());
        assert!(SourceUrl::parse("sqlite:///:memory:").is_err());
        assert_eq!(
            SourceUrl::parse("postgresql+psycopg2://u:p@db:5432/app").unwrap(),
            SourceUrl::Server(SourceKind::Postgres, "postgres://u:p@db:5432/app".into())
        );
        assert_eq!(
            SourceUrl::parse("mysql+pymysql://root@127.0.0.1/app").unwrap(),
            SourceUrl::Server(SourceKind::MySql, "mysql://root@127.0.0.1/app".into())
        );
        assert!(SourceUrl::parse("oracle://x").is_err());
        assert!(SourceUrl::parse("app.db").is_err());
        let message = SourceUrl::parse("mssql+pyodbc://u:secret@h/db")
            .unwrap_err()
            .to_string();
        assert!(!message.contains("secret"), "{message}");
    }

    #[test]
    fn cells_as_text() {
        assert_eq!(Cell::Real(19.99).as_text().as_deref(), Some("19.99"));
        assert_eq!(Cell::Real(19.999).as_text().as_deref(), Some("19.999"));
        assert_eq!(Cell::Real(5.0).as_text().as_deref(), Some("5"));
        assert_eq!(Cell::Int(12).as_text().as_deref(), Some("12"));
        assert_eq!(Cell::Null.as_text(), None);
    }
}
