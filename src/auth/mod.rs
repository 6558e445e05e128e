//! Authentication: `/auth/*` (contract section 4).

pub mod refresh_tokens;
pub mod routes;
pub mod types;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::register))
        .routes(routes!(routes::login))
        .routes(routes!(routes::refresh))
        .routes(routes!(routes::me))
        .routes(routes!(routes::logout))
        .routes(routes!(routes::logout_all))
        .routes(routes!(routes::change_password))
}
