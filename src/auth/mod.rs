//! Authentication: `/auth/*` (contract section 4).

pub mod refresh_tokens;
pub mod routes;
pub mod types;

use axum::Router;
use axum::routing::{get, post, put};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(routes::register))
        .route("/auth/login", post(routes::login))
        .route("/auth/refresh", post(routes::refresh))
        .route("/auth/me", get(routes::me))
        .route("/auth/logout", post(routes::logout))
        .route("/auth/logout-all", post(routes::logout_all))
        .route("/auth/password", put(routes::change_password))
}
