//! Reads on PostgreSQL and MySQL on connections held outside sqlx's pool.
//!
//! sqlx pings every connection as it goes back to its pool (sqlx-core 0.9's
//! `return_to_pool`, whatever the pool's options say): a second round trip, a wake-up of
//! the database server and of a tokio task, for each read by id. Measured under load, that
//! ping was half of larch's `send(2)` time on PostgreSQL. The reads made outside any
//! transaction (`reads`) therefore run on a small set of connections of their own, opened
//! with the pool's options and kept here between reads, with their statements prepared.
//!
//! They keep what the pool guarantees: a connection idle for a second is pinged before use
//! (a server restart or a proxy may have cut it); one that fails, or whose read is
//! abandoned half-way (the client went away), is dropped, never reused; a read that cannot
//! get a connection here within a second (all lent for that long, or the server cannot be
//! reached) goes through the pool instead, with its acquire timeout and its `503`. Writes and transactions
//! never come here.
//!
//! The set belongs to the `AppState` that registered it and closes with it: a process that
//! serves several apps (the tests) finds each pool's set by the pool's identity.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use sea_orm::sqlx::{self, Connection};
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a read waits for a connection here (for one to come back, a ping, or opening
/// one) before it takes the pool's way: what a dead server adds to the pool's own acquire
/// timeout, at most.
const LEASE_BUDGET: Duration = Duration::from_secs(1);

/// PostgreSQL re-plans a prepared statement with its parameters on every run unless a
/// generic plan looks no dearer, and for a page (`LIMIT $n OFFSET $m`, a counter and an
/// author per row) it never does: planning was a third of a list's database CPU. Most reads
/// that come here have plans that do not depend on their values (a key, a page's offset, a
/// user's posts), so their connections plan each statement once. Searches, whose best plan
/// depends on the pattern (a `LIKE`'s selectivity), do not come here (`reads::held_read`).
/// A product list filtered by price does, with a plan that cannot see how wide the range
/// is; its pages and totals are cached against the product-changes counter
/// (`row_counts::cache`), so it is read only after a product changes.
///
/// JIT compilation is off on them too: a generic plan's cost is estimated without its
/// `LIMIT`, so at a million posts a page of 20 crossed `jit_above_cost` and compiled
/// expressions for 85 ms on every run (measured); a read by key never gains from it.
const SESSION_SETUP_POSTGRES: &str = "SET plan_cache_mode = force_generic_plan; SET jit = off";

/// The held connections of one pool.
pub struct HeldConnections<DB: sqlx::Database> {
    pool: sqlx::Pool<DB>,
    /// Run on each connection as it is opened (`SESSION_SETUP_POSTGRES`).
    session_setup: Option<&'static str>,
    idle: Mutex<Vec<(DB::Connection, Instant)>>,
    /// One per connection that may be lent at once: a connection is opened only by a read
    /// holding one and finding none idle, so there are never more than this many open.
    permits: Arc<Semaphore>,
    /// What `read_batches` keeps for this pool, by the name of each batched read (a keyed
    /// read's statement).
    batches: Mutex<HashMap<&'static str, Arc<dyn Any + Send + Sync>>>,
}

/// The held connections of an app's PostgreSQL or MySQL pool; dropping it closes them.
pub enum Held {
    Postgres(HeldConnections<sqlx::Postgres>),
    MySql(HeldConnections<sqlx::MySql>),
}

/// The sets of the apps alive in this process, by the identity of their pool.
static REGISTRY: Mutex<Vec<(usize, Weak<Held>)>> = Mutex::new(Vec::new());

fn pool_key<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> usize {
    // The options live as long as the pool, and each pool has its own.
    Arc::as_ptr(&pool.connect_options()) as *const () as usize
}

/// Held connections for `db`'s reads, at most `max` of them: `None` for SQLite (which has
/// its own way, `sqlite_reader`) and when `max` is 0. Keep the result as long as the pool serves: the
/// connections close when it is dropped.
pub fn register(db: &DatabaseConnection, max: usize) -> Option<Arc<Held>> {
    if max == 0 {
        return None;
    }
    let (held, key) = match db.get_database_backend() {
        DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool().clone();
            let key = pool_key(&pool);
            let set = HeldConnections::new(pool, max, Some(SESSION_SETUP_POSTGRES));
            (Held::Postgres(set), key)
        }
        DbBackend::MySql => {
            let pool = db.get_mysql_connection_pool().clone();
            let key = pool_key(&pool);
            (Held::MySql(HeldConnections::new(pool, max, None)), key)
        }
        _ => return None,
    };
    let held = Arc::new(held);
    let mut registry = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    registry.retain(|(_, set)| set.strong_count() > 0);
    registry.push((key, Arc::downgrade(&held)));
    Some(held)
}

/// Whether `db` has held connections for its reads (PostgreSQL and MySQL, unless
/// `DATABASE_READ_CONNECTIONS=0`).
pub fn holds_reads(db: &DatabaseConnection) -> bool {
    held_of(db).is_some()
}

/// `db`'s held set, if it has one.
fn held_of(db: &DatabaseConnection) -> Option<Arc<Held>> {
    let key = match db.get_database_backend() {
        DbBackend::Postgres => pool_key(db.get_postgres_connection_pool()),
        DbBackend::MySql => pool_key(db.get_mysql_connection_pool()),
        _ => return None,
    };
    find(key)
}

