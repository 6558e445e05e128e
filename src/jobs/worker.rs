//! The workers: one apalis worker runs the queue's jobs, another runs housekeeping on a
//! schedule (apalis-cron). Each runs under a supervisor that starts it again, after a pause,
//! when its backend fails (a database that went away): apalis ends a worker on the first
//! backend error.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use apalis_cron::{CronScheduler, Tick};
use apalis_postgres::PostgresStorage;
use apalis_redis::{ConnectionManager, RedisStorage};
use apalis_sqlite::SqliteStorage;
use futures::future::BoxFuture;
use tokio::sync::watch;

use super::poll::EveryInterval;
use super::{Job, Jobs, Queued, Store, postgres_config, redis_config, sqlite_config};
use crate::config::JobsConfig;

/// Why a job's attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt later (the mail server is down, the database is busy).
    #[error("{0}")]
    Retry(String),
    /// Another attempt would fail the same way (the mail server refused the address).
    #[error("{0}")]
    Permanent(String),
}

/// What running a job means; the application supplies it (`startup`), so this module knows
/// no domain.
pub trait Perform: Send + Sync + 'static {
    fn perform(&self, job: Job) -> BoxFuture<'_, Result<(), JobError>>;
}

/// One round of housekeeping, run on the schedule.
pub type Housekeeping = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

#[derive(Clone)]
struct Runner {
    perform: Arc<dyn Perform>,
    /// Where a failed attempt queues the next.
    jobs: Jobs,
    queue: String,
    max_attempts: u32,
    attempt_timeout: Duration,
}

/// The workers of one process, running until `stop` turns true.
pub struct Workers {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Workers {
    /// Starts the job worker (when there is a queue) and the housekeeping schedule.
    pub fn start(
        jobs: Option<(&Jobs, Arc<dyn Perform>)>,
        housekeeping: Housekeeping,
        housekeeping_interval: Duration,
        stop: watch::Receiver<bool>,
    ) -> Self {
        let mut tasks = Vec::new();
        if let Some((jobs, perform)) = jobs {
            let runner = Runner {
                perform,
                jobs: jobs.clone(),
                queue: jobs.config.queue.clone(),
                max_attempts: jobs.config.max_attempts,
                attempt_timeout: jobs.config.attempt_timeout,
            };
            let store = jobs.store.clone();
            let config = jobs.config.clone();
            tasks.push(tokio::spawn(supervise("jobs", stop.clone(), move |stop| {
                job_monitor(&store, &config, runner.clone()).run_with_signal(stopped(stop))
            })));
        }
        tasks.push(tokio::spawn(supervise("housekeeping", stop, move |stop| {
            housekeeping_monitor(housekeeping.clone(), housekeeping_interval)
                .run_with_signal(stopped(stop))
        })));
        Workers { tasks }
    }

    /// Waits for every worker to stop (after `stop` turned true), at most until `deadline`;
    /// a job still running then is abandoned, and runs again on a worker later (at least
    /// once).
    pub async fn stopped(self, deadline: tokio::time::Instant) {
        for mut task in self.tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                tracing::warn!("a background worker did not stop in time; abandoning it");
                task.abort();
            }
        }
    }
}

async fn stopped(mut stop: watch::Receiver<bool>) -> std::io::Result<()> {
    let _ = stop.wait_for(|stop| *stop).await;
    Ok(())
}

