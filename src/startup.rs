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
use crate::migration::Migrator;
use crate::session_lifetime::SessionLifetime;
use crate::state::AppState;
use crate::{db, idempotency, rate_limit, router, server, sessions};

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
        migrator
            .close()
            .await
            .context("closing the migration connection")?;
    }
    db::connect(&config.database_url, config.database_max_connections).await
}

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    pub async fn build(config: Config, migrate: bool) -> anyhow::Result<Self> {
        let db = connect_database(&config, migrate).await?;
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
            state: AppState::new(config, db),
        })
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
        let (stop_housekeeping, stop) = watch::channel(false);
        let housekeeping = tokio::spawn(housekeeping(self.state.clone(), stop));
        // Descriptors kept for the pool (three per SQLite connection: the file, its WAL and
        // shared memory), the listener, logs and migrations.
        let reserved = 3 * config.database_max_connections as usize + 32;
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
                stop_housekeeping.send_replace(true);
            },
        )
        .await;
        let deadline = outcome
            .shutdown_began
            .map_or_else(tokio::time::Instant::now, |began| began + grace);
        // Housekeeping stops at its next safe point (between statements, each atomic); if
        // it is still in one statement at the deadline, that statement is abandoned and
        // rolled back by the database.
        let mut housekeeping = housekeeping;
        if tokio::time::timeout_at(deadline, &mut housekeeping)
            .await
            .is_err()
        {
            tracing::warn!("housekeeping did not stop in time; abandoning it");
            housekeeping.abort();
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

/// Periodic clean-up that never blocks a request, every five minutes. Stops when `stop`
/// turns true, at the next point between two statements.
async fn housekeeping(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(Duration::from_secs(300));
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        housekeeping_round(&state, &stop).await;
    }
}

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
