//! `/healthz` (the process is up) and `/readyz` (the database answers).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    if crate::db::is_reachable(&state.db).await {
        Ok(Json(
            json!({"status": "ok", "database": crate::db::backend_name(&state.db)}),
        ))
    } else {
        Err(ApiError::ServiceUnavailable(
            "The database is not answering".into(),
        ))
    }
}
