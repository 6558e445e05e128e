//! `/auth/sessions` (the caller's own) and `/users/{id}/sessions` (admins).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::queries::{self, Which};
use super::refresh_tokens::RefreshError;
use super::types::SessionList;
use crate::db::begin_write;
use crate::error::{ApiError, ApiResult, forbidden, not_found, unauthorized};
use crate::extract::PathId;
use crate::session_lifetime::SessionLifetime;
use crate::state::AppState;
use crate::users::AuthUser;
use crate::users::queries as users;

/// How a refresh-token refusal or failure is answered.
impl From<RefreshError> for ApiError {
    fn from(error: RefreshError) -> Self {
        match error {
            RefreshError::Database(error) => error.into(),
            RefreshError::Signing(error) => ApiError::Internal(error),
            refused => unauthorized(refused.to_string()),
        }
    }
}

/// `GET /auth/sessions`: the caller's live sessions, newest first.
#[utoipa::path(get, path = "/auth/sessions", tag = "sessions",
    security(("bearer" = [])),
    responses((status = 200, description = "The caller's live sessions, newest first; `current` marks the one making the call", body = SessionList)))]
pub async fn list_own_sessions(
    State(state): State<AppState>,
    caller: AuthUser,
) -> ApiResult<Json<SessionList>> {
    let lifetime = SessionLifetime::from_config(&state.config);
    let sessions = queries::live_of_user(&state.db, caller.id(), &lifetime).await?;
    Ok(Json(SessionList::new(
        sessions,
        &lifetime,
        Some(caller.session_id()),
    )))
}

/// `DELETE /auth/sessions/{id}`: ends one of the caller's live sessions.
#[utoipa::path(delete, path = "/auth/sessions/{id}", tag = "sessions",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, description = "Session id")),
    responses((status = 204, description = "Ended: its refresh and access tokens stop working")))]
pub async fn end_own_session(
    State(state): State<AppState>,
    PathId(id): PathId,
    caller: AuthUser,
) -> ApiResult<StatusCode> {
    let lifetime = SessionLifetime::from_config(&state.config);
    let tx = begin_write(&state.db).await?;
    // Only a live session of the caller's: anyone else's, or an ended one, is not found.
    let live = queries::live_of_user(&tx, caller.id(), &lifetime).await?;
    if !live.iter().any(|s| s.id == id) {
        return Err(not_found(format!("Session {id} not found")));
    }
    queries::end(&tx, caller.id(), Which::One(id)).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /auth/sessions`: ends every session of the caller but the current one.
#[utoipa::path(delete, path = "/auth/sessions", tag = "sessions",
    security(("bearer" = [])),
    responses((status = 204, description = "Every other session ended")))]
pub async fn end_other_sessions(
    State(state): State<AppState>,
    caller: AuthUser,
) -> ApiResult<StatusCode> {
    let tx = begin_write(&state.db).await?;
    queries::end(&tx, caller.id(), Which::AllBut(caller.session_id())).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /users/{id}/sessions`: an admin sees a user's live sessions.
#[utoipa::path(get, path = "/users/{id}/sessions", tag = "sessions",
    description = "Admins only.",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, description = "User id")),
    responses((status = 200, description = "That user's live sessions, newest first", body = SessionList)))]
pub async fn list_user_sessions(
    State(state): State<AppState>,
    PathId(user_id): PathId,
    caller: AuthUser,
) -> ApiResult<Json<SessionList>> {
    require_admin(&caller)?;
    user_exists(&state, user_id).await?;
    let lifetime = SessionLifetime::from_config(&state.config);
    let sessions = queries::live_of_user(&state.db, user_id, &lifetime).await?;
    let current = (user_id == caller.id()).then(|| caller.session_id());
    Ok(Json(SessionList::new(sessions, &lifetime, current)))
}

/// `DELETE /users/{id}/sessions`: an admin ends every session of a user.
#[utoipa::path(delete, path = "/users/{id}/sessions", tag = "sessions",
    description = "Admins only.",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, description = "User id")),
    responses((status = 204, description = "Every session of that user ended")))]
pub async fn end_user_sessions(
    State(state): State<AppState>,
    PathId(user_id): PathId,
    caller: AuthUser,
) -> ApiResult<StatusCode> {
    require_admin(&caller)?;
    user_exists(&state, user_id).await?;
    let tx = begin_write(&state.db).await?;
    let ended = queries::end(&tx, user_id, Which::All).await?;
    tx.commit().await?;
    tracing::info!(
        user_id,
        by = caller.id(),
        ended,
        "sessions ended by an admin"
    );
    Ok(StatusCode::NO_CONTENT)
}

fn require_admin(caller: &AuthUser) -> ApiResult<()> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(forbidden(
            "Only admins may see or end another user's sessions",
        ))
    }
}

async fn user_exists(state: &AppState, user_id: i64) -> ApiResult<()> {
    users::find_by_id(&state.db, user_id)
        .await?
        .map(|_| ())
        .ok_or_else(|| not_found(format!("User {user_id} not found")))
}
