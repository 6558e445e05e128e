//! Starts the application: migrations, the pool, the listener, and the server's life until
//! shutdown. The router every request goes through (the same for the binary and the tests)
//! is `router::app`.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::ServiceExt;
use axum::extract::Request;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::db::redact_url;
use crate::migration::Migrator;
use crate::session_lifetime::SessionLifetime;
use crate::state::AppState;
use crate::{db, idempotency, rate_limit, router, sessions};

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

    /// Serves until `shutdown` completes, then lets in-flight requests finish.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let housekeeping = tokio::spawn(housekeeping(self.state.clone()));
        let app = router::service(self.state.clone());
        let result = axum::serve(
            self.listener,
            ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(app),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        housekeeping.abort();
        self.state.db.clone().close().await.ok();
        result.context("serving HTTP")
    }
}

/// Periodic clean-up that never blocks a request, every five minutes.
async fn housekeeping(state: AppState) {
    let mut every = tokio::time::interval(Duration::from_secs(300));
    loop {
        every.tick().await;
        housekeep_once(&state).await;
    }
}

/// One round of clean-up: ended sessions (with their refresh tokens), expired refresh-token
/// rows, expired idempotency keys and ended rate-limit windows. Failures are logged and
/// retried next round.
pub async fn housekeep_once(state: &AppState) {
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
    match sessions::refresh_tokens::delete_expired(db, cutoff).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(deleted = n, "expired refresh tokens removed"),
        Err(e) => tracing::warn!(error = %e, "removing expired refresh tokens failed"),
    }
    match idempotency::delete_expired(db, now).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(deleted = n, "expired idempotency keys removed"),
        Err(e) => tracing::warn!(error = %e, "removing expired idempotency keys failed"),
    }
    if let Err(e) = rate_limit::delete_expired(db, now.timestamp()).await {
        tracing::warn!(error = %e, "removing old rate-limit counters failed");
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
