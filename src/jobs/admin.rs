//! Looking into the queue: counts by state and kind (`larch jobs`, `/metrics`), the jobs
//! that failed for good, retrying them, and clearing out old finished jobs. apalis has no
//! API that tells a job that failed for good from one about to be retried, nor one that
//! re-queues it, so on SQLite and PostgreSQL this is SQL on apalis' tables; on Redis it
//! goes through apalis-redis.

use apalis_redis::ConnectionManager;
use chrono::{DateTime, Utc};
use sea_orm::sqlx;

use super::{Jobs, Queued, Store, redis_config};

/// A job's state as larch reports it.
pub const STATES: &[&str] = &["queued", "running", "done", "failed"];

/// How many jobs of each kind are in each state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Count {
    pub kind: String,
    pub state: String,
    pub jobs: i64,
}

/// A job that failed for good.
#[derive(Clone, Debug)]
pub struct FailedJob {
    pub id: String,
    pub kind: String,
    pub attempts: i64,
    pub error: String,
}

// apalis' statuses: `Pending` waits; `Queued`/`Running` are taken by a worker; `Failed`
// with attempts left is about to run again; `Failed` without, or `Killed` (a permanent
// failure), failed for good.
const STATE: &str = "CASE \
    WHEN status = 'Done' THEN 'done' \
    WHEN status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts) THEN 'failed' \
    WHEN status IN ('Queued', 'Running') THEN 'running' \
    ELSE 'queued' END";

fn sqlite_kind() -> &'static str {
    "COALESCE(json_extract(CAST(job AS TEXT), '$.job.kind'), '?')"
}

fn postgres_kind() -> &'static str {
    "COALESCE(convert_from(job, 'UTF8')::jsonb->'job'->>'kind', '?')"
}

pub async fn counts(jobs: &Jobs) -> anyhow::Result<Vec<Count>> {
    let queue = jobs.config.queue.as_str();
    let rows: Vec<(String, String, i64)> = match jobs.store() {
        Store::Sqlite(pool) => {
            let sql = format!(
                "SELECT {kind} AS kind, {STATE} AS state, COUNT(*) AS n FROM Jobs \
                 WHERE job_type = ? GROUP BY 1, 2 ORDER BY 1, 2",
                kind = sqlite_kind()
            );
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(queue)
                .fetch_all(pool)
                .await?
        }
        Store::Postgres(pool) => {
            let sql = format!(
                "SELECT {kind} AS kind, {STATE} AS state, COUNT(*) AS n FROM apalis.jobs \
                 WHERE job_type = $1 GROUP BY 1, 2 ORDER BY 1, 2",
                kind = postgres_kind()
            );
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(queue)
                .fetch_all(pool)
                .await?
        }
        Store::Redis(conn) => return redis_counts(jobs, conn).await,
    };
    Ok(rows
        .into_iter()
        .map(|(kind, state, jobs)| Count { kind, state, jobs })
        .collect())
}

pub async fn failed(jobs: &Jobs, limit: i64) -> anyhow::Result<Vec<FailedJob>> {
    let queue = jobs.config.queue.as_str();
    let rows: Vec<(String, String, i64, String)> = match jobs.store() {
        Store::Sqlite(pool) => {
            let sql = format!(
                "SELECT id, {kind} AS kind, attempts, COALESCE(CAST(last_result AS TEXT), '') AS error \
                 FROM Jobs WHERE job_type = ? AND {STATE} = 'failed' ORDER BY done_at, id LIMIT ?",
                kind = sqlite_kind()
            );
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(queue)
                .bind(limit)
                .fetch_all(pool)
                .await?
        }
        Store::Postgres(pool) => {
            let sql = format!(
                "SELECT id, {kind} AS kind, attempts::bigint AS attempts, COALESCE(last_result::text, '') AS error \
                 FROM apalis.jobs WHERE job_type = $1 AND {STATE} = 'failed' ORDER BY done_at, id LIMIT $2",
                kind = postgres_kind()
            );
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(queue)
                .bind(limit)
                .fetch_all(pool)
                .await?
        }
        Store::Redis(conn) => return redis_failed(jobs, conn, limit).await,
    };
    Ok(rows
        .into_iter()
        .map(|(id, kind, attempts, error)| FailedJob {
            id,
            kind,
            attempts,
            error,
        })
        .collect())
}

