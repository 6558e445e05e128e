//! Serving HTTP/1.1 on a listener, with hyper's connection machinery driven directly (not
//! `axum::serve`, which gives hyper no timer and waits for every client at shutdown):
//!
//! - **Bounded waits.** A connection must deliver its first request head within the header
//!   timeout; a kept-alive connection must start its next request within the keep-alive
//!   timeout, then complete its head within the header timeout. Each connection's own task
//!   enforces both (`connection::Tracker`); hyper's `header_read_timeout`, on a
//!   `TokioTimer`, backs them up with their sum.
//! - **A cap on open connections.** At the cap, the connection that has gone longest
//!   without a request in progress (idle, or still dribbling its head) is closed to make
//!   room; if every connection is busy with a request, new ones wait in the listen backlog
//!   until one ends. Connections being served are never cut for a newcomer.
//! - **Shutdown with a deadline.** When `shutdown` completes: no more accepting (the
//!   listener is closed), requests in flight finish and their answers say
//!   `Connection: close`; idle connections are still served for the drain period, then
//!   closed; whatever is left when the grace period ends is cut, so the process exits in time
//!   whatever clients do.
//! - **hyper's own answers in JSON.** hyper answers a malformed request, or a head too large,
//!   itself (`400`, `431`, `414`) with an empty body; `automatic` rewrites those few bytes
//!   into the API's JSON error on their way to the socket.

mod automatic;
mod connection;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::header::CONNECTION;
use axum::http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tower::{Service, ServiceExt};

use connection::{CloseReason, ConnectionState, GuardedBody, Tracker, WatchedIo};

/// The largest request head (request line and headers) hyper buffers: beyond it, `431`.
/// It also bounds what one slow client can make the server hold.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How the server treats its connections.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub keep_alive_timeout: Duration,
    pub max_connections: usize,
    /// After shutdown begins, how long idle connections are still served.
    pub drain: Duration,
    /// After shutdown begins, when every remaining connection is cut.
    pub grace: Duration,
}

/// How serving ended.
#[derive(Debug, Default)]
pub struct Outcome {
    /// When the shutdown began (`None`: the listener failed).
    pub shutdown_began: Option<Instant>,
    /// Connections still open when the grace period ran out, cut.
    pub cut: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Serving,
    /// Not accepting; idle connections still served, every answer closing its connection.
    Draining,
    /// Idle connections closed; busy ones close after their current answer.
    Closing,
    /// The grace period is over: every connection is dropped.
    Cut,
}

/// Serves `app` on `listener` until `shutdown` completes, then shuts down as described in
/// the module documentation. `on_shutdown` runs the moment the shutdown begins (before the
/// listener closes), so that readiness can report it.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_shutdown: impl FnOnce() + Send + 'static,
) -> Outcome
where
    S: Service<Request<Incoming>, Response = Response<axum::body::Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let (phase_tx, phase) = watch::channel(Phase::Serving);
    let phase_tx = Arc::new(phase_tx);
    let draining = Arc::new(AtomicBool::new(false));
    {
        let (phase_tx, draining) = (phase_tx.clone(), draining.clone());
        tokio::spawn(async move {
            shutdown.await;
            on_shutdown();
            draining.store(true, Ordering::SeqCst);
            phase_tx.send_replace(Phase::Draining);
        });
    }

    let max = u32::try_from(limits.max_connections).unwrap_or(Semaphore::MAX_PERMITS as u32);
    let slots = Arc::new(Semaphore::new(max as usize));
    let tracker = Arc::new(Tracker::default());
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // The backstop for our own two limits (see `ConnectionState::deadline`): hyper starts
        // this clock as soon as it waits for a head, idle time included.
        .header_read_timeout(limits.header_read_timeout + limits.keep_alive_timeout)
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let builder = Arc::new(builder);

    let mut watch_phase = phase.clone();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = watch_phase.wait_for(|p| *p != Phase::Serving) => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                if !is_connection_error(&e) {
                    // Out of descriptors, say: the backlog keeps the connection; try again
                    // shortly rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                continue;
            }
        };
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                let waited = tokio::select! {
                    biased;
                    _ = watch_phase.wait_for(|p| *p != Phase::Serving) => None,
                    slot = make_room(&slots, &tracker) => Some(slot),
                };
                match waited {
                    Some(slot) => slot,
                    None => break,
                }
            }
        };
        let state = tracker.open();
        let task = Connection {
            app: app.clone(),
            builder: builder.clone(),
            limits,
            draining: draining.clone(),
            phase: phase.clone(),
        };
        tokio::spawn(async move {
            task.run(stream, peer, state).await;
            drop(slot);
        });
    }
    drop(listener);

    let began = Instant::now();
    let open = tracker.len();
    tracing::info!(
        open_connections = open,
        drain_seconds = limits.drain.as_secs_f64(),
        grace_seconds = limits.grace.as_secs_f64(),
        "shutting down: no new connections; finishing requests in flight"
    );
    let all_closed = slots.acquire_many(max);
    tokio::pin!(all_closed);
    let mut outcome = Outcome {
        shutdown_began: Some(began),
        cut: 0,
    };
    tokio::select! {
        _ = &mut all_closed => return outcome,
        () = tokio::time::sleep_until(began + limits.drain) => {}
    }
    phase_tx.send_replace(Phase::Closing);
    tokio::select! {
        _ = &mut all_closed => return outcome,
        () = tokio::time::sleep_until(began + limits.grace) => {}
    }
    outcome.cut = tracker.len();
    tracing::warn!(
        connections = outcome.cut,
        "grace period over: cutting the connections still open"
    );
    phase_tx.send_replace(Phase::Cut);
    // Each task drops its connection as soon as it sees the phase.
    let _ = tokio::time::timeout(Duration::from_secs(1), &mut all_closed).await;
    outcome
}

