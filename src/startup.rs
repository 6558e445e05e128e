//! Builds the application: the router every request goes through (the same for the binary
//! and the tests), the listener, and the server's life until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::{Router, ServiceExt, middleware};
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use tokio::net::TcpListener;
use tower::{Layer, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::normalize_path::{NormalizePath, NormalizePathLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use crate::config::{Config, redact_url};
use crate::migration::Migrator;
use crate::state::AppState;
use crate::{auth, db, http};

/// The whole HTTP application for `state`: routes, then the layers every request passes.
pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    crate::metrics::init();
    let (api, _document) = crate::openapi::routes();
    let routes = api
        .fallback(http::route_not_found)
        // The later `route_layer` runs first: a bad id's 404 still carries its route.
        .route_layer(middleware::from_fn(http::reject_bad_ids))
        .route_layer(middleware::from_fn(http::record_route))
        .layer(DefaultBodyLimit::max(config.body_limit))
        .with_state(state);

    // Outermost first: every response, errors included, gets the request id and headers.
    let layers = ServiceBuilder::new()
        .layer(middleware::from_fn(http::request_context))
        .layer(security_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(security_header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(security_header(header::REFERRER_POLICY, "no-referrer"))
        .layer(security_header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ))
        .layer(security_header(header::CACHE_CONTROL, "no-store"))
        .option_layer(cors_layer(&config.cors_origins))
        .layer(middleware::from_fn(http::json_errors))
        .layer(CatchPanicLayer::custom(http::panic_response))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.request_timeout,
        ))
        .layer(RequestBodyLimitLayer::new(config.body_limit));
    routes.layer(layers)
}

/// The router behind trailing-slash normalisation (`/users/` is `/users`, no redirect),
/// which must run before routing and so wraps the router from outside.
pub fn service(state: AppState) -> NormalizePath<Router> {
    NormalizePathLayer::trim_trailing_slash().layer(router(state))
}

fn security_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// CORS is off unless origins are configured; then exactly those origins are allowed.
fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        // Checked by the configuration: every entry is a valid header value.
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_MATCH,
                header::IF_NONE_MATCH,
                HeaderName::from_static("idempotency-key"),
                http::REQUEST_ID.clone(),
            ])
            .expose_headers([
                header::ETAG,
                header::RETRY_AFTER,
                header::LOCATION,
                HeaderName::from_static(crate::idempotency::REPLAYED_HEADER),
                http::REQUEST_ID.clone(),
            ])
            .max_age(Duration::from_secs(600)),
    )
}

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
        let housekeeping = tokio::spawn(housekeeping(self.state.db.clone()));
        let app = service(self.state.clone());
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

/// Periodic clean-up that never blocks a request: expired refresh-token rows, expired
/// idempotency keys and ended rate-limit windows, every five minutes.
async fn housekeeping(db: DatabaseConnection) {
    let mut every = tokio::time::interval(Duration::from_secs(300));
    loop {
        every.tick().await;
        let cutoff = chrono::Utc::now() - chrono::Duration::minutes(5);
        match auth::refresh_tokens::delete_expired(&db, cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "expired refresh tokens removed"),
            Err(e) => tracing::warn!(error = %e, "removing expired refresh tokens failed"),
        }
        match crate::idempotency::delete_expired(&db, chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "expired idempotency keys removed"),
            Err(e) => tracing::warn!(error = %e, "removing expired idempotency keys failed"),
        }
        if let Err(e) = crate::rate_limit::delete_expired(&db, chrono::Utc::now().timestamp()).await
        {
            tracing::warn!(error = %e, "removing old rate-limit counters failed");
        }
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
