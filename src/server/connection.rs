//! What the server knows about each open connection: whether a request is in progress,
//! since when it has been idle, when the head of its next request began to arrive; the
//! deadlines that follow from that; and the registry the accept loop picks a connection to
//! close from when it is at the cap.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::Limits;
use super::automatic::AutomaticAnswer;

/// Why the server closed a connection (a label of `http_connections_closed_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The request head did not arrive in time.
    HeaderTimeout,
    /// Idle longer than the keep-alive timeout.
    KeepAlive,
    /// Closed to make room for a new connection at the cap.
    Evicted,
    /// Still open when the shutdown's grace period ended.
    Cut,
}

impl CloseReason {
    pub fn label(self) -> &'static str {
        match self {
            CloseReason::HeaderTimeout => "header_timeout",
            CloseReason::KeepAlive => "keep_alive_timeout",
            CloseReason::Evicted => "evicted_at_cap",
            CloseReason::Cut => "shutdown_deadline",
        }
    }
}

/// Every open connection, for the accept loop: how many, and which to close at the cap.
#[derive(Default)]
pub struct Tracker {
    /// Weak, so that a connection's state (and with it its entry) goes when its task ends.
    connections: Mutex<HashMap<u64, Weak<ConnectionState>>>,
    next_id: AtomicU64,
}

