//! Starts the application: migrations, the pool, the listener, and the server's life until
//! shutdown (connections themselves are `server`'s). The router every request goes through
//! (the same for the binary and the tests) is `router::app`.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::db::redact_url;
use crate::jobs::{self, Jobs, Workers};
use crate::mail::Mailer;
use crate::migration::{Applied, Migrator};
use crate::recovery::emails::EmailJobs;
use crate::session_lifetime::SessionLifetime;
use crate::state::AppState;
use crate::{db, email_tokens, idempotency, rate_limit, router, server, sessions};

/// Applies pending migrations (unless told not to), then opens the serving pool.
pub async fn connect_database(
    config: &Config,
    migrate: bool,
) -> anyhow::Result<DatabaseConnection> {
    if migrate && db::is_in_memory(&config.database_url) {
        // An in-memory database lives on its single connection: migrate that one.
        let db = db::connect(&config.database_url, 1).await?;
        Migrator::up(&db, None)
            .await
            .context("applying migrations")?;
        jobs::migrate(&db).await?;
        return Ok(db);
    }
    if migrate {
        // On one connection of its own, closed before serving: a SQLite connection that
        // read the schema halfway through the migrations could otherwise keep a stale copy
        // and refuse statements (an upsert whose unique index it has not seen) at parse time.
        let migrator = db::connect(&config.database_url, 1).await?;
        Migrator::up(&migrator, None)
            .await
            .context("applying migrations")?;
        jobs::migrate(&migrator).await?;
        migrator
            .close()
            .await
            .context("closing the migration connection")?;
    }
    db::connect(&config.database_url, config.database_max_connections).await
}

/// With `--no-migrate`, the migrations are someone else's step; a binary started before it
/// ran would read tables without the columns it needs and answer `500`s. It stops instead,
/// and says what to run. Read only: the role that serves may have no right to create
/// tables, so sea-orm's own status (which first creates its table) is not used. A database
/// ahead of the binary (a newer version migrated it: a rollback, or the old half of a
/// rolling deploy) is served, with a warning, as before: migrations only add.
async fn refuse_a_schema_behind(db: &DatabaseConnection, url: &str) -> anyhow::Result<()> {
    let Applied {
        pending, unknown, ..
    } = Applied::read(db)
        .await
        .context("reading which migrations are applied")?;
    if !unknown.is_empty() {
        tracing::warn!(
            migrations = unknown.join(", "),
            "the database has migrations this binary does not know (a newer version's): serving"
        );
    }
    if pending.is_empty() {
        return Ok(());
    }
    if db::is_in_memory(url) {
        anyhow::bail!(
            "an in-memory database has no tables until migrated: serve it without --no-migrate"
        );
    }
    anyhow::bail!(
        "the database lacks {} migration(s) this binary needs ({}): run `larch migrate up` \
         first, or start `larch serve` without --no-migrate",
        pending.len(),
        pending.join(", ")
    )
}

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    mailer: Option<Mailer>,
    run_workers: bool,
}

/// The state every process needs (the pool, the job queue) and the mailer its workers
/// send with; says at start where jobs and emails go.
pub async fn build_state(
    config: Config,
    migrate: bool,
) -> anyhow::Result<(AppState, Option<Mailer>)> {
    let db = connect_database(&config, migrate).await?;
    if !migrate {
        refuse_a_schema_behind(&db, &config.database_url).await?;
    }
    let jobs = Jobs::connect(&config.jobs, &db).await?;
    let mailer = Mailer::from_config(&config.mail, config.environment)?;
    match &jobs {
        Some(jobs) => tracing::info!("{}", jobs.describe()),
        None => tracing::warn!(
            "no queue for background jobs: on MySQL, set JOBS_URL=redis://…; until then no \
             email is sent and the endpoints that send email answer 503"
        ),
    }
    let about_mail = Mailer::describe(mailer.as_ref(), &config.mail);
    match &mailer {
        Some(Mailer::Smtp { .. }) => tracing::info!("{about_mail}"),
        _ => tracing::warn!("{about_mail}"),
    }
    let sends_email = mailer.is_some();
    Ok((
        AppState::new(config, db).with_jobs(jobs, sends_email),
        mailer,
    ))
}

/// Starts the background workers of this process: the job worker (when there is a queue
/// and a mailer) and the housekeeping schedule. They run until `stop` turns true.
pub fn start_workers(
    state: &AppState,
    mailer: Option<Mailer>,
    stop: watch::Receiver<bool>,
) -> Workers {
    let job_queue = match (&state.jobs, mailer) {
        (Some(jobs), Some(mailer)) => Some((jobs, mailer)),
        _ => None,
    };
    let perform = job_queue.as_ref().map(|(_, mailer)| {
        EmailJobs::new(
            state.db.clone(),
            state.config.mail.clone(),
            mailer.clone(),
            state.config.jobs.attempt_timeout,
        ) as std::sync::Arc<dyn jobs::Perform>
    });
    let housekeeping: jobs::Housekeeping = {
        let state = state.clone();
        let stop = stop.clone();
        std::sync::Arc::new(move || {
            let state = state.clone();
            let stop = stop.clone();
            Box::pin(async move { housekeeping_round(&state, &stop).await })
        })
    };
    Workers::start(
        job_queue.map(|(jobs, _)| jobs).zip(perform),
        housekeeping,
        state.config.jobs.housekeeping_interval,
        stop,
    )
}

