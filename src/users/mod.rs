//! Users: `/users`, `/users/profile`, `/users/{id}` (contract section 5).

pub mod model;
pub mod queries;
pub mod routes;
pub mod types;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(routes::list_users))
        .route("/users/profile", get(routes::profile))
        .route(
            "/users/{id}",
            get(routes::get_user)
                .put(routes::update_user)
                .patch(routes::update_user)
                .delete(routes::delete_user),
        )
}