impl Tracker {
    /// Registers a new connection; it leaves the registry when its state is dropped.
    pub fn open(self: &Arc<Self>) -> Arc<ConnectionState> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(ConnectionState {
            id,
            tracker: Arc::downgrade(self),
            busy: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            idle_since_ms: AtomicU64::new(now_ms()),
            head_started_ms: AtomicU64::new(NONE),
            evict: Notify::new(),
            evicting: AtomicBool::new(false),
            changed: Notify::new(),
        });
        self.lock().insert(id, Arc::downgrade(&state));
        crate::metrics::connection_opened();
        state
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Asks the connection that has gone longest with no request in progress to close.
    /// `false` when every connection is busy.
    pub fn evict_longest_idle(&self) -> bool {
        // Upgraded outside the lock: dropping the last reference to a state takes the lock.
        let connections: Vec<Weak<ConnectionState>> = self.lock().values().cloned().collect();
        let candidate = connections
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|c| c.busy.load(Ordering::SeqCst) == 0 && !c.evicting.load(Ordering::SeqCst))
            .min_by_key(|c| c.idle_since_ms.load(Ordering::SeqCst));
        match candidate {
            Some(connection) => {
                connection.evicting.store(true, Ordering::SeqCst);
                connection.evict.notify_one();
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Weak<ConnectionState>>> {
        self.connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

const NONE: u64 = u64::MAX;

/// The instant connection times count from (milliseconds, so they fit in atomics).
fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    u64::try_from(epoch().elapsed().as_millis()).unwrap_or(NONE - 1)
}

fn at(ms: u64) -> Instant {
    epoch() + std::time::Duration::from_millis(ms)
}

/// One connection's state. Times are milliseconds since `epoch()`.
pub struct ConnectionState {
    id: u64,
    tracker: Weak<Tracker>,
    /// Requests in progress (from the head parsed to the answer's body sent).
    busy: AtomicUsize,
    /// Requests answered so far.
    served: AtomicU64,
    /// When the last request finished (before the first: when the connection opened).
    idle_since_ms: AtomicU64,
    /// When the first byte of the next head arrived, while idle (`NONE`: not yet).
    head_started_ms: AtomicU64,
    evict: Notify,
    evicting: AtomicBool,
    /// Signalled when the deadline may have moved earlier (a head began, a request ended).
    changed: Notify,
}

impl ConnectionState {
    /// Bytes arrived from the client.
    fn on_bytes(&self) {
        if self.busy.load(Ordering::SeqCst) == 0 {
            let now = now_ms();
            let began = self.head_started_ms.compare_exchange(
                NONE,
                now,
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
            if began.is_ok() {
                self.changed.notify_one();
            }
        }
    }

    pub fn is_idle(&self) -> bool {
        self.busy.load(Ordering::SeqCst) == 0
    }

    /// Waiting for a request head with nothing of an answer left to send: its first head, or
    /// a later one that has started to arrive. Such a connection can be dropped outright;
    /// hyper's own graceful shutdown leaves it open until its header timeout (it only closes
    /// a connection it considers idle between two requests).
    pub fn awaits_head(&self) -> bool {
        self.is_idle()
            && (self.served.load(Ordering::SeqCst) == 0
                || self.head_started_ms.load(Ordering::SeqCst) != NONE)
    }

    /// A request's head has been read: it is in progress until the guard is dropped (once
    /// its answer's body has been sent, or the request abandoned).
    pub fn begin_request(self: &Arc<Self>) -> RequestGuard {
        self.busy.fetch_add(1, Ordering::SeqCst);
        self.head_started_ms.store(NONE, Ordering::SeqCst);
        RequestGuard {
            state: self.clone(),
        }
    }

    /// When this connection should next be looked at: the moment it would exceed a limit
    /// if nothing happens; while a request is in progress, a keep-alive period from now
    /// (requests themselves are bounded by the request timeout, not here).
    ///
    /// - The first request's head must be complete within the header timeout of the
    ///   connection opening.
    /// - Later, the next request must begin within the keep-alive timeout of the previous
    ///   answer, and its head be complete within the header timeout of its first byte.
    pub fn deadline(&self, limits: &Limits) -> Instant {
        self.limit(limits)
            .map_or_else(|| Instant::now() + limits.keep_alive_timeout, |(at, _)| at)
    }

    /// Whether the connection has exceeded a limit now, and which.
    pub fn expired(&self, limits: &Limits) -> Option<CloseReason> {
        let (at, reason) = self.limit(limits)?;
        (Instant::now() >= at).then_some(reason)
    }

    fn limit(&self, limits: &Limits) -> Option<(Instant, CloseReason)> {
        if !self.is_idle() {
            return None;
        }
        let head_started = self.head_started_ms.load(Ordering::SeqCst);
        if head_started != NONE {
            return Some((
                at(head_started) + limits.header_read_timeout,
                CloseReason::HeaderTimeout,
            ));
        }
        let idle_since = at(self.idle_since_ms.load(Ordering::SeqCst));
        if self.served.load(Ordering::SeqCst) == 0 {
            Some((
                idle_since + limits.header_read_timeout,
                CloseReason::HeaderTimeout,
            ))
        } else {
            Some((
                idle_since + limits.keep_alive_timeout,
                CloseReason::KeepAlive,
            ))
        }
    }

    /// Completes when the deadline may have moved earlier: look again.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Completes when the accept loop picks this connection to close.
    pub async fn evicted(&self) {
        self.evict.notified().await;
    }
}

impl Drop for ConnectionState {
    fn drop(&mut self) {
        if let Some(tracker) = self.tracker.upgrade() {
            tracker.lock().remove(&self.id);
        }
        crate::metrics::connection_closed();
    }
}

/// A request in progress on its connection (see `ConnectionState::begin_request`).
pub struct RequestGuard {
    state: Arc<ConnectionState>,
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let state = &self.state;
        state.idle_since_ms.store(now_ms(), Ordering::SeqCst);
        state.served.fetch_add(1, Ordering::SeqCst);
        state.busy.fetch_sub(1, Ordering::SeqCst);
        state.changed.notify_one();
    }
}

/// An answer's body that keeps its request counted as in progress until hyper has sent it
/// (and dropped it).
pub struct GuardedBody {
    body: Body,
    _guard: RequestGuard,
}

impl GuardedBody {
    pub fn new(body: Body, guard: RequestGuard) -> Self {
        GuardedBody {
            body,
            _guard: guard,
        }
    }
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The socket, seen by hyper: notes when bytes arrive (the start of a head) and replaces
/// hyper's own empty-bodied error answers with JSON ones (`automatic`).
pub struct WatchedIo {
    stream: TcpStream,
    state: Arc<ConnectionState>,
    automatic: AutomaticAnswer,
}

impl WatchedIo {
    pub fn new(stream: TcpStream, state: Arc<ConnectionState>) -> Self {
        WatchedIo {
            stream,
            state,
            automatic: AutomaticAnswer::default(),
        }
    }
}

impl AsyncRead for WatchedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.on_bytes();
        }
        result
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let idle = this.state.is_idle();
        this.automatic.poll_write(&mut this.stream, cx, buf, idle)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let idle = this.state.is_idle();
        this.automatic
            .poll_write_vectored(&mut this.stream, cx, bufs, idle)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        this.automatic.poll_flush(&mut this.stream, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.automatic.poll_flush(&mut this.stream, cx))?;
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}
