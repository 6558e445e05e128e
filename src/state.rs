//! What every handler can reach: the pool, the configuration, the token keys, the password
//! hasher and the cached pages of lists. Cheap to clone: one `Arc`
//! (axum clones the state for each extractor that takes it; with a field per `Arc`, cloning
//! and dropping it was 5% of `GET /auth/me`).

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sea_orm::DatabaseConnection;

use crate::config::Config;
use crate::jobs::Jobs;
use crate::passwords::PasswordHasher;
use crate::row_counts::cache::ListCache;
use crate::tokens::TokenKeys;
use crate::validation::ParseContext;

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The fields of `AppState`, reached through it.
#[derive(Clone)]
pub struct Shared {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub tokens: Arc<TokenKeys>,
    pub passwords: PasswordHasher,
    /// Pages of lists and totals of product searches (see `row_counts::cache`).
    pub list_cache: Arc<ListCache>,
    /// The background-job queue; `None` on MySQL without `JOBS_URL`.
    pub jobs: Option<Jobs>,
    /// Whether emails go anywhere (SMTP, or the log outside production).
    pub sends_email: bool,
    /// Set when the shutdown begins: `/readyz` then answers `503`.
    shutting_down: Arc<AtomicBool>,
    /// The connections PostgreSQL and MySQL reads are made on (`held_reads`), kept open as
    /// long as this state.
    _held_reads: Option<Arc<crate::held_reads::Held>>,
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(config: Config, db: DatabaseConnection) -> Self {
        let tokens = TokenKeys::new(
            &config.jwt_secret,
            config.access_token_ttl,
            config.refresh_token_ttl,
        );
        let passwords = PasswordHasher::new(config.password_hash_concurrency);
        let held_reads =
            crate::held_reads::register(&db, config.database_read_connections as usize);
        AppState(Arc::new(Shared {
            db,
            config: Arc::new(config),
            tokens: Arc::new(tokens),
            passwords,
            list_cache: Arc::default(),
            jobs: None,
            sends_email: false,
            shutting_down: Arc::default(),
            _held_reads: held_reads,
        }))
    }

    /// With this job queue, and whether emails go anywhere. For start-up, before the state
    /// is cloned: on a shared state `Arc::make_mut` copies, and earlier clones keep the old.
    pub fn with_jobs(mut self, jobs: Option<Jobs>, sends_email: bool) -> Self {
        let shared = Arc::make_mut(&mut self.0);
        shared.jobs = jobs;
        shared.sends_email = sends_email;
        self
    }

    /// The queue for emails, when this server sends them: `None` answers `503` on the
    /// endpoints whose point is an email.
    pub fn email_jobs(&self) -> Option<&Jobs> {
        self.jobs.as_ref().filter(|_| self.sends_email)
    }

    /// From now on the process is stopping: load balancers should send it nothing new.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Queues an email job, if this server sends email. For emails that report or follow a
    /// change that has happened either way (a notice, the link after registering): a queue
    /// that cannot take the job is logged, and the request still succeeds.
    pub async fn queue_email(&self, job: crate::jobs::Job) {
        if let Some(jobs) = self.email_jobs()
            && let Err(e) = jobs.push(job).await
        {
            tracing::warn!(error = %e, "an email job could not be queued");
        }
    }

    /// The configured rules request bodies are judged by.
    pub fn parse_context(&self) -> ParseContext {
        ParseContext {
            password_min_length: self.config.password_min_length,
        }
    }
}
