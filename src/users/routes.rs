//! `/users` handlers.

use axum::extract::State;
use axum::http::StatusCode;

use sea_orm::DatabaseConnection;

use super::AuthUser;
use super::caller::AccessClaims;
use super::domain::Role;
use super::model as user;
use super::queries::{self, UserChanges};
use super::types::{UserListQuery, UserResponse, UserUpdateRequest};
use crate::conditional::{JsonWithEtag, Preconditions, etag_of_value};
use crate::db::{begin_write, retry_transient};
use crate::error::{ApiResult, forbidden, not_found, unprocessable};
use crate::extract::{JsonObject, PathId, ValidQuery};
use crate::jobs::Job;
use crate::pagination::{Page, PageRequest, cached_page};
use crate::row_counts;
use crate::state::AppState;
use crate::validation::FromJsonObject;

/// `GET /users`: newest first, `?page`, `?limit`, `?q=` on usernames.
#[utoipa::path(get, path = "/users", tag = "users",
    security(("bearer" = [])),
    params(UserListQuery, ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier response: `304` if it is still current")),
    responses(
        (status = 200, description = "Newest first; `q` matches usernames", body = super::types::UsersPage, headers(("ETag" = String, description = "Version of this representation"))),
        (status = 304, description = "Not modified: `If-None-Match` names the current version",
            headers(("ETag" = String))),
    ))]
pub async fn list_users(
    State(state): State<AppState>,
    viewer: AuthUser,
    ValidQuery(query): ValidQuery<UserListQuery>,
    preconditions: Preconditions,
) -> ApiResult<JsonWithEtag> {
    let page = PageRequest::new(query.page, query.limit);
    let search = query.q.as_ref().and_then(|q| q.term());
    // Admins see every email; others only their own, so a page is kept for each kind of
    // viewer, and one seen by others is not given to the users on it.
    let view = if viewer.is_admin() { "admin" } else { "others" };
    let key = format!("{view}/{search:?}/{}/{}", page.page, page.limit);
    let viewer_id = Some(viewer.id());
    cached_page(
        &state,
        row_counts::USERS,
        key,
        viewer_id,
        &preconditions,
        |_| async {
            let (users, total) = queries::list(&state.db, search, page).await?;
            let personal = if viewer.is_admin() {
                Box::default()
            } else {
                users.iter().map(|u| u.id).collect()
            };
            let items = users
                .iter()
                .map(|u| UserResponse::seen_by(u, &viewer.0))
                .collect();
            let page = Page {
                key: "users",
                items,
                total,
                request: page,
            };
            Ok((page, personal))
        },
    )
    .await
}

/// `GET /users/profile`: the caller, as `/auth/me`.
#[utoipa::path(get, path = "/users/profile", tag = "users",
    security(("bearer" = [])),
    params(("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier response: `304` if it is still current")),
    responses(
        (status = 200, description = "The caller", body = UserResponse, headers(("ETag" = String, description = "Version of this representation"))),
        (status = 304, description = "Not modified: `If-None-Match` names the current version",
            headers(("ETag" = String))),
    ))]
pub async fn profile(viewer: AuthUser, preconditions: Preconditions) -> ApiResult<JsonWithEtag> {
    Ok(JsonWithEtag::ok(&UserResponse::full(&viewer.0))?.or_not_modified(&preconditions))
}

/// `GET /users/{id}`.
#[utoipa::path(get, path = "/users/{id}", tag = "users",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, description = "User id"), ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier response: `304` if it is still current")),
    responses(
        (status = 200, description = "The user; `email` only to the user themself and admins", body = UserResponse, headers(("ETag" = String, description = "Version of this representation"))),
        (status = 304, description = "Not modified: `If-None-Match` names the current version",
            headers(("ETag" = String))),
    ))]
pub async fn get_user(
    State(state): State<AppState>,
    PathId(id): PathId,
    claims: AccessClaims,
    preconditions: Preconditions,
) -> ApiResult<JsonWithEtag> {
    let (viewer, user) = claims.caller_and_user(&state, id).await?;
    let user = user.ok_or_else(|| user_not_found(id))?;
    Ok(JsonWithEtag::ok(&UserResponse::seen_by(&user, &viewer.0))?.or_not_modified(&preconditions))
}

/// `PUT`/`PATCH /users/{id}`: the user themself or an admin; `role` only by admins; the last
/// admin cannot be demoted.
#[utoipa::path(method(put, patch), path = "/users/{id}", tag = "users",
    description = "The user themself or an admin. Both methods take partial bodies. `role` only by admins.",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, description = "User id"), ("If-Match" = Option<String>, Header, description = "The ETag the change is based on: `412` if the resource has changed since; `*` for any version")),
    request_body = UserUpdateRequest,
    responses(
        (status = 200, description = "The updated user", body = UserResponse, headers(("ETag" = String, description = "Version of this representation"))),
        (status = 409, description = "Email or username already taken", body = crate::error::ErrorBody),
        (status = 412, description = "`If-Match` names a version that is no longer current; nothing changed", body = crate::error::ErrorBody),
        (status = 422, description = "Would demote the last admin", body = crate::error::ErrorBody),
    ))]