/// At the cap: closes the connection that has gone longest without a request in progress,
/// then waits for a slot; again every 250 ms while none frees up (when every connection is
/// busy, the newcomer waits for one of them to finish).
async fn make_room(slots: &Arc<Semaphore>, tracker: &Tracker) -> tokio::sync::OwnedSemaphorePermit {
    loop {
        if tracker.evict_longest_idle() {
            crate::metrics::record_connection_closed(CloseReason::Evicted.label());
        }
        tokio::select! {
            slot = slots.clone().acquire_owned() => {
                return slot.expect("the semaphore is never closed");
            }
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

/// Errors of one incoming connection (reset before it was accepted, …), not of the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// One connection's task: hyper serving it, watched for its deadlines and for the
/// shutdown phases.
struct Connection<S> {
    app: S,
    builder: Arc<hyper::server::conn::http1::Builder>,
    limits: Limits,
    draining: Arc<AtomicBool>,
    phase: watch::Receiver<Phase>,
}

impl<S> Connection<S>
where
    S: Service<Request<Incoming>, Response = Response<axum::body::Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    async fn run(mut self, stream: TcpStream, peer: SocketAddr, state: Arc<ConnectionState>) {
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(WatchedIo::new(stream, state.clone()));
        let (app, draining, requests) = (self.app.clone(), self.draining.clone(), state.clone());
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            let guard = requests.begin_request();
            request.extensions_mut().insert(ConnectInfo(peer));
            let answer = app.clone().oneshot(request);
            let draining = draining.clone();
            async move {
                let Ok(mut response) = answer.await;
                if draining.load(Ordering::Relaxed) {
                    response
                        .headers_mut()
                        .insert(CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(response.map(|body| GuardedBody::new(body, guard)))
            }
        });
        let connection = self.builder.serve_connection(io, service);
        tokio::pin!(connection);
        let mut closing = false;
        loop {
            let deadline = state.deadline(&self.limits);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                    return;
                }
                () = tokio::time::sleep_until(deadline) => {
                    // No request is in progress (or there would be no limit to exceed), so
                    // dropping the connection loses nothing: this task is the one that
                    // drives hyper, which is not running while this branch does.
                    if let Some(reason) = state.expired(&self.limits) {
                        tracing::debug!(%peer, reason = reason.label(), "closing a connection");
                        crate::metrics::record_connection_closed(reason.label());
                        return;
                    }
                }
                () = state.changed() => {}
                () = state.evicted(), if !closing => {
                    if state.awaits_head() {
                        return;
                    }
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                changed = self.phase.changed() => {
                    let phase = *self.phase.borrow_and_update();
                    if changed.is_err() || phase == Phase::Cut {
                        crate::metrics::record_connection_closed(CloseReason::Cut.label());
                        return;
                    }
                    if phase == Phase::Closing && !closing {
                        if state.awaits_head() {
                            return;
                        }
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
            }
        }
    }
}

/// Raises this process's soft limit on open files to its hard limit (as Go's runtime does),
/// and returns the limit now in force. `None` where it cannot be read.
pub fn raise_open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: plain system calls on a struct we own.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return None;
            }
            if limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: limit.rlim_max,
                    rlim_max: limit.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    limit = raised;
                }
            }
        }
        #[allow(clippy::unnecessary_cast)] // `rlim_t` is not `u64` on every platform.
        Some(limit.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The connection cap to use: `configured`, lowered (with a warning) so that the open
/// connections plus `reserved` descriptors (database connections, files, the listener) fit
/// under the process's open-file limit.
pub fn connection_cap(configured: usize, reserved: usize) -> usize {
    let Some(limit) = raise_open_file_limit() else {
        return configured;
    };
    let available = usize::try_from(limit)
        .unwrap_or(usize::MAX)
        .saturating_sub(reserved)
        .max(1);
    if configured > available {
        tracing::warn!(
            configured,
            open_file_limit = limit,
            using = available,
            "MAX_CONNECTIONS does not fit under the open-file limit (ulimit -n); lowering it"
        );
        available
    } else {
        configured
    }
}