/// Runs a monitor again whenever it ends with an error, after a pause that grows to 30 s,
/// until `stop`.
async fn supervise<F, Fut>(what: &'static str, stop: watch::Receiver<bool>, mut run: F)
where
    F: FnMut(watch::Receiver<bool>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), MonitorError>> + Send,
{
    let mut pause = Duration::from_millis(250);
    loop {
        let outcome = run(stop.clone()).await;
        if *stop.borrow() {
            return;
        }
        match outcome {
            Ok(()) => pause = Duration::from_millis(250),
            Err(e) => {
                tracing::warn!(worker = what, error = %e, pause_ms = pause.as_millis() as u64, "background worker stopped; starting it again");
            }
        }
        let mut stop = stop.clone();
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        pause = (pause * 2).min(Duration::from_secs(30));
    }
}

/// A name no other worker has, now or later: apalis refuses a second worker of one name on
/// SQLite, and on PostgreSQL would never recover the jobs of a dead one that had it.
fn worker_name(kind: &str, restarts: usize) -> String {
    let host = hostname();
    format!(
        "{kind}-{host}-{}-{}-{restarts}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    )
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "larch".to_owned())
}

fn job_monitor(store: &Store, config: &JobsConfig, runner: Runner) -> Monitor {
    let base = Monitor::new()
        // A job still running then stays locked, and runs again elsewhere once its worker
        // is seen gone.
        .shutdown_timeout(Duration::from_secs(5))
        .should_restart(|_, _| false);
    let concurrency = config.concurrency;
    let poll = config.poll_interval;
    match store.clone() {
        Store::Sqlite(pool) => {
            let queue = sqlite_config(config);
            base.register(move |restarts| {
                WorkerBuilder::new(worker_name("jobs", restarts))
                    .backend(
                        SqliteStorage::<Queued>::new(&pool)
                            .with_config(queue.clone())
                            .poll_with_strategy(EveryInterval::new(poll)),
                    )
                    .concurrency(concurrency)
                    .data(runner.clone())
                    .build(run_job)
            })
        }
        Store::Postgres(pool) => {
            let queue = postgres_config(config);
            base.register(move |restarts| {
                WorkerBuilder::new(worker_name("jobs", restarts))
                    .backend(
                        PostgresStorage::<Queued>::new(&pool)
                            .with_config(queue.clone())
                            .poll_with_strategy(EveryInterval::new(poll)),
                    )
                    .concurrency(concurrency)
                    .data(runner.clone())
                    .build(run_job)
            })
        }
        Store::Redis(conn) => {
            let queue = redis_config(config);
            base.register(move |restarts| {
                WorkerBuilder::new(worker_name("jobs", restarts))
                    .backend(
                        RedisStorage::<Queued, ConnectionManager>::new(conn.clone())
                            .with_config(queue.clone())
                            .poll_with_strategy(EveryInterval::new(poll)),
                    )
                    .concurrency(concurrency)
                    .data(runner.clone())
                    .build(run_job)
            })
        }
    }
}

/// One attempt at a job, counted in `/metrics`. A failure worth retrying queues the next
/// attempt to run after a growing delay and ends this one; a permanent failure, or one on
/// the last attempt, ends the job as failed (apalis marks it killed), kept for `larch jobs`.
async fn run_job(queued: Queued, runner: Data<Runner>) -> Result<(), BoxDynError> {
    let Queued { job, attempt } = queued;
    let kind = job.kind();
    let queue = runner.queue.as_str();
    // A backstop for the whole attempt (the send inside has its own, shorter bound).
    let outcome = match tokio::time::timeout(
        runner.attempt_timeout * 2,
        runner.perform.perform(job.clone()),
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(_) => Err(JobError::Retry(format!(
            "the attempt took longer than {} s",
            (runner.attempt_timeout * 2).as_secs()
        ))),
    };
    match outcome {
        Ok(()) => {
            super::record(queue, kind, "succeeded");
            Ok(())
        }
        Err(JobError::Permanent(reason)) => {
            tracing::warn!(kind, attempt, error = %reason, "job failed for good");
            super::record(queue, kind, "failed");
            Err(AbortError::new(reason).into())
        }
        Err(JobError::Retry(reason)) if attempt >= runner.max_attempts => {
            tracing::warn!(kind, attempt, error = %reason, "job failed on its last attempt; kept as failed (larch jobs)");
            super::record(queue, kind, "failed");
            Err(AbortError::new(reason).into())
        }
        Err(JobError::Retry(reason)) => {
            let delay = runner.jobs.backoff(attempt);
            let next = Queued {
                job,
                attempt: attempt + 1,
            };
            if let Err(e) = runner.jobs.push_queued(next, Some(delay)).await {
                // The next attempt could not be queued: this one fails instead, and apalis
                // hands it to a worker again.
                tracing::warn!(kind, attempt, error = %e, "the next attempt could not be queued");
                return Err(reason.into());
            }
            tracing::info!(kind, attempt, error = %reason, retry_in_ms = delay.as_millis() as u64, "job attempt failed; the next is queued");
            super::record(queue, kind, "retried");
            Ok(())
        }
    }
}

fn housekeeping_monitor(housekeeping: Housekeeping, every: Duration) -> Monitor {
    let schedule = schedule_every(every);
    Monitor::new()
        .shutdown_timeout(Duration::from_secs(5))
        .should_restart(|_, _| false)
        .register(move |restarts| {
            WorkerBuilder::new(worker_name("housekeeping", restarts))
                .backend(CronScheduler::new(schedule.clone()))
                .data(housekeeping.clone())
                .build(run_housekeeping)
        })
}

async fn run_housekeeping(
    _tick: Tick,
    housekeeping: Data<Housekeeping>,
) -> Result<(), BoxDynError> {
    (housekeeping.as_ref())().await;
    Ok(())
}

/// A cron schedule firing every `every` (rounded to what cron can say: seconds that divide
/// a minute, minutes that divide an hour, else hours).
fn schedule_every(every: Duration) -> cron::Schedule {
    let secs = every.as_secs().max(1);
    let expression = if secs < 60 && 60u64.is_multiple_of(secs) {
        format!("*/{secs} * * * * *")
    } else if secs < 3600 && secs.is_multiple_of(60) && 60u64.is_multiple_of(secs / 60) {
        format!("0 */{} * * * *", secs / 60)
    } else {
        let hours = (secs / 3600).clamp(1, 24);
        if 24u64.is_multiple_of(hours) {
            format!("0 0 */{hours} * * *")
        } else {
            "0 0 * * * *".to_owned()
        }
    };
    cron::Schedule::from_str(&expression).expect("a well-formed cron expression")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        let next = |d: u64| {
            let s = schedule_every(Duration::from_secs(d));
            let mut upcoming = s.upcoming(chrono::Utc);
            let a = upcoming.next().unwrap();
            let b = upcoming.next().unwrap();
            (b - a).num_seconds()
        };
        assert_eq!(next(5), 5);
        assert_eq!(next(300), 300);
        assert_eq!(next(3600), 3600);
        assert_eq!(next(7200), 7200);
        assert_eq!(next(7), 3600, "not expressible: hourly");
    }
}