/// The state named `name` that `read_batches` keeps beside `db`'s held connections (made by
/// `make` the first time), or `None` where reads are not held (SQLite, or
/// `DATABASE_READ_CONNECTIONS=0`): reads are then made one by one.
pub fn batch_state<T: Any + Send + Sync>(
    db: &DatabaseConnection,
    name: &'static str,
    make: impl FnOnce() -> T,
) -> Option<Arc<T>> {
    let held = held_of(db)?;
    let batches = match held.as_ref() {
        Held::Postgres(set) => &set.batches,
        Held::MySql(set) => &set.batches,
    };
    let mut batches = batches.lock().unwrap_or_else(|p| p.into_inner());
    let state = batches
        .entry(name)
        .or_insert_with(|| Arc::new(make()))
        .clone();
    state.downcast().ok()
}

fn find(key: usize) -> Option<Arc<Held>> {
    let registry = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    registry
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, set)| set.upgrade())
}

/// A connection lent for one read: give it back when the read succeeded; dropped otherwise
/// (a failed or abandoned read leaves it in an unknown state). Either way its permit goes
/// back.
pub struct Lease<DB: sqlx::Database> {
    conn: DB::Connection,
    held: Arc<Held>,
    set: fn(&Held) -> Option<&HeldConnections<DB>>,
    _permit: OwnedSemaphorePermit,
}

impl<DB: sqlx::Database> Lease<DB> {
    pub fn conn(&mut self) -> &mut DB::Connection {
        &mut self.conn
    }

    pub fn give_back(self) {
        if let Some(set) = (self.set)(&self.held) {
            set.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((self.conn, Instant::now()));
        }
    }
}

fn postgres_set(held: &Held) -> Option<&HeldConnections<sqlx::Postgres>> {
    match held {
        Held::Postgres(set) => Some(set),
        Held::MySql(_) => None,
    }
}

fn mysql_set(held: &Held) -> Option<&HeldConnections<sqlx::MySql>> {
    match held {
        Held::MySql(set) => Some(set),
        Held::Postgres(_) => None,
    }
}

/// A held connection to `db`'s PostgreSQL server, or `None`: the read then takes the pool.
pub async fn postgres(db: &DatabaseConnection) -> Option<Lease<sqlx::Postgres>> {
    let held = find(pool_key(db.get_postgres_connection_pool()))?;
    lease(held, postgres_set).await
}

/// A held connection to `db`'s MySQL server, or `None`: the read then takes the pool.
pub async fn mysql(db: &DatabaseConnection) -> Option<Lease<sqlx::MySql>> {
    let held = find(pool_key(db.get_mysql_connection_pool()))?;
    lease(held, mysql_set).await
}

async fn lease<DB: sqlx::Database>(
    held: Arc<Held>,
    set: fn(&Held) -> Option<&HeldConnections<DB>>,
) -> Option<Lease<DB>>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    // However the server answers (or fails to), a read waits here at most this long before
    // taking the pool's way, with the pool's own acquire timeout.
    tokio::time::timeout(LEASE_BUDGET, lease_within(held, set))
        .await
        .ok()
        .flatten()
}

/// A permit, then an idle connection that answers, or a new one.
async fn lease_within<DB: sqlx::Database>(
    held: Arc<Held>,
    set: fn(&Held) -> Option<&HeldConnections<DB>>,
) -> Option<Lease<DB>>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    let connections = set(&held)?;
    if connections.pool.is_closed() {
        // Shutting down: the pool's way answers as it does then.
        connections
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        return None;
    }
    // All lent: wait for one to come back (within the budget) rather than take the pool's
    // way, which costs its ping.
    let permit = connections.permits.clone().acquire_owned().await.ok()?;
    loop {
        let next = connections
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        let Some((mut conn, since)) = next else { break };
        if since.elapsed() < crate::db::PING_AFTER_IDLE || conn.ping().await.is_ok() {
            return Some(Lease {
                conn,
                held: held.clone(),
                set,
                _permit: permit,
            });
        }
        // Cut while idle: dropped; try the next, or open one.
    }
    let options = connections.pool.connect_options();
    let mut conn = DB::Connection::connect_with(&options).await.ok()?;
    if let Some(setup) = connections.session_setup {
        // A server that does not know the setting (PostgreSQL before 12) plans as it
        // always did: the reads are the same, only slower.
        if let Err(error) = sqlx::raw_sql(sqlx::AssertSqlSafe(setup))
            .execute(&mut conn)
            .await
        {
            tracing::debug!(%error, "held read connection: {setup}");
        }
    }
    Some(Lease {
        conn,
        held: held.clone(),
        set,
        _permit: permit,
    })
}

impl<DB: sqlx::Database> HeldConnections<DB> {
    fn new(pool: sqlx::Pool<DB>, max: usize, session_setup: Option<&'static str>) -> Self {
        HeldConnections {
            pool,
            session_setup,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max)),
            batches: Mutex::default(),
        }
    }
}

/// Whether `error` says the connection (not the statement) failed: the read is then made
/// again through the pool, which answers `503` if the server cannot be reached.
pub fn is_connection_error(error: &sqlx::Error) -> bool {
    !matches!(
        error,
        sqlx::Error::Database(_)
            | sqlx::Error::RowNotFound
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::TypeNotFound { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::Encode(_)
    )
}
