//! `/posts` and `/users/{id}/posts` handlers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::queries::{self, NewPost, PostChanges, PostFilter};
use super::types::{
    NewPostRequest, PostListQuery, PostResponse, PostUpdateRequest, UserPostListQuery,
};
use crate::conditional::{JsonWithEtag, Preconditions, etag_of_value};
use crate::db::begin_write;
use crate::error::{ApiError, ApiResult, forbidden, not_found};
use crate::extract::{JsonObject, PathId, PathIds, ValidJson, ValidQuery};
use crate::idempotency::{self, IdempotencyKey, IdempotentRequest};
use crate::pagination::{Page, PageRequest, cached_page};
use crate::row_counts;
use crate::state::AppState;
use crate::users::AuthUser;
use crate::users::queries as users;
use crate::validation::FromJsonObject;

/// `GET /posts`: newest first; `?user_id=`, `?q=` (title), `?page`, `?limit`.
#[utoipa::path(get, path = "/posts", tag = "posts",
    params(PostListQuery, ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier response: `304` if it is still current")),
    responses(
        (status = 200, description = "Newest first", body = super::types::PostsPage, headers(("ETag" = String, description = "Version of this representation"))),
        (status = 304, description = "Not modified: `If-None-Match` names the current version",
            headers(("ETag" = String))),
    ))]
pub async fn list_posts(
    State(state): State<AppState>,
    ValidQuery(query): ValidQuery<PostListQuery>,
    preconditions: Preconditions,
) -> ApiResult<JsonWithEtag> {
    let filter = PostFilter {
        user_id: query.user_id.map(|id| id.0),
        search: query.q.as_ref().and_then(|q| q.term()).map(str::to_owned),
    };
    let page = PageRequest::new(query.page, query.limit);
    page_of_posts(&state, filter, page, &preconditions).await
}

/// A page of posts, kept (`row_counts::cache`) until a post or an author's name changes.
async fn page_of_posts(
    state: &AppState,
    filter: PostFilter,
    page: PageRequest,
    preconditions: &Preconditions,
) -> ApiResult<JsonWithEtag> {
    let key = format!(
        "{:?}/{:?}/{}/{}",
        filter.user_id, filter.search, page.page, page.limit
    );
    cached_page(
        state,
        row_counts::POSTS,
        key,
        None,
        preconditions,
        |_| async move {
            let (posts, total) = queries::list(&state.db, &filter, page).await?;
            let items = posts
                .into_iter()
                .map(|(post, author)| PostResponse::new(post, author))
                .collect();
            let page = Page {
                key: "posts",
                items,
                total,
                request: page,
            };
            Ok((page, Box::default()))
        },
    )
    .await
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
) -> ApiResult<JsonWithEtag> {
    let (post, author) = queries::find_with_author(&state.db, id)
        .await?
        .ok_or_else(|| post_not_found(id))?;
    Ok(JsonWithEtag::ok(&PostResponse::new(post, author))?.or_not_modified(&preconditions))
}

/// `POST /posts`: the caller is the author.
#[utoipa::path(post, path = "/posts", tag = "posts",
    description = "The caller is the author. With an `Idempotency-Key`, a retry with the same body returns the first response and creates nothing.",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "1-255 visible ASCII characters; scoped to the caller; remembered 24 hours")),
    request_body = NewPostRequest,
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
    let claim = IdempotentRequest::new(key, caller.id(), "POST /posts", &body);
    if let Some(first) = idempotency::replay_stored_response(&state.db, claim.as_ref()).await? {
        return Ok(first);
    }
    let new = NewPostRequest::from_object(body, &state.parse_context())?;
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
    let response = JsonWithEtag::new(StatusCode::CREATED, &PostResponse::new(post, author))?;
    let ttl = state.config.idempotency_key_ttl;
    idempotency::commit_created(&state.db, tx, claim.as_ref(), response, ttl).await
}

/// `PUT`/`PATCH /posts/{id}`: the author or an admin.
#[utoipa::path(method(put, patch), path = "/posts/{id}", tag = "posts",
    description = "The author or an admin. Both methods take partial bodies.",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, description = "Post id"), ("If-Match" = Option<String>, Header, description = "The ETag the change is based on: `412` if the resource has changed since; `*` for any version")),
    request_body = PostUpdateRequest,
    responses(
        (status = 200, description = "The updated post", body = PostResponse, headers(("ETag" = String, description = "Version of this representation"))),
        (status = 412, description = "`If-Match` names a version that is no longer current; nothing changed", body = crate::error::ErrorBody),
    ))]
pub async fn update_post(
    State(state): State<AppState>,
    PathId(id): PathId,
    caller: AuthUser,
    preconditions: Preconditions,
    ValidJson(body): ValidJson<PostUpdateRequest>,
) -> ApiResult<JsonWithEtag> {
    let changes = PostChanges {
        title: body.title,
        body: body.body,
    };
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
    JsonWithEtag::ok(&PostResponse::new(updated, author))
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
    params(("id" = i64, Path, minimum = 1, description = "User id"), UserPostListQuery, ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier response: `304` if it is still current")),
    responses(
        (status = 200, description = "That user's posts, newest first", body = super::types::PostsPage, headers(("ETag" = String, description = "Version of this representation"))),
        (status = 304, description = "Not modified: `If-None-Match` names the current version",
            headers(("ETag" = String))),
    ))]
pub async fn list_user_posts(
    State(state): State<AppState>,
    PathId(user_id): PathId,
    ValidQuery(query): ValidQuery<UserPostListQuery>,
    preconditions: Preconditions,
) -> ApiResult<JsonWithEtag> {
    let page = PageRequest::new(query.page, query.limit);
    let search = query.q.as_ref().and_then(|q| q.term()).map(str::to_owned);
    users::find_by_id(&state.db, user_id)
        .await?
        .ok_or_else(|| not_found(format!("User {user_id} not found")))?;
    let filter = PostFilter {
        user_id: Some(user_id),
        search,
    };
    page_of_posts(&state, filter, page, &preconditions).await
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
) -> ApiResult<JsonWithEtag> {
    let [user_id, post_id] = ids[..] else {
        return Err(not_found(crate::extract::NOT_FOUND_MESSAGE));
    };
    let (post, author) = queries::find_with_author(&state.db, post_id)
        .await?
        .filter(|(post, _)| post.user_id == user_id)
        .ok_or_else(|| not_found(format!("Post {post_id} not found for user {user_id}")))?;
    Ok(JsonWithEtag::ok(&PostResponse::new(post, author))?.or_not_modified(&preconditions))
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
