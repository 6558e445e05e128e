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
//! cannot strand the requests that share its read; it has `STATEMENT_BUDGET` to answer, so
//! a connection that hangs (a failover that never closes it) answers its requests `503`
//! rather than holding every later one. A row that cannot be read fails only the requests
//! for its key. SQLite reads on the calling thread
//! (`sqlite_reader`), where a round trip costs nothing to share: there, and where no
//! connections are held for reads, each key is read on its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use sea_orm::{ConnAcquireErr, DatabaseConnection, DbBackend, DbErr, Statement, Value, Values};
use tokio::sync::oneshot;

use crate::reads::ReadRow;

/// The most keys one statement reads.
const MOST_KEYS: usize = 64;

/// How long a shared statement may take before its requests are answered `503`: a read by
/// key takes milliseconds, the deepest page of a million posts under two seconds.
const STATEMENT_BUDGET: Duration = Duration::from_secs(5);

/// A read of rows by key, written once for every backend.
pub struct KeyedRead<T> {
    /// The statement, with `{keys}` where its list of `?`s goes; it also tells this read's
    /// batches from others'.
    sql: &'static str,
    /// The column each row's key is in (the column `{keys}` is matched against).
    key: &'static str,
    /// What is made of a row.
    decode: fn(&ReadRow) -> Result<T, DbErr>,
    /// `sql` for one key, made the first time it is needed.
    one_key: OnceLock<String>,
}

impl<T> KeyedRead<T> {
    pub const fn new(
        sql: &'static str,
        key: &'static str,
        decode: fn(&ReadRow) -> Result<T, DbErr>,
    ) -> Self {
        KeyedRead {
            sql,
            key,
            decode,
            one_key: OnceLock::new(),
        }
    }
}

type Reply<T> = oneshot::Sender<Result<Option<T>, DbErr>>;

/// The keys waiting for the next statement of one kind, for one pool.
struct Waiting<T> {
    keys: Vec<(i64, Reply<T>)>,
    /// A task is reading (and will take what waits when it is done).
    reading: bool,
}

/// Whether reads by key are batched on `db` (PostgreSQL and MySQL with held connections).
pub fn batches_reads(db: &DatabaseConnection) -> bool {
    crate::held_reads::holds_reads(db)
}

impl<T: Clone + Send + 'static> KeyedRead<T> {
    /// The value for `key`, or `None` when no row answers for it.
    pub async fn load(
        &'static self,
        db: &DatabaseConnection,
        key: i64,
    ) -> Result<Option<T>, DbErr> {
        let Some(waiting) = crate::held_reads::batch_state(db, self.sql, || {
            Mutex::new(Waiting::<T> {
                keys: Vec::new(),
                reading: false,
            })
        }) else {
            // One by one: the statement for one key, as any read by id is made.
            let sql = self.one_key.get_or_init(|| self.sql.replace("{keys}", "?"));
            let row = crate::reads::fetch_optional_by_id(db, sql, key).await?;
            return row.map(|row| (self.decode)(&row)).transpose();
        };
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut waiting = lock(&waiting);
            waiting.keys.push((key, reply));
            !std::mem::replace(&mut waiting.reading, true)
        };
        if start {
            // The guard is made before the task, so that a task dropped before it ever runs
            // (the runtime shutting down) still lets the next request start a reader.
            let reader = Reader {
                waiting,
                done: false,
            };
            tokio::spawn(self.read_while_waiting(db.clone(), reader));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(DbErr::Custom("a batched read stopped".into())))
    }

    /// Reads what waits, a statement at a time, until nothing does.
    async fn read_while_waiting(&'static self, db: DatabaseConnection, mut reader: Reader<T>) {
        loop {
            let batch: Vec<(i64, Reply<T>)> = {
                let mut waiting = lock(&reader.waiting);
                // Requests that went away (their client, or their timeout) are not read for.
                waiting.keys.retain(|(_, reply)| !reply.is_closed());
                if waiting.keys.is_empty() {
                    waiting.reading = false;
                    reader.done = true;
                    return;
                }
                let n = waiting.keys.len().min(MOST_KEYS);
                waiting.keys.drain(..n).collect()
            };
            let mut keys: Vec<i64> = batch.iter().map(|(key, _)| *key).collect();
            keys.sort_unstable();
            keys.dedup();
            match within_budget(self.read(&db, &keys)).await {
                Ok(found) => {
                    for (key, reply) in batch {
                        let answer = match found.get(&key) {
                            None => Ok(None),
                            Some(Ok(value)) => Ok(Some(value.clone())),
                            Some(Err(error)) => Err(error.clone()),
                        };
                        // The request may have gone away: nothing to do.
                        let _ = reply.send(answer);
                    }
                }
                Err(error) => {
                    for (_, reply) in batch {
                        let _ = reply.send(Err(error.clone()));
                    }
                }
            }
        }
    }

    /// The rows for `keys` (distinct, at least one), in one statement, each made into a
    /// value or the error that made it fail.
    async fn read(
        &self,
        db: &DatabaseConnection,
        keys: &[i64],
    ) -> Result<HashMap<i64, Result<T, DbErr>>, DbErr> {
        let statement = statement(db.get_database_backend(), self.sql, keys);
        let rows = crate::reads::read_all(db, statement).await?;
        rows.iter()
            .map(|row| Ok((row.get::<i64>(self.key)?, (self.decode)(row))))
            .collect()
    }
}

