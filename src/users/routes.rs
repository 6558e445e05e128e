//! `/users` handlers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::queries::{self, UserChanges};
use super::types::{UserResponse, parse_user_changes};
use crate::db::begin_write;
use crate::domain::Role;
use crate::error::{ApiResult, forbidden, not_found, unprocessable};
use crate::extract::{AuthUser, JsonObject, PathId};
use crate::pagination::{Page, PageRequest, QueryErrors, QueryParams, parse_search};
use crate::state::AppState;

/// `GET /users`: newest first, `?page`, `?limit`, `?q=` on usernames.
pub async fn list_users(
    State(state): State<AppState>,
    viewer: AuthUser,
    params: QueryParams,
) -> ApiResult<Json<Page<UserResponse>>> {
    let mut errors = QueryErrors::default();
    let page = PageRequest::parse(&params, &mut errors);
    let search = parse_search(&params, &mut errors, "q");
    errors.finish()?;
    let (users, total) = queries::list(&state.db, search.as_deref(), page).await?;
    let items = users
        .iter()
        .map(|u| UserResponse::seen_by(u, &viewer.0))
        .collect();
    Ok(Json(Page {
        key: "users",
        items,
        total,
        request: page,
    }))
}

/// `GET /users/profile`: the caller, as `/auth/me`.
pub async fn profile(viewer: AuthUser) -> Json<UserResponse> {
    Json(UserResponse::full(&viewer.0))
}

/// `GET /users/{id}`.
pub async fn get_user(
    State(state): State<AppState>,
    viewer: AuthUser,
    PathId(id): PathId,
) -> ApiResult<Json<UserResponse>> {
    let user = queries::find_by_id(&state.db, id)
        .await?
        .ok_or_else(|| user_not_found(id))?;
    Ok(Json(UserResponse::seen_by(&user, &viewer.0)))
}

/// `PUT`/`PATCH /users/{id}`: the user themself or an admin; `role` only by admins; the last
/// admin cannot be demoted.
pub async fn update_user(
    State(state): State<AppState>,
    caller: AuthUser,
    PathId(id): PathId,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<UserResponse>> {
    may_manage(&caller, id)?;
    let changes = parse_user_changes(body)?;

    let tx = begin_write(&state.db).await?;
    let target = queries::find_by_id(&tx, id)
        .await?
        .ok_or_else(|| user_not_found(id))?;
    let demoting = target.is_admin() && changes.role == Some(Role::User);
    if let Some(role) = changes.role
        && role.as_str() != target.role
        && !caller.is_admin()
    {
        return Err(forbidden("Only admins can change roles"));
    }
    if demoting && is_last_admin(&tx, id).await? {
        return Err(unprocessable("Cannot demote the last admin"));
    }
    let changes = UserChanges {
        role: changes.role.filter(|r| r.as_str() != target.role),
        ..changes
    };
    let updated = queries::update(&tx, target, changes).await?;
    tx.commit().await?;
    Ok(Json(UserResponse::seen_by(&updated, &caller.0)))
}

/// `DELETE /users/{id}`: the user themself or an admin; takes their posts and tokens with
/// them; the last admin cannot be deleted.
pub async fn delete_user(
    State(state): State<AppState>,
    caller: AuthUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    may_manage(&caller, id)?;
    let tx = begin_write(&state.db).await?;
    let target = queries::find_by_id(&tx, id)
        .await?
        .ok_or_else(|| user_not_found(id))?;
    if target.is_admin() && is_last_admin(&tx, id).await? {
        return Err(unprocessable("Cannot delete the last admin"));
    }
    queries::delete(&tx, id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

fn user_not_found(id: i64) -> crate::error::ApiError {
    not_found(format!("User {id} not found"))
}

/// Only the user themself or an admin may change or delete an account. A caller who may
/// not does not learn whether the account exists.
fn may_manage(caller: &AuthUser, id: i64) -> ApiResult<()> {
    if caller.id() == id || caller.is_admin() {
        Ok(())
    } else {
        Err(forbidden("You may only change your own account"))
    }
}

/// Whether `id` is the only admin left. Locks the admin rows for the rest of the
/// transaction, so two admins demoting each other at once cannot both succeed.
async fn is_last_admin(tx: &sea_orm::DatabaseTransaction, id: i64) -> ApiResult<bool> {
    let admins = queries::lock_admin_ids(tx).await?;
    Ok(admins.iter().all(|admin| *admin == id))
}
