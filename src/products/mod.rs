//! Products: `/products`, `/products/{id}` (contract section 7).

pub mod model;
pub mod queries;
pub mod routes;
pub mod search_counts;
pub mod types;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::list_products, routes::create_product))
        .routes(routes!(
            routes::get_product,
            routes::update_product,
            routes::delete_product
        ))
}
