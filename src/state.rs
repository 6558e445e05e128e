//! What every handler can reach: the pool, the configuration, the token keys, the password
//! hasher and the cached counts of filtered lists. Cheap to clone (all shared).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sea_orm::DatabaseConnection;

use crate::config::Config;
use crate::passwords::PasswordHasher;
use crate::row_counts::CachedCounts;
use crate::tokens::TokenKeys;
use crate::validation::ParseContext;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub tokens: Arc<TokenKeys>,
    pub passwords: PasswordHasher,
    /// Totals of filtered product searches (see `row_counts::cache`).
    pub product_counts: Arc<CachedCounts>,
    /// Set when the shutdown begins: `/readyz` then answers `503`.
    shutting_down: Arc<AtomicBool>,
}

impl AppState {
    pub fn new(config: Config, db: DatabaseConnection) -> Self {
        let tokens = TokenKeys::new(
            &config.jwt_secret,
            config.access_token_ttl,
            config.refresh_token_ttl,
        );
        let passwords = PasswordHasher::new(config.password_hash_concurrency);
        AppState {
            db,
            config: Arc::new(config),
            tokens: Arc::new(tokens),
            passwords,
            product_counts: Arc::default(),
            shutting_down: Arc::default(),
        }
    }

    /// From now on the process is stopping: load balancers should send it nothing new.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// The configured rules request bodies are judged by.
    pub fn parse_context(&self) -> ParseContext {
        ParseContext {
            password_min_length: self.config.password_min_length,
        }
    }
}
