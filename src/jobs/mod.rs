//! Background jobs on apalis: the work a request hands off (every email), kept in a durable
//! queue and run by workers in `larch serve` or `larch worker`.
//!
//! The queue lives in larch's own database on SQLite and PostgreSQL (apalis-sqlite and
//! apalis-postgres on the same sqlx pools), or in Redis when `JOBS_URL` says so (MySQL
//! deployments: apalis-mysql is on another sqlx; see docs/operations.md). A job is pushed
//! with `Jobs::push`, runs at least once, is retried with growing delays when it fails, and
//! after its last attempt is kept as failed for `larch jobs` to show and retry.

pub mod admin;
mod poll;
mod worker;

use anyhow::Context;
use apalis::prelude::{TaskBuilder, TaskSink};
use apalis_postgres::PostgresStorage;
use apalis_redis::{ConnectionManager, RedisStorage};
use apalis_sqlite::SqliteStorage;
use sea_orm::{DatabaseConnection, DbBackend};
use serde::{Deserialize, Serialize};

use crate::config::{JobsConfig, redact_url};
pub use worker::{Housekeeping, JobError, Perform, Workers};

/// Every kind of job. Payloads hold ids and addresses, never a secret: a token in an email
/// is made when the job runs, so the queue never stores one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// "Forgot my password" for an address, which may have no account (then nothing is
    /// sent).
    PasswordReset { email: String },
    /// A reset an admin started for a user.
    AdminPasswordReset { user_id: i64 },
    /// A verification link to the user's current address (after registering or changing
    /// it, or asking again while logged in).
    VerifyEmail { user_id: i64 },
    /// "Send the verification again" for an address, which may have no account.
    ResendVerification { email: String },
    /// A notice that the account's password changed.
    PasswordChanged { user_id: i64, email: String },
    /// A notice to the old address that the account's address changed.
    EmailChanged { user_id: i64, old_email: String },
}

/// What the queue holds: a job and which attempt at it this is. A failed attempt queues the
/// next one to run later (`run_at`), so a retry survives restarts, counts every attempt, and
/// holds no worker while it waits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued {
    pub job: Job,
    pub attempt: u32,
}

/// How many times apalis itself may hand one queued attempt to a worker: more than once
/// only when the worker running it died (then another runs it again).
const DELIVERIES: usize = 25;

impl Job {
    /// The kind, as `/metrics` and `larch jobs` name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::PasswordReset { .. } => "password_reset",
            Job::AdminPasswordReset { .. } => "admin_password_reset",
            Job::VerifyEmail { .. } => "verify_email",
            Job::ResendVerification { .. } => "resend_verification",
            Job::PasswordChanged { .. } => "password_changed",
            Job::EmailChanged { .. } => "email_changed",
        }
    }
}

/// Where the queue is.
#[derive(Clone)]
pub(crate) enum Store {
    Sqlite(sqlx_pool::Sqlite),
    Postgres(sqlx_pool::Postgres),
    Redis(ConnectionManager),
}

/// The pool types of sea-orm's sqlx, named once.
pub(crate) mod sqlx_pool {
    pub type Sqlite = apalis_sqlite::SqlitePool;
    pub type Postgres = apalis_postgres::PgPool;
}

/// The handle requests push jobs through. Cheap to clone.
#[derive(Clone)]
pub struct Jobs {
    store: Store,
    config: JobsConfig,
}

impl Jobs {
    /// The queue for this configuration: Redis when `JOBS_URL` is set, else larch's own
    /// database. `None` on MySQL without `JOBS_URL`: there is nowhere to keep jobs, so
    /// nothing that needs one (email) is offered.
    pub async fn connect(
        config: &JobsConfig,
        db: &DatabaseConnection,
    ) -> anyhow::Result<Option<Self>> {
        let store = match (&config.url, db.get_database_backend()) {
            (Some(url), _) => Store::Redis(
                apalis_redis::connect(url.as_str())
                    .await
                    .with_context(|| format!("connecting to JOBS_URL {}", redact_url(url)))?,
            ),
            (None, DbBackend::Sqlite) => Store::Sqlite(db.get_sqlite_connection_pool().clone()),
            (None, DbBackend::Postgres) => {
                Store::Postgres(db.get_postgres_connection_pool().clone())
            }
            (None, _) => return Ok(None),
        };
        Ok(Some(Jobs {
            store,
            config: config.clone(),
        }))
    }

