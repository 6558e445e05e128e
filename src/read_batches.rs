//! Reads by key that arrive together share one statement, on PostgreSQL and MySQL; so do
//! identical reads (a page of a list) that arrive together.
//!
//! Every authenticated request reads its caller, and `GET /posts/{id}` its post: one round
//! trip each to a database server on another process (or machine), and on a busy server most
//! of that cost is waking the two sides, not the read (see docs/benchmarks.md). A read by key
//! here joins the keys waiting for the next statement of its kind; one statement at a time
//! per kind reads them all (`WHERE id IN (…)`, up to `MOST_KEYS`), and each waiting request
//! gets its own row. An idle server reads a lone key at once, as before. A page of a list
//! (`read_shared`) is read the same way, shared by the requests for the same statement and
//! values that wait for it.
//!
//! A request never shares a statement that started before it arrived: keys wait for the
//! *next* statement, so each read still sees every write committed before its request came
//! (on any instance). The statement runs in a task of its own, so a client that goes away
//! cannot strand the requests that share its read. SQLite reads on the calling thread
//! (`sqlite_reader`), where a round trip costs nothing to share: there, and where no
//! connections are held for reads, each key is read on its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use sea_orm::{DatabaseConnection, DbBackend, DbErr, RuntimeErr, Statement, Value, Values};
use tokio::sync::oneshot;

use crate::reads::ReadRow;

/// The most keys one statement reads.
const MOST_KEYS: usize = 64;

/// A read of rows by key, written once for every backend.
pub struct KeyedRead<T> {
    /// Tells this read's batches from others' (unique among `KeyedRead`s).
    pub name: &'static str,
    /// The statement, with `{keys}` where its list of `?`s goes.
    pub sql: &'static str,
    /// The key a row answers for, and what is made of the row.
    pub decode: fn(&ReadRow) -> Result<(i64, T), DbErr>,
    /// `sql` for one key, made the first time it is needed (`KeyedRead::new`).
    one_key: OnceLock<String>,
}

type Reply<T> = oneshot::Sender<Result<Option<T>, DbErr>>;

/// The keys waiting for the next statement of one kind, for one pool.
struct Waiting<T> {
    keys: Vec<(i64, Reply<T>)>,
    /// A task is reading (and will take what waits when it is done).
    reading: bool,
}

impl<T> KeyedRead<T> {
    pub const fn new(
        name: &'static str,
        sql: &'static str,
        decode: fn(&ReadRow) -> Result<(i64, T), DbErr>,
    ) -> Self {
        KeyedRead {
            name,
            sql,
            decode,
            one_key: OnceLock::new(),
        }
    }
}

impl<T: Clone + Send + 'static> KeyedRead<T> {
    /// The value for `key`, or `None` when no row answers for it.
    pub async fn load(
        &'static self,
        db: &DatabaseConnection,
        key: i64,
    ) -> Result<Option<T>, DbErr> {
        let Some(waiting) = crate::held_reads::batch_state(db, self.name, || {
            Mutex::new(Waiting::<T> {
                keys: Vec::new(),
                reading: false,
            })
        }) else {
            // One by one: the statement for one key, as any read by id is made.
            let sql = self.one_key.get_or_init(|| self.sql.replace("{keys}", "?"));
            let row = crate::reads::fetch_optional_by_id(db, sql, key).await?;
            return row
                .map(|row| (self.decode)(&row).map(|(_, value)| value))
                .transpose();
        };
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut waiting = lock(&waiting);
            waiting.keys.push((key, reply));
            !std::mem::replace(&mut waiting.reading, true)
        };
        if start {
            tokio::spawn(self.read_while_waiting(db.clone(), waiting));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(DbErr::Custom("a batched read stopped".into())))
    }

    /// Reads what waits, a statement at a time, until nothing does.
    async fn read_while_waiting(
        &'static self,
        db: DatabaseConnection,
        waiting: Arc<Mutex<Waiting<T>>>,
    ) {
        let _stop = StopReading(&waiting);
        loop {
            let batch: Vec<(i64, Reply<T>)> = {
                let mut waiting = lock(&waiting);
                if waiting.keys.is_empty() {
                    waiting.reading = false;
                    return;
                }
                let n = waiting.keys.len().min(MOST_KEYS);
                waiting.keys.drain(..n).collect()
            };
            let mut keys: Vec<i64> = batch.iter().map(|(key, _)| *key).collect();
            keys.sort_unstable();
            keys.dedup();
            match self.read(&db, &keys).await {
                Ok(found) => {
                    for (key, reply) in batch {
                        // The request may have gone away: nothing to do.
                        let _ = reply.send(Ok(found.get(&key).cloned()));
                    }
                }
                Err(error) => {
                    for (_, reply) in batch {
                        let _ = reply.send(Err(same_error(&error)));
                    }
                }
            }
        }
    }

    /// The rows for `keys` (distinct, at least one), in one statement.
    async fn read(&self, db: &DatabaseConnection, keys: &[i64]) -> Result<HashMap<i64, T>, DbErr> {
        let statement = statement(db.get_database_backend(), self.sql, keys);
        let rows = crate::reads::read_all(db, statement).await?;
        rows.iter().map(self.decode).collect()
    }
}

