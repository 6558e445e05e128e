//! larch: a JSON REST API backend (auth, users, posts, products) in one binary.
//!
//! `router::app` builds the whole application from an `AppState`; the binary and the
//! integration tests serve exactly that. Each domain (`auth`, `users`, `posts`, `products`,
//! …) owns its handlers (`routes.rs`), request and response types (`types.rs`),
//! constrained values (`domain.rs`), queries and table entities; `router` is the one
//! place that knows them all.

pub mod auth;
pub mod backup;
pub mod cli;
pub mod client_ip;
pub mod conditional;
pub mod config;
pub mod db;
pub mod email_tokens;
pub mod error;
pub mod extract;
pub mod flask_import;
pub mod health;
pub mod held_reads;
pub mod http;
pub mod idempotency;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod migration;
pub mod money;
pub mod openapi;
pub mod pagination;
pub mod passwords;
pub mod posts;
pub mod products;
pub mod rate_limit;
pub mod read_batches;
pub mod reads;
pub mod recovery;
pub mod router;
pub mod row_counts;
pub mod seed;
pub mod server;
pub mod session_lifetime;
pub mod sessions;
pub mod sqlite_mutex;
pub mod sqlite_reader;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod text;
pub mod time;
pub mod tokens;
pub mod users;
pub mod validation;
