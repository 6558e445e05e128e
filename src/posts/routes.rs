//! `/posts` and `/users/{id}/posts` handlers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::queries::{self, NewPost, PostFilter};
use super::types::{PostResponse, parse_new_post, parse_post_changes};
use crate::conditional::{Preconditions, Tagged, etag_of_value};
use crate::db::begin_write;
use crate::error::{ApiError, ApiResult, forbidden, not_found};
use crate::extract::{AuthUser, JsonObject, PathId, PathIds, parse_id};
use crate::idempotency::{self, Claim, IdempotencyKey};
use crate::pagination::{Page, PageRequest, QueryErrors, QueryParams, parse_search};
use crate::row_counts;
use crate::state::AppState;
use crate::users::queries as users;

/// `GET /posts`: newest first; `?user_id=`, `?q=` (title), `?page`, `?limit`.
#[utoipa::path(get, path = "/posts", tag = "posts",
    params(("page" = Option<i64>, Query, minimum = 1, description = "Page number, from 1 (default 1)"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Items per page, 1-100 (default 20)"),
        ("q" = Option<String>, Query, pattern = r"^[^\u0000]*$", description = "Case-insensitive substring of the title; `%` and `_` are literal"),
        ("user_id" = Option<i64>, Query, minimum = 1, description = "Only this user's posts")),
    responses((status = 200, description = "Newest first", body = super::types::PostsPage)))]
pub async fn list_posts(
    State(state): State<AppState>,
    params: QueryParams,
) -> ApiResult<Json<Page<PostResponse>>> {
    let mut errors = QueryErrors::default();
    let page = PageRequest::parse(&params, &mut errors);
    let search = parse_search(&params, &mut errors, "q");
    let user_id = params.get("user_id").and_then(|raw| {
        let id = parse_id(raw);
        if id.is_none() {
            errors.add("user_id", "must be a positive integer");
        }
        id
    });
    errors.finish()?;
    page_of_posts(&state, PostFilter { user_id, search }, page).await
}

async fn page_of_posts(
    state: &AppState,
    filter: PostFilter,
    page: PageRequest,
) -> ApiResult<Json<Page<PostResponse>>> {
    let (posts, total) = queries::list(&state.db, &filter, page).await?;
    let authors = queries::author_names(&state.db, &posts).await?;
    Ok(Json(Page {
        key: "posts",
        items: PostResponse::many(posts, &authors),
        total,
        request: page,
    }))
}

/// `GET /posts/{id}`.
#[utoipa::path(get, path = "/posts/{id}", tag = "posts",
    params(("id" = i64, Path, minimum = 1, description = "Post id"), ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier response: `304` if it is still current")),
    responses(
        (status = 200, description = "The post", body = PostResponse, headers(("ETag" = String, description = "Version of this representation"))),
        (status = 304, description = "Not modified: `If-None-Match` names the current version",
            headers(("ETag" = String))),
    ))]
pub async fn get_post(
    State(state): State<AppState>,
    PathId(id): PathId,
    preconditions: Preconditions,
) -> ApiResult<Tagged> {
    let (post, author) = queries::find_with_author(&state.db, id)
        .await?
        .ok_or_else(|| post_not_found(id))?;
    Ok(Tagged::ok(&PostResponse::new(post, author))?.unless_current(&preconditions))
}

/// `POST /posts`: the caller is the author.
#[utoipa::path(post, path = "/posts", tag = "posts",
    description = "The caller is the author. With an `Idempotency-Key`, a retry with the same body returns the first response and creates nothing.",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "1-255 visible ASCII characters; scoped to the caller; remembered 24 hours")),
    request_body = crate::openapi::bodies::NewPostRequest,
    responses(
        (status = 201, description = "Created (or, with `Idempotent-Replayed: true`, the first response to this key)", body = PostResponse,
            headers(("ETag" = String), ("Idempotent-Replayed" = Option<String>, description = "`true` on a replayed response"))),
        (status = 422, description = "This `Idempotency-Key` was used with a different request", body = crate::error::ErrorBody),
    ))]
pub async fn create_post(
    State(state): State<AppState>,
    caller: AuthUser,
    key: IdempotencyKey,
    JsonObject(body): JsonObject,
) -> ApiResult<Response> {
    let claim = Claim::new(key, caller.id(), "POST /posts", &body);
    if let Some(first) = idempotency::replay_if_seen(&state.db, claim.as_ref()).await? {
        return Ok(first);
    }
    let new = parse_new_post(body)?;
    let tx = begin_write(&state.db).await?;
    let post = queries::insert(
        &tx,
        NewPost {
            user_id: caller.id(),
            title: new.title,
            body: new.body,
        },
    )
    .await?;
    row_counts::adjust(&tx, row_counts::POSTS, 1).await?;
    // The author's name as of this transaction, so the tag is one a GET would give.
    let author = users::username_of(&tx, post.user_id).await?;
    let response = Tagged::new(StatusCode::CREATED, &PostResponse::new(post, author))?;
    let ttl = state.config.idempotency_key_ttl;
    idempotency::commit_created(&state.db, tx, claim.as_ref(), response, ttl).await
}

