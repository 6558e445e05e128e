//! `GET /metrics`: Prometheus text. Request counts and latency histograms labelled by method,
//! route *template* (`/users/{id}`, never the raw path, so label values stay bounded) and
//! status; database pool gauges read at scrape time; and a counter of rate-limited requests.

use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sea_orm::{DatabaseConnection, DbBackend};

use crate::state::AppState;

pub const REQUESTS: &str = "http_requests_total";
pub const DURATION: &str = "http_request_duration_seconds";
pub const RATE_LIMITED: &str = "rate_limited_requests_total";
pub const OPEN_CONNECTIONS: &str = "http_open_connections";
pub const CONNECTIONS_CLOSED: &str = "http_connections_closed_total";

/// Latency buckets, seconds: from a cached read to a slow Argon2id login.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide recorder (the `metrics` facade has one global recorder; every app in a
/// test process shares it).
fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(DURATION.to_owned()), BUCKETS)
            // Refused only for an empty list, which BUCKETS is not.
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; then ours just stays empty.
        let _ = metrics::set_global_recorder(recorder);
        // Histogram samples are kept raw until upkeep folds them into buckets; without it
        // they pile up between scrapes (measured: ~25 bytes a request, RSS growing without
        // end when nobody scrapes /metrics).
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("larch-metrics".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "metrics upkeep not started: histograms grow until scraped");
        }
        handle
    })
}

/// Starts recording; called once when the app is built.
pub fn init() {
    handle();
    metrics::describe_counter!(
        REQUESTS,
        "HTTP requests answered, by method, route template and status"
    );
    metrics::describe_histogram!(
        DURATION,
        metrics::Unit::Seconds,
        "Time to answer an HTTP request"
    );
    metrics::describe_counter!(
        RATE_LIMITED,
        "Requests refused with 429 by the auth rate limit, by route"
    );
    metrics::describe_gauge!(OPEN_CONNECTIONS, "Client connections open now");
    metrics::describe_counter!(
        CONNECTIONS_CLOSED,
        "Client connections the server closed on its own, by reason"
    );
}

/// Records one answered request. `route` is the matched template, `None` for no route.
pub fn record_request(method: &Method, route: Option<&str>, status: u16, elapsed: Duration) {
    let method = match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        // Anything else a client makes up stays one label value.
        _ => "OTHER",
    };
    let labels = [
        ("method", method.to_owned()),
        ("route", route.unwrap_or("unmatched").to_owned()),
        ("status", status.to_string()),
    ];
    metrics::counter!(REQUESTS, &labels).increment(1);
    metrics::histogram!(DURATION, &labels).record(elapsed.as_secs_f64());
}

pub fn connection_opened() {
    metrics::gauge!(OPEN_CONNECTIONS).increment(1.0);
}

pub fn connection_closed() {
    metrics::gauge!(OPEN_CONNECTIONS).decrement(1.0);
}

/// The server closed a connection: `header_timeout`, `keep_alive_timeout`,
/// `evicted_at_cap` or `shutdown_deadline`.
pub fn record_connection_closed(reason: &'static str) {
    metrics::counter!(CONNECTIONS_CLOSED, "reason" => reason).increment(1);
}

pub fn record_rate_limited(route: &str) {
    metrics::counter!(RATE_LIMITED, "route" => route.to_owned()).increment(1);
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format",
        content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let handle = handle();
    handle.run_upkeep();
    let mut text = handle.render();
    text.push_str(&pool_gauges(&state.db));
    text.push_str(&job_gauges(&state).await);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

/// The job queue now, by kind and state (`queued`, `running`, `done`, `failed` for good):
/// read from the queue at scrape time, so every instance reports the shared queue.
async fn job_gauges(state: &AppState) -> String {
    let Some(jobs) = &state.jobs else {
        return String::new();
    };
    let counts = match crate::jobs::admin::counts(jobs).await {
        Ok(counts) => counts,
        Err(e) => {
            tracing::warn!(error = %e, "reading the job queue for /metrics failed");
            return String::new();
        }
    };
    let queue = &jobs.config().queue;
    let mut text = String::from(
        "# HELP jobs_in_queue Background jobs in the queue now, by kind and state\n\
         # TYPE jobs_in_queue gauge\n",
    );
    for count in counts {
        text.push_str(&format!(
            "jobs_in_queue{{queue=\"{queue}\",kind=\"{}\",state=\"{}\"}} {}\n",
            count.kind, count.state, count.jobs
        ));
    }
    text
}

/// The pool's state now, in Prometheus text (read at scrape time rather than kept as gauges
/// that would go stale between requests).
fn pool_gauges(db: &DatabaseConnection) -> String {
    let (size, idle, max) = match db.get_database_backend() {
        DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            )
        }
        DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            )
        }
        DbBackend::MySql => {
            let pool = db.get_mysql_connection_pool();
            (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            )
        }
        _ => return String::new(),
    };
    let idle = idle as u32;
    let backend = crate::db::backend_name(db);
    format!(
        "# HELP db_pool_connections Open database connections, by state\n\
         # TYPE db_pool_connections gauge\n\
         db_pool_connections{{backend=\"{backend}\",state=\"idle\"}} {idle}\n\
         db_pool_connections{{backend=\"{backend}\",state=\"in_use\"}} {in_use}\n\
         # HELP db_pool_max_connections The pool's size limit\n\
         # TYPE db_pool_max_connections gauge\n\
         db_pool_max_connections{{backend=\"{backend}\"}} {max}\n",
        in_use = size.saturating_sub(idle),
    )
}
