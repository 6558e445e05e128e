//! `larch backup --to FILE`: a consistent copy of a live SQLite database, made with
//! `VACUUM INTO` (one read transaction: a snapshot as of its start, while writers carry on
//! in WAL mode), written beside the destination under a temporary name, checked with
//! `PRAGMA integrity_check`, synced, and only then renamed into place. PostgreSQL and
//! MySQL have their own tools; the command says which.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sea_orm::sqlx::sqlite::SqliteConnectOptions;
use sea_orm::sqlx::{self, Connection, Row};

use crate::db::{is_in_memory, redact_url};

/// What was written.
#[derive(Debug)]
pub struct Backup {
    pub path: PathBuf,
    pub bytes: u64,
    pub elapsed: Duration,
}

/// Copies the SQLite database of `database_url` to `to`, which must not exist yet.
pub async fn backup(database_url: &str, to: &Path) -> anyhow::Result<Backup> {
    let scheme = database_url
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match scheme.as_str() {
        "sqlite" => {}
        "postgres" | "postgresql" => bail!(
            "larch backup copies SQLite databases only; for PostgreSQL use its own tools: \
             `pg_dump --format=custom --file=larch.dump \"$DATABASE_URL\"` (restore with \
             pg_restore), or continuous archiving for point-in-time recovery"
        ),
        "mysql" | "mariadb" => bail!(
            "larch backup copies SQLite databases only; for MySQL/MariaDB use its own tools: \
             `mysqldump --single-transaction --routines larch > larch.sql` (or mariadb-dump; \
             restore with mysql < larch.sql)"
        ),
        _ => bail!(
            "DATABASE_URL {} is not supported: use sqlite://, postgres:// or mysql://",
            redact_url(database_url)
        ),
    }
    if is_in_memory(database_url) {
        bail!("DATABASE_URL names an in-memory SQLite database: there is no file to back up");
    }
    if to.exists() {
        bail!(
            "{} already exists; give a new file name (a backup never overwrites)",
            to.display()
        );
    }
    let started = Instant::now();
    let options = SqliteConnectOptions::from_str(database_url)
        .with_context(|| format!("parsing DATABASE_URL {}", redact_url(database_url)))?
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(30));
    let mut source = sqlx::SqliteConnection::connect_with(&options)
        .await
        .with_context(|| format!("opening {}", redact_url(database_url)))?;

    let directory = match to.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = to
        .file_name()
        .with_context(|| format!("{} is not a file name", to.display()))?
        .to_string_lossy()
        .into_owned();
    let partial = directory.join(format!(".{file_name}.partial-{}", std::process::id()));
    let result = async {
        let target = partial
            .to_str()
            .context("the backup path is not valid UTF-8")?
            .replace('\'', "''");
        sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM INTO '{target}'")))
            .execute(&mut source)
            .await
            .context("copying the database (VACUUM INTO)")?;
        source.close().await.ok();
        check_integrity(&partial).await?;
        std::fs::File::open(&partial)?.sync_all()?;
        std::fs::rename(&partial, to)
            .with_context(|| format!("moving the backup to {}", to.display()))?;
        if let Ok(dir) = std::fs::File::open(&directory) {
            dir.sync_all().ok();
        }
        anyhow::Ok(())
    }
    .await;
    if result.is_err() {
        std::fs::remove_file(&partial).ok();
    }
    result?;
    Ok(Backup {
        path: to.to_path_buf(),
        bytes: std::fs::metadata(to)?.len(),
        elapsed: started.elapsed(),
    })
}

/// `PRAGMA integrity_check` on the SQLite file at `path`: `Ok` when it says `ok`.
pub async fn check_integrity(path: &Path) -> anyhow::Result<()> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false);
    let mut copy = sqlx::SqliteConnection::connect_with(&options)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    let rows = sqlx::query("PRAGMA integrity_check")
        .fetch_all(&mut copy)
        .await
        .context("PRAGMA integrity_check")?;
    copy.close().await.ok();
    let findings: Vec<String> = rows.iter().map(|row| row.get::<String, _>(0)).collect();
    if findings != ["ok"] {
        bail!(
            "the copy failed its integrity check: {}",
            findings.join("; ")
        );
    }
    Ok(())
}