/// `read`, or a `503` if it takes longer than `STATEMENT_BUDGET` (dropping it drops its
/// connection, which is then never reused).
async fn within_budget<V>(read: impl Future<Output = Result<V, DbErr>>) -> Result<V, DbErr> {
    tokio::time::timeout(STATEMENT_BUDGET, read)
        .await
        .unwrap_or(Err(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)))
}

/// Owned by a reading task: however the task ends (a panic, or dropped unfinished), the next
/// request can start a reader, and the requests still waiting get an error.
struct Reader<T> {
    waiting: Arc<Mutex<Waiting<T>>>,
    /// Set, under the lock, when the task leaves with nothing waiting.
    done: bool,
}

impl<T> Drop for Reader<T> {
    fn drop(&mut self) {
        if !self.done {
            let mut waiting = lock(&self.waiting);
            waiting.reading = false;
            waiting.keys.clear();
        }
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
        let reader = StatementReader {
            waiting,
            key,
            done: false,
        };
        tokio::spawn(read_statement_while_waiting(db.clone(), reader, statement));
    }
    answer
        .await
        .unwrap_or_else(|_| Err(DbErr::Custom("a shared read stopped".into())))
}

/// Runs `statement` for what waits under the reader's key, a run at a time, until nothing
/// does.
async fn read_statement_while_waiting(
    db: DatabaseConnection,
    mut reader: StatementReader,
    statement: Statement,
) {
    loop {
        let replies = {
            let mut waiting = reader.waiting.lock().unwrap_or_else(|p| p.into_inner());
            let mut replies = waiting
                .0
                .get_mut(&reader.key)
                .map(std::mem::take)
                .unwrap_or_default();
            replies.retain(|reply| !reply.is_closed());
            if replies.is_empty() {
                waiting.0.remove(&reader.key);
                reader.done = true;
                return;
            }
            replies
        };
        let read = within_budget(crate::reads::read_all(&db, statement.clone())).await;
        let answer = read.map(Arc::new);
        for reply in replies {
            let _ = reply.send(answer.clone());
        }
    }
}

/// As `Reader`, for a statement's entry: removed however its task ends.
struct StatementReader {
    waiting: Arc<Mutex<WaitingStatements>>,
    key: String,
    done: bool,
}

impl Drop for StatementReader {
    fn drop(&mut self) {
        if !self.done {
            let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
            waiting.0.remove(&self.key);
        }
    }
}

fn lock<T>(waiting: &Mutex<Waiting<T>>) -> MutexGuard<'_, Waiting<T>> {
    waiting.lock().unwrap_or_else(|p| p.into_inner())
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
