//! Users: `/users`, `/users/profile`, `/users/{id}` (contract section 5).

pub mod model;
pub mod queries;
pub mod routes;
pub mod types;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::list_users))
        .routes(routes!(routes::profile))
        .routes(routes!(
            routes::get_user,
            routes::update_user,
            routes::delete_user
        ))
}