/// Puts a job that failed for good back in the queue with all its attempts; whether there
/// was such a job.
pub async fn retry(jobs: &Jobs, id: &str) -> anyhow::Result<bool> {
    let queue = jobs.config.queue.as_str();
    let changed = match jobs.store() {
        Store::Sqlite(pool) => {
            let sql = format!(
                "UPDATE Jobs SET status = 'Pending', attempts = 0, lock_by = NULL, lock_at = NULL, \
                 done_at = NULL, run_at = strftime('%s', 'now'), \
                 job = CAST(json_set(CAST(job AS TEXT), '$.attempt', 1) AS BLOB) \
                 WHERE id = ? AND job_type = ? AND {STATE} = 'failed'"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(queue)
                .execute(pool)
                .await?
                .rows_affected()
        }
        Store::Postgres(pool) => {
            let sql = format!(
                "UPDATE apalis.jobs SET status = 'Pending', attempts = 0, lock_by = NULL, lock_at = NULL, \
                 done_at = NULL, run_at = now(), \
                 job = convert_to(jsonb_set(convert_from(job, 'UTF8')::jsonb, '{{attempt}}', '1')::text, 'UTF8') \
                 WHERE id = $1 AND job_type = $2 AND {STATE} = 'failed'"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(queue)
                .execute(pool)
                .await?
                .rows_affected()
        }
        Store::Redis(conn) => return redis_retry(jobs, conn, id).await,
    };
    Ok(changed == 1)
}

/// Deletes jobs that finished successfully before `before`, then the records of workers
/// gone since then that no job names any more; how many jobs went.
pub async fn delete_done(jobs: &Jobs, before: DateTime<Utc>) -> anyhow::Result<u64> {
    let queue = jobs.config.queue.as_str();
    match jobs.store() {
        Store::Sqlite(pool) => {
            let deleted = sqlx::query(
                "DELETE FROM Jobs WHERE job_type = ? AND status = 'Done' AND done_at < ?",
            )
            .bind(queue)
            .bind(before.timestamp())
            .execute(pool)
            .await?
            .rows_affected();
            sqlx::query(
                "DELETE FROM Workers WHERE last_seen < ? AND NOT EXISTS \
                 (SELECT 1 FROM Jobs WHERE Jobs.lock_by = Workers.id)",
            )
            .bind(before.timestamp())
            .execute(pool)
            .await?;
            Ok(deleted)
        }
        Store::Postgres(pool) => {
            let deleted = sqlx::query(
                "DELETE FROM apalis.jobs WHERE job_type = $1 AND status = 'Done' AND done_at < $2",
            )
            .bind(queue)
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected();
            sqlx::query(
                "DELETE FROM apalis.workers w WHERE w.last_seen < $1 AND NOT EXISTS \
                 (SELECT 1 FROM apalis.jobs j WHERE j.lock_by = w.id)",
            )
            .bind(before)
            .execute(pool)
            .await?;
            Ok(deleted)
        }
        Store::Redis(conn) => redis_delete_done(jobs, conn, before).await,
    }
}

/// apalis-redis keeps a job's payload in one hash, its state in a hash per job, and its
/// place in a list (waiting), a sorted set (waiting for a retry), a set per worker
/// (running), a done set and a dead set (failed for good). Its own listing only walks the
/// waiting list, so larch reads the sets.
async fn redis_counts(jobs: &Jobs, conn: &ConnectionManager) -> anyhow::Result<Vec<Count>> {
    let keys = redis_config(&jobs.config);
    let mut conn = conn.clone();
    let (waiting, scheduled, done, dead, all): (i64, i64, i64, i64, i64) = redis::pipe()
        .llen(keys.active_jobs_list())
        .zcard(keys.scheduled_jobs_set())
        .scard(keys.done_jobs_set())
        .scard(keys.dead_jobs_set())
        .hlen(keys.job_data_hash())
        .query_async(&mut conn)
        .await?;
    let running = (all - waiting - scheduled - done - dead).max(0);
    Ok([
        ("queued", waiting + scheduled),
        ("running", running),
        ("done", done),
        ("failed", dead),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(state, jobs)| Count {
        // One queue holds every kind; Redis has no cheap count by kind.
        kind: "*".to_owned(),
        state: state.to_owned(),
        jobs,
    })
    .collect())
}

async fn redis_failed(
    jobs: &Jobs,
    conn: &ConnectionManager,
    limit: i64,
) -> anyhow::Result<Vec<FailedJob>> {
    let keys = redis_config(&jobs.config);
    let mut conn = conn.clone();
    let ids: Vec<String> = redis::cmd("SMEMBERS")
        .arg(keys.dead_jobs_set())
        .query_async(&mut conn)
        .await?;
    let mut found = Vec::new();
    for id in ids.into_iter().take(limit.max(0) as usize) {
        let payload: Option<Vec<u8>> = redis::cmd("HGET")
            .arg(keys.job_data_hash())
            .arg(&id)
            .query_async(&mut conn)
            .await?;
        let (attempts, error): (Option<i64>, Option<String>) = redis::cmd("HMGET")
            .arg(format!("{}:{id}", keys.job_meta_hash()))
            .arg("attempts")
            .arg("result")
            .query_async(&mut conn)
            .await?;
        let kind = payload
            .and_then(|p| serde_json::from_slice::<Queued>(&p).ok())
            .map_or("?", |queued| queued.job.kind());
        found.push(FailedJob {
            id,
            kind: kind.to_owned(),
            attempts: attempts.unwrap_or(0),
            error: error.unwrap_or_default(),
        });
    }
    Ok(found)
}

/// On Redis a failed job is retried by queueing its payload again as a new job (apalis-redis
/// cannot put one back in place). Taking it out of the dead set first guards against two
/// retries at once; if the new job cannot be queued, it goes back, and nothing is lost.
async fn redis_retry(jobs: &Jobs, conn: &ConnectionManager, id: &str) -> anyhow::Result<bool> {
    let keys = redis_config(&jobs.config);
    let mut conn = conn.clone();
    let payload: Option<Vec<u8>> = redis::cmd("HGET")
        .arg(keys.job_data_hash())
        .arg(id)
        .query_async(&mut conn)
        .await?;
    let Some(payload) = payload else {
        return Ok(false);
    };
    let queued: Queued = serde_json::from_slice(&payload)?;
    let taken: i64 = redis::cmd("SREM")
        .arg(keys.dead_jobs_set())
        .arg(id)
        .query_async(&mut conn)
        .await?;
    if taken == 0 {
        return Ok(false);
    }
    // All its attempts again.
    let pushed = jobs
        .push_queued(
            Queued {
                attempt: 1,
                ..queued
            },
            None,
        )
        .await;
    if let Err(e) = pushed {
        let _: Result<i64, _> = redis::cmd("SADD")
            .arg(keys.dead_jobs_set())
            .arg(id)
            .query_async(&mut conn)
            .await;
        anyhow::bail!("queueing the job again failed: {e:#}");
    }
    // The new job replaces the failed one: its records go.
    let _: () = redis::pipe()
        .hdel(keys.job_data_hash(), id)
        .del(format!("{}:{id}", keys.job_meta_hash()))
        .query_async(&mut conn)
        .await?;
    Ok(true)
}

/// Jobs done before `before` leave Redis: their payload, state and place in the done set.
/// (apalis-redis keeps them otherwise, and its own vacuum would take failed jobs too.)
async fn redis_delete_done(
    jobs: &Jobs,
    conn: &ConnectionManager,
    before: DateTime<Utc>,
) -> anyhow::Result<u64> {
    let keys = redis_config(&jobs.config);
    let mut conn = conn.clone();
    let done: Vec<String> = redis::cmd("SMEMBERS")
        .arg(keys.done_jobs_set())
        .query_async(&mut conn)
        .await?;
    let mut deleted = 0;
    for id in done {
        let meta = format!("{}:{id}", keys.job_meta_hash());
        let done_at: Option<String> = redis::cmd("HGET")
            .arg(&meta)
            .arg("done_at")
            .query_async(&mut conn)
            .await?;
        let old = done_at
            .and_then(|t| t.parse::<i64>().ok())
            .is_none_or(|t| t < before.timestamp());
        if old {
            let _: () = redis::pipe()
                .hdel(keys.job_data_hash(), &id)
                .del(&meta)
                .srem(keys.done_jobs_set(), &id)
                .query_async(&mut conn)
                .await?;
            deleted += 1;
        }
    }
    Ok(deleted)
}
