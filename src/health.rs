//! `/healthz` (the process is up) and `/readyz` (the database answers, and the process is
//! not shutting down).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// `{"status": "ok"}`, and for `/readyz` which database answered.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct Health {
    #[schema(example = "ok")]
    status: String,
    /// `/readyz` only: `sqlite`, `postgres` or `mysql`.
    database: Option<String>,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Up", body = Health)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The database answers and the process is not shutting down.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready", body = Health)))]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    if state.is_shutting_down() {
        return Err(ApiError::ServiceUnavailable(
            "The server is shutting down".into(),
        ));
    }
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
