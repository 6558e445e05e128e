//! Products: `/products`, `/products/{id}` (contract section 7).

pub mod model;
pub mod queries;
pub mod routes;
pub mod search_counts;
pub mod types;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/products",
            get(routes::list_products).post(routes::create_product),
        )
        .route(
            "/products/{id}",
            get(routes::get_product)
                .put(routes::update_product)
                .patch(routes::update_product)
                .delete(routes::delete_product),
        )
}