    pub fn config(&self) -> &JobsConfig {
        &self.config
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// What to say at start about where jobs are kept.
    pub fn describe(&self) -> String {
        match &self.store {
            Store::Sqlite(_) => "background jobs are queued in the SQLite database".to_owned(),
            Store::Postgres(_) => {
                "background jobs are queued in the PostgreSQL database (schema apalis)".to_owned()
            }
            Store::Redis(_) => format!(
                "background jobs are queued in Redis at {}",
                redact_url(self.config.url.as_deref().unwrap_or_default())
            ),
        }
    }

    /// Queues `job` durably; it runs on some worker soon after. The only cost on the request
    /// path is this one write.
    pub async fn push(&self, job: Job) -> anyhow::Result<()> {
        let kind = job.kind();
        self.push_queued(Queued { job, attempt: 1 }, None).await?;
        record(&self.config.queue, kind, "queued");
        Ok(())
    }

    /// Queues `queued`, to run after `delay` if given.
    pub(crate) async fn push_queued(
        &self,
        queued: Queued,
        delay: Option<std::time::Duration>,
    ) -> anyhow::Result<()> {
        let mut task = TaskBuilder::new(queued).max_attempts(DELIVERIES);
        if let Some(delay) = delay {
            task = task.run_after(delay);
        }
        let task = task.build();
        match &self.store {
            Store::Sqlite(pool) => {
                let mut storage =
                    SqliteStorage::<Queued>::new(pool).with_config(sqlite_config(&self.config));
                storage
                    .push_task(task)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            Store::Postgres(pool) => {
                let mut storage =
                    PostgresStorage::<Queued>::new(pool).with_config(postgres_config(&self.config));
                storage
                    .push_task(task)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            Store::Redis(conn) => {
                let mut storage = RedisStorage::<Queued, ConnectionManager>::new(conn.clone())
                    .with_config(redis_config(&self.config));
                storage
                    .push_task(task)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
        }
        Ok(())
    }

    /// How long attempt `attempt` (1-based) waits before the next: `JOBS_RETRY_MIN_MS`
    /// doubling each time up to `JOBS_RETRY_MAX_SECONDS`, plus up to half again at random
    /// (so jobs that failed together do not all come back together).
    pub fn backoff(&self, attempt: u32) -> std::time::Duration {
        let doubled = self
            .config
            .retry_min
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let base = doubled.min(self.config.retry_max);
        base + base.mul_f64(rand::random::<f64>() * 0.5)
    }
}

/// The counter of jobs by queue, kind and outcome: `queued`, `succeeded`, `retried` (an
/// attempt after the first began), `failed` (for good: permanently, or on its last attempt).
pub const JOBS_TOTAL: &str = "jobs_total";

pub(crate) fn record(queue: &str, kind: &'static str, outcome: &'static str) {
    ::metrics::describe_counter!(
        JOBS_TOTAL,
        "Background jobs by queue, kind and outcome (queued, succeeded, retried, failed)"
    );
    ::metrics::counter!(JOBS_TOTAL, "queue" => queue.to_owned(), "kind" => kind, "outcome" => outcome)
        .increment(1);
}

/// apalis' own tables (`Jobs` and `Workers` on SQLite; schema `apalis` on PostgreSQL, with
/// the `hstore` extension), created or brought up to date. Not apalis' `setup` on SQLite:
/// that would also turn off `synchronous` on one of larch's connections.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    match db.get_database_backend() {
        DbBackend::Sqlite => SqliteStorage::<()>::migrations()
            .run(db.get_sqlite_connection_pool())
            .await
            .context("creating the job queue's tables")?,
        DbBackend::Postgres => PostgresStorage::<()>::setup(db.get_postgres_connection_pool())
            .await
            .context("creating the job queue's tables (schema apalis)")?,
        _ => {}
    }
    Ok(())
}

/// One job fetched at a time: a worker holding fetched jobs stops sending heartbeats, and
/// another would then run them too.
const BATCH: usize = 1;

fn sqlite_config(config: &JobsConfig) -> apalis_sqlite::Config {
    apalis_sqlite::Config::default()
        .queue(&config.queue)
        .batch_size(BATCH)
        .heartbeat_interval(config.heartbeat)
        .missed_heartbeats(2)
}

fn postgres_config(config: &JobsConfig) -> apalis_postgres::Config {
    apalis_postgres::Config::default()
        .queue(&config.queue)
        .batch_size(BATCH)
        .heartbeat_interval(config.heartbeat)
        .missed_heartbeats(2)
}

fn redis_config(config: &JobsConfig) -> apalis_redis::Config {
    apalis_redis::Config::default()
        .queue(&config.queue)
        .batch_size(BATCH)
        .heartbeat_interval(config.heartbeat)
        .missed_heartbeats(2)
}
