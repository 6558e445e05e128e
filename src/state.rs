//! What every handler can reach: the pool, the configuration, the token keys and the
//! password hasher. Cheap to clone (all shared).

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::config::Config;
use crate::passwords::PasswordHasher;
use crate::products::search_counts::SearchCounts;
use crate::tokens::TokenKeys;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub tokens: Arc<TokenKeys>,
    pub passwords: PasswordHasher,
    pub product_counts: Arc<SearchCounts>,
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
        }
    }
}