/// `sql` with room for `keys` in its `{keys}`: as many `?`s as the next power of two, the
/// last key repeated in the spare ones, so that a few statements (1, 2, 4 … `MOST_KEYS`
/// keys) are prepared once per connection rather than one per number of keys.
fn statement(backend: DbBackend, sql: &str, keys: &[i64]) -> Statement {
    let slots = keys.len().max(1).next_power_of_two();
    let sql = sql.replace("{keys}", &vec!["?"; slots].join(", "));
    let sql = match backend {
        DbBackend::Postgres => crate::db::numbered(&sql),
        _ => sql,
    };
    let last = keys.last().copied().unwrap_or_default();
    let values = (0..slots)
        .map(|i| Value::BigInt(Some(keys.get(i).copied().unwrap_or(last))))
        .collect();
    Statement::from_sql_and_values(backend, sql, Values(values))
}

type Rows = Arc<Vec<ReadRow>>;
type RowsReply = oneshot::Sender<Result<Rows, DbErr>>;

/// The requests waiting for the next run of each statement (by its text and values), for
/// one pool; a statement with a task reading it has an entry, while that task lives.
#[derive(Default)]
struct WaitingStatements(HashMap<String, Vec<RowsReply>>);

/// The rows of `statement` (a read outside any transaction: `reads::read_all`), shared with
/// the requests for the same statement and values that wait for the same run of it.
pub async fn read_shared(db: &DatabaseConnection, statement: Statement) -> Result<Rows, DbErr> {
    let Some(waiting) = crate::held_reads::batch_state(db, "identical statements", || {
        Mutex::new(WaitingStatements::default())
    }) else {
        return crate::reads::read_all(db, statement).await.map(Arc::new);
    };
    let key = format!("{}\u{0}{:?}", statement.sql, statement.values);
    let (reply, answer) = oneshot::channel();
    let start = {
        let mut waiting = waiting.lock().unwrap_or_else(|p| p.into_inner());
        match waiting.0.get_mut(&key) {
            Some(replies) => {
                replies.push(reply);
                false
            }
            None => {
                waiting.0.insert(key.clone(), vec![reply]);
                true
            }
        }
    };
    if start {
        tokio::spawn(read_statement_while_waiting(
            db.clone(),
            waiting,
            key,
            statement,
        ));
    }
    answer
        .await
        .unwrap_or_else(|_| Err(DbErr::Custom("a shared read stopped".into())))
}

/// Runs `statement` for what waits under `key`, a run at a time, until nothing does.
async fn read_statement_while_waiting(
    db: DatabaseConnection,
    waiting: Arc<Mutex<WaitingStatements>>,
    key: String,
    statement: Statement,
) {
    let _stop = StopReadingStatement(&waiting, &key);
    loop {
        let replies = {
            let mut waiting = waiting.lock().unwrap_or_else(|p| p.into_inner());
            let replies = waiting
                .0
                .get_mut(&key)
                .map(std::mem::take)
                .unwrap_or_default();
            if replies.is_empty() {
                waiting.0.remove(&key);
                return;
            }
            replies
        };
        match crate::reads::read_all(&db, statement.clone()).await {
            Ok(rows) => {
                let rows = Arc::new(rows);
                for reply in replies {
                    let _ = reply.send(Ok(rows.clone()));
                }
            }
            Err(error) => {
                for reply in replies {
                    let _ = reply.send(Err(same_error(&error)));
                }
            }
        }
    }
}

/// As `StopReading`, for a statement's entry.
struct StopReadingStatement<'a>(&'a Mutex<WaitingStatements>, &'a str);

impl Drop for StopReadingStatement<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut waiting = self.0.lock().unwrap_or_else(|p| p.into_inner());
            waiting.0.remove(self.1);
        }
    }
}

fn lock<T>(waiting: &Mutex<Waiting<T>>) -> MutexGuard<'_, Waiting<T>> {
    waiting.lock().unwrap_or_else(|p| p.into_inner())
}

/// If the reading task panics, the keys it had taken get an error as their senders drop;
/// this lets the next request start a reader, and fails the keys still waiting.
struct StopReading<'a, T>(&'a Mutex<Waiting<T>>);

impl<T> Drop for StopReading<'_, T> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut waiting = lock(self.0);
            waiting.reading = false;
            waiting.keys.clear();
        }
    }
}

/// `error` again, for each request that shared the read: connection errors stay connection
/// errors (`503`), the rest keep their message.
fn same_error(error: &DbErr) -> DbErr {
    match error {
        DbErr::Conn(RuntimeErr::SqlxError(e)) => DbErr::Conn(RuntimeErr::SqlxError(e.clone())),
        DbErr::Query(RuntimeErr::SqlxError(e)) => DbErr::Query(RuntimeErr::SqlxError(e.clone())),
        DbErr::ConnectionAcquire(e) => DbErr::ConnectionAcquire(*e),
        other => DbErr::Custom(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fill_a_power_of_two_of_slots() {
        let s = statement(
            DbBackend::MySql,
            "SELECT id FROM t WHERE id IN ({keys})",
            &[4, 9, 11],
        );
        assert_eq!(s.sql, "SELECT id FROM t WHERE id IN (?, ?, ?, ?)");
        let values: Vec<Value> = s.values.unwrap().0;
        assert_eq!(
            values,
            [4, 9, 11, 11].map(|k| Value::BigInt(Some(k))).to_vec()
        );
        let one = statement(
            DbBackend::Postgres,
            "SELECT id FROM t WHERE id IN ({keys})",
            &[7],
        );
        assert_eq!(one.sql, "SELECT id FROM t WHERE id IN ($1)");
        let many: Vec<i64> = (1..=33).collect();
        let s = statement(DbBackend::Postgres, "x IN ({keys})", &many);
        assert_eq!(s.values.unwrap().0.len(), 64);
        assert!(s.sql.ends_with("$64)"));
    }
}