impl Application {
    pub async fn build(config: Config, migrate: bool) -> anyhow::Result<Self> {
        let (state, mailer) = build_state(config, migrate).await?;
        let config = state.config.clone();
        let listener = TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("binding {}", config.bind))?;
        tracing::info!(
            address = %listener.local_addr()?,
            database = %redact_url(&config.database_url),
            environment = ?config.environment,
            "larch listening"
        );
        Ok(Application {
            listener,
            state,
            mailer,
            run_workers: true,
        })
    }

    /// Serve without background workers (another process runs them: `larch worker`).
    pub fn without_workers(mut self) -> Self {
        self.run_workers = false;
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then shuts down within the grace period
    /// (`SHUTDOWN_GRACE_SECONDS`): `/readyz` turns `503`, no new connections, requests in
    /// flight finish, idle and slow connections are closed, housekeeping stops between two
    /// of its statements, the pool closes. Whatever is still open when the period ends is cut.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let config = &self.state.config;
        let (stop_workers, stop) = watch::channel(false);
        let workers = self
            .run_workers
            .then(|| start_workers(&self.state, self.mailer.clone(), stop));
        // Descriptors kept for the pool and the threads' own SQLite readers (three per
        // SQLite connection: the file, its WAL and shared memory), the listener, logs and
        // migrations.
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let reserved = 3 * (config.database_max_connections as usize + threads) + 32;
        let limits = server::Limits {
            header_read_timeout: config.header_read_timeout,
            keep_alive_timeout: config.keep_alive_timeout,
            max_connections: server::connection_cap(config.max_connections, reserved),
            drain: config.shutdown_drain,
            // Keeps a moment of the grace period for the housekeeping and the pool.
            grace: config.shutdown_grace.saturating_sub(CLOSING_TIME),
        };
        let grace = config.shutdown_grace;
        let state = self.state.clone();
        let outcome = server::serve(
            self.listener,
            router::service(self.state.clone()),
            limits,
            shutdown,
            move || {
                state.begin_shutdown();
                stop_workers.send_replace(true);
            },
        )
        .await;
        let deadline = outcome
            .shutdown_began
            .map_or_else(tokio::time::Instant::now, |began| began + grace);
        // Workers stop at a safe point: a job between attempts, housekeeping between two
        // statements (each atomic). Whatever is still running at the deadline is abandoned:
        // a statement is rolled back by the database, a job runs again on a worker later.
        if let Some(workers) = workers {
            workers.stopped(deadline).await;
        }
        let close = self.state.db.clone().close();
        let until = deadline.max(tokio::time::Instant::now() + Duration::from_millis(100));
        if tokio::time::timeout_at(until, close).await.is_err() {
            tracing::warn!("the database pool did not close in time");
        }
        tracing::info!(cut_connections = outcome.cut, "stopped");
        Ok(())
    }
}

/// The part of the grace period kept for stopping housekeeping and closing the pool, after
/// the connections.
const CLOSING_TIME: Duration = Duration::from_millis(500);

/// One round of clean-up, now (the periodic task runs the same).
pub async fn housekeep_once(state: &AppState) {
    let (_never, stop) = watch::channel(false);
    housekeeping_round(state, &stop).await;
}

/// One round of clean-up: ended sessions (with their refresh tokens), expired refresh-token
/// rows, expired idempotency keys and full rate-limit buckets. Failures are logged and
/// retried next round; `stop` turning true ends the round between two statements.
async fn housekeeping_round(state: &AppState, stop: &watch::Receiver<bool>) {
    let db = &state.db;
    let now = chrono::Utc::now();
    // Five minutes of grace, so that a request racing the end still finds its row.
    let cutoff = now - chrono::Duration::minutes(5);
    let lifetime = SessionLifetime::from_config(&state.config);
    match sessions::queries::delete_ended(db, &lifetime, cutoff).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(deleted = n, "ended sessions removed"),
        Err(e) => tracing::warn!(error = %e, "removing ended sessions failed"),
    }
    if *stop.borrow() {
        return;
    }
    match sessions::refresh_tokens::delete_expired(db, cutoff).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(deleted = n, "expired refresh tokens removed"),
        Err(e) => tracing::warn!(error = %e, "removing expired refresh tokens failed"),
    }
    if *stop.borrow() {
        return;
    }
    match idempotency::delete_expired(db, now).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(deleted = n, "expired idempotency keys removed"),
        Err(e) => tracing::warn!(error = %e, "removing expired idempotency keys failed"),
    }
    if *stop.borrow() {
        return;
    }
    if let Err(e) = rate_limit::delete_expired(db, now).await {
        tracing::warn!(error = %e, "removing full rate-limit buckets failed");
    }
    if *stop.borrow() {
        return;
    }
    match email_tokens::delete_spent(db, cutoff).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(deleted = n, "spent email tokens removed"),
        Err(e) => tracing::warn!(error = %e, "removing spent email tokens failed"),
    }
    if *stop.borrow() {
        return;
    }
    // Finished jobs are kept a week for `larch jobs` to show; failed ones until retried.
    if let Some(jobs) = &state.jobs {
        match jobs::admin::delete_done(jobs, now - chrono::Duration::days(7)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "finished jobs removed"),
            Err(e) => tracing::warn!(error = %e, "removing finished jobs failed"),
        }
    }
}

/// Runs only the background workers (`larch worker`) until `shutdown`, then stops them
/// within the grace period.
pub async fn run_workers_until(
    state: AppState,
    mailer: Option<Mailer>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if state.jobs.is_none() || mailer.is_none() {
        tracing::warn!("this worker has no job queue or no mailer: it runs only housekeeping");
    }
    let (stop_workers, stop) = watch::channel(false);
    let workers = start_workers(&state, mailer, stop);
    tracing::info!("larch worker running");
    shutdown.await;
    stop_workers.send_replace(true);
    let deadline = tokio::time::Instant::now() + state.config.shutdown_grace;
    workers.stopped(deadline).await;
    state.db.clone().close().await.ok();
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        tokio::signal::ctrl_c().await.ok();
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
