//! What `/posts` sends and takes.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::model as post;
use super::queries::PostChanges;
use crate::error::ApiError;
use crate::validation::{FieldReader, checked};

pub const TITLE_MAX_LENGTH: usize = 200;
pub const BODY_MAX_LENGTH: usize = 100_000;

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

    pub fn many(posts: Vec<post::Model>, authors: &HashMap<i64, String>) -> Vec<Self> {
        posts
            .into_iter()
            .map(|p| {
                let name = authors.get(&p.user_id).cloned().unwrap_or_default();
                PostResponse::new(p, name)
            })
            .collect()
    }
}

fn parse_title(raw: &str) -> Result<String, String> {
    let length = raw.chars().count();
    if raw.trim().is_empty() {
        return Err("must not be blank".into());
    }
    if length > TITLE_MAX_LENGTH {
        return Err(format!(
            "must be at most {TITLE_MAX_LENGTH} characters long"
        ));
    }
    Ok(raw.to_owned())
}

fn parse_body(raw: &str) -> Result<String, String> {
    if raw.trim().is_empty() {
        return Err("must not be blank".into());
    }
    if raw.chars().count() > BODY_MAX_LENGTH {
        return Err(format!("must be at most {BODY_MAX_LENGTH} characters long"));
    }
    Ok(raw.to_owned())
}

pub struct NewPostBody {
    pub title: String,
    pub body: String,
}

pub fn parse_new_post(body: Map<String, Value>) -> Result<NewPostBody, ApiError> {
    let mut reader = FieldReader::new(body);
    let title = reader.required("title", parse_title);
    let text = reader.required("body", parse_body);
    reader.finish(READ_ONLY_FIELDS)?;
    Ok(NewPostBody {
        title: checked(title)?,
        body: checked(text)?,
    })
}

pub fn parse_post_changes(body: Map<String, Value>) -> Result<PostChanges, ApiError> {
    let mut reader = FieldReader::new(body);
    let changes = PostChanges {
        title: reader.optional("title", parse_title),
        body: reader.optional("body", parse_body),
    };
    reader.finish(READ_ONLY_FIELDS)?;
    Ok(changes)
}