pub async fn update_user(
    State(state): State<AppState>,
    PathId(id): PathId,
    caller: AuthUser,
    preconditions: Preconditions,
    JsonObject(body): JsonObject,
) -> ApiResult<JsonWithEtag> {
    // Who may change the account is answered before what the body says.
    may_manage(&caller, id)?;
    let body = UserUpdateRequest::from_object(body, &state.parse_context())?;
    let changes = UserChanges {
        username: body.username,
        email: body.email,
        role: body.role,
    };
    if changes.role.is_some() && !caller.is_admin() {
        return Err(forbidden("Only admins can change roles"));
    }

    let (previous_email, updated) =
        retry_transient(|| apply_changes(&state.db, &caller, &preconditions, id, changes.clone()))
            .await?;
    if updated.email != previous_email {
        // The new address is unverified: it gets a link; the old one is told.
        state.queue_email(Job::VerifyEmail { user_id: id }).await;
        state
            .queue_email(Job::EmailChanged {
                user_id: id,
                old_email: previous_email,
            })
            .await;
    }
    JsonWithEtag::ok(&UserResponse::seen_by(&updated, &caller.0))
}

/// The transaction of an update: checked against `If-Match` and the last-admin rule under
/// lock. Returns the address before the change, and the user after it.
async fn apply_changes(
    db: &DatabaseConnection,
    caller: &AuthUser,
    preconditions: &Preconditions,
    id: i64,
    changes: UserChanges,
) -> ApiResult<(String, user::Model)> {
    let tx = begin_write(db).await?;
    // Admin rows first, then the target: every writer takes locks in this order, so two
    // admins demoting each other wait for one another.
    let admins = match changes.role {
        Some(_) => queries::lock_admin_ids(&tx).await?,
        None => Vec::new(),
    };
    let target = queries::find_by_id_for_update(&tx, id)
        .await?
        .ok_or_else(|| user_not_found(id))?;
    preconditions.check_if_match(&etag_of_value(&UserResponse::seen_by(&target, &caller.0))?)?;
    let demoting = target.is_admin() && changes.role == Some(Role::User);
    if demoting && only_admin_is(&admins, id) {
        return Err(unprocessable("Cannot demote the last admin"));
    }
    let changes = UserChanges {
        role: changes.role.filter(|r| r.as_str() != target.role),
        ..changes
    };
    let previous_email = target.email.clone();
    let updated = queries::update(&tx, target, changes).await?;
    tx.commit().await?;
    Ok((previous_email, updated))
}

/// `DELETE /users/{id}`: the user themself or an admin; takes their posts and tokens with
/// them; the last admin cannot be deleted.
#[utoipa::path(delete, path = "/users/{id}", tag = "users",
    description = "The user themself or an admin; their posts and tokens go with them.",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, description = "User id"), ("If-Match" = Option<String>, Header, description = "The ETag the change is based on: `412` if the resource has changed since; `*` for any version")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 412, description = "`If-Match` names a version that is no longer current; nothing changed", body = crate::error::ErrorBody),
        (status = 422, description = "Would delete the last admin", body = crate::error::ErrorBody),
    ))]
pub async fn delete_user(
    State(state): State<AppState>,
    PathId(id): PathId,
    caller: AuthUser,
    preconditions: Preconditions,
) -> ApiResult<StatusCode> {
    may_manage(&caller, id)?;
    retry_transient(|| remove(&state.db, &caller, &preconditions, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The transaction of a deletion: checked against `If-Match` and the last-admin rule under
/// lock.
async fn remove(
    db: &DatabaseConnection,
    caller: &AuthUser,
    preconditions: &Preconditions,
    id: i64,
) -> ApiResult<()> {
    let tx = begin_write(db).await?;
    let admins = queries::lock_admin_ids(&tx).await?;
    let target = queries::find_by_id_for_update(&tx, id)
        .await?
        .ok_or_else(|| user_not_found(id))?;
    preconditions.check_if_match(&etag_of_value(&UserResponse::seen_by(&target, &caller.0))?)?;
    if target.is_admin() && only_admin_is(&admins, id) {
        return Err(unprocessable("Cannot delete the last admin"));
    }
    // The user row is locked, so no post of theirs can be added before the cascade.
    queries::delete(&tx, id).await?;
    tx.commit().await?;
    Ok(())
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

/// Whether `id` is the only admin among `admins` (read under lock in this transaction).
fn only_admin_is(admins: &[i64], id: i64) -> bool {
    admins.iter().all(|admin| *admin == id)
}