/// `PUT`/`PATCH /posts/{id}`: the author or an admin.
#[utoipa::path(method(put, patch), path = "/posts/{id}", tag = "posts",
    description = "The author or an admin. Both methods take partial bodies.",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, description = "Post id"), ("If-Match" = Option<String>, Header, description = "The ETag the change is based on: `412` if the resource has changed since; `*` for any version")),
    request_body = crate::openapi::bodies::PostUpdateRequest,
    responses(
        (status = 200, description = "The updated post", body = PostResponse, headers(("ETag" = String, description = "Version of this representation"))),
        (status = 412, description = "`If-Match` names a version that is no longer current; nothing changed", body = crate::error::ErrorBody),
    ))]
pub async fn update_post(
    State(state): State<AppState>,
    PathId(id): PathId,
    caller: AuthUser,
    preconditions: Preconditions,
    JsonObject(body): JsonObject,
) -> ApiResult<Tagged> {
    let changes = parse_post_changes(body)?;
    let tx = begin_write(&state.db).await?;
    let post = queries::find_by_id_for_update(&tx, id)
        .await?
        .ok_or_else(|| post_not_found(id))?;
    may_edit(&caller, &post)?;
    let author = users::username_of(&tx, post.user_id).await?;
    preconditions.check_if_match(&etag_of_value(&PostResponse::new(
        post.clone(),
        author.clone(),
    ))?)?;
    let updated = queries::update(&tx, post, changes).await?;
    tx.commit().await?;
    Tagged::ok(&PostResponse::new(updated, author))
}

/// `DELETE /posts/{id}`: the author or an admin.
#[utoipa::path(delete, path = "/posts/{id}", tag = "posts",
    description = "The author or an admin.",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, description = "Post id"), ("If-Match" = Option<String>, Header, description = "The ETag the change is based on: `412` if the resource has changed since; `*` for any version")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 412, description = "`If-Match` names a version that is no longer current; nothing changed", body = crate::error::ErrorBody),
    ))]
pub async fn delete_post(
    State(state): State<AppState>,
    PathId(id): PathId,
    caller: AuthUser,
    preconditions: Preconditions,
) -> ApiResult<StatusCode> {
    let tx = begin_write(&state.db).await?;
    let post = queries::find_by_id_for_update(&tx, id)
        .await?
        .ok_or_else(|| post_not_found(id))?;
    may_edit(&caller, &post)?;
    if preconditions.has_if_match() {
        let author = users::username_of(&tx, post.user_id).await?;
        preconditions.check_if_match(&etag_of_value(&PostResponse::new(post, author))?)?;
    }
    if queries::delete(&tx, id).await? {
        row_counts::adjust(&tx, row_counts::POSTS, -1).await?;
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /users/{id}/posts`: that user's posts; `404` if there is no such user.
#[utoipa::path(get, path = "/users/{id}/posts", tag = "posts",
    params(("id" = i64, Path, minimum = 1, description = "User id"), ("page" = Option<i64>, Query, minimum = 1, description = "Page number, from 1 (default 1)"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Items per page, 1-100 (default 20)"),
        ("q" = Option<String>, Query, pattern = r"^[^\u0000]*$", description = "Case-insensitive substring of the title; `%` and `_` are literal")),
    responses((status = 200, description = "That user's posts, newest first", body = super::types::PostsPage)))]
pub async fn list_user_posts(
    State(state): State<AppState>,
    PathId(user_id): PathId,
    params: QueryParams,
) -> ApiResult<Json<Page<PostResponse>>> {
    let mut errors = QueryErrors::default();
    let page = PageRequest::parse(&params, &mut errors);
    let search = parse_search(&params, &mut errors, "q");
    errors.finish()?;
    users::find_by_id(&state.db, user_id)
        .await?
        .ok_or_else(|| not_found(format!("User {user_id} not found")))?;
    page_of_posts(
        &state,
        PostFilter {
            user_id: Some(user_id),
            search,
        },
        page,
    )
    .await
}

/// `GET /users/{id}/posts/{post_id}`: `404` unless the post is that user's.
#[utoipa::path(get, path = "/users/{id}/posts/{post_id}", tag = "posts",
    params(("id" = i64, Path, minimum = 1, description = "User id"),
        ("post_id" = i64, Path, minimum = 1, description = "Post id"), ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier response: `304` if it is still current")),
    responses(
        (status = 200, description = "The post, if it is that user's", body = PostResponse, headers(("ETag" = String, description = "Version of this representation"))),
        (status = 304, description = "Not modified: `If-None-Match` names the current version",
            headers(("ETag" = String))),
    ))]
pub async fn get_user_post(
    State(state): State<AppState>,
    PathIds(ids): PathIds,
    preconditions: Preconditions,
) -> ApiResult<Tagged> {
    let [user_id, post_id] = ids[..] else {
        return Err(not_found(crate::extract::NOT_FOUND_MESSAGE));
    };
    let (post, author) = queries::find_with_author(&state.db, post_id)
        .await?
        .filter(|(post, _)| post.user_id == user_id)
        .ok_or_else(|| not_found(format!("Post {post_id} not found for user {user_id}")))?;
    Ok(Tagged::ok(&PostResponse::new(post, author))?.unless_current(&preconditions))
}

fn post_not_found(id: i64) -> ApiError {
    not_found(format!("Post {id} not found"))
}

fn may_edit(caller: &AuthUser, post: &super::model::Model) -> ApiResult<()> {
    if post.user_id == caller.id() || caller.is_admin() {
        Ok(())
    } else {
        Err(forbidden(
            "Only the author or an admin may change this post",
        ))
    }
}
