//! Posts: `/posts`, `/posts/{id}` and `/users/{id}/posts` (contract sections 5 and 6).

pub mod model;
pub mod queries;
pub mod routes;
pub mod types;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::list_posts, routes::create_post))
        .routes(routes!(
            routes::get_post,
            routes::update_post,
            routes::delete_post
        ))
        .routes(routes!(routes::list_user_posts))
        .routes(routes!(routes::get_user_post))
}
