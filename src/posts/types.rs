//! What `/posts` sends and takes.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::domain::{PostBody, Title};
use super::model as post;
use crate::extract::Id;
use crate::pagination::{PageLimit, PageNumber, SearchTerm};

/// Fields a client may send back but cannot change: ignored in writes.
pub const READ_ONLY_FIELDS: &[&str] = &["id", "created_at", "updated_at", "user_id", "author"];

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Author {
    pub id: i64,
    pub username: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PostResponse {
    pub id: i64,
    pub title: String,
    pub body: String,
    pub user_id: i64,
    pub author: Author,
    #[serde(serialize_with = "crate::time::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-05-28T10:15:30.123Z")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-05-28T10:15:30.123Z")]
    pub updated_at: DateTime<Utc>,
}

/// A page of posts, as `GET /posts` and `GET /users/{id}/posts` send it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct PostsPage {
    pub posts: Vec<PostResponse>,
    pub total: u64,
    pub page: u64,
    /// `ceil(total / limit)`: `0` when nothing matches.
    pub pages: u64,
}

impl PostResponse {
    pub fn new(post: post::Model, author_username: String) -> Self {
        PostResponse {
            id: post.id,
            author: Author {
                id: post.user_id,
                username: author_username,
            },
            user_id: post.user_id,
            title: post.title,
            body: post.body,
            created_at: post.created_at,
            updated_at: post.updated_at,
        }
    }
}

crate::json_body! {
    /// `POST /posts`: the caller is the author.
    pub struct NewPostRequest {
        pub title: Title,
        pub body: PostBody,
    }
    ignores: READ_ONLY_FIELDS;
}

crate::json_body! {
    /// `PUT`/`PATCH /posts/{id}`: any of the fields.
    pub struct PostUpdateRequest {
        pub title: Option<Title>,
        pub body: Option<PostBody>,
    }
    ignores: READ_ONLY_FIELDS;
}

crate::query_params! {
    /// `GET /posts`.
    pub struct PostListQuery {
        /// Page number, from 1 (default 1)
        pub page: PageNumber,
        /// Items per page, 1–100 (default 20)
        pub limit: PageLimit,
        /// Case-insensitive substring of the title; `%` and `_` are literal
        pub q: SearchTerm,
        /// Only this user's posts
        pub user_id: Id,
    }
}

crate::query_params! {
    /// `GET /users/{id}/posts`.
    pub struct UserPostListQuery {
        /// Page number, from 1 (default 1)
        pub page: PageNumber,
        /// Items per page, 1–100 (default 20)
        pub limit: PageLimit,
        /// Case-insensitive substring of the title; `%` and `_` are literal
        pub q: SearchTerm,
    }
}
