//! Posts: `/posts`, `/posts/{id}` and `/users/{id}/posts` (contract sections 5 and 6).

pub mod model;
pub mod queries;
pub mod routes;
pub mod types;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/posts", get(routes::list_posts).post(routes::create_post))
        .route(
            "/posts/{id}",
            get(routes::get_post)
                .put(routes::update_post)
                .patch(routes::update_post)
                .delete(routes::delete_post),
        )
        .route("/users/{id}/posts", get(routes::list_user_posts))
        .route("/users/{id}/posts/{post_id}", get(routes::get_user_post))
}
