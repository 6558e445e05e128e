//! What `/users` sends and takes.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::domain::{Email, Role, Username};
use super::model as user;
use crate::pagination::{PageLimit, PageNumber, SearchTerm};

/// Fields of a user a client may send back but cannot change: ignored in writes.
pub const READ_ONLY_FIELDS: &[&str] = &["id", "created_at", "updated_at"];

/// A user as the API shows it. Never the password hash; `email` only to the user themself
/// and to admins.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserResponse {
    pub id: i64,
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the owner has followed a verification link; shown wherever `email` is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    pub role: String,
    #[serde(serialize_with = "crate::time::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-05-28T10:15:30.123Z")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-05-28T10:15:30.123Z")]
    pub updated_at: DateTime<Utc>,
}

impl UserResponse {
    /// Everything, email included: for the user themself and for admins.
    pub fn full(user: &user::Model) -> Self {
        UserResponse {
            id: user.id,
            username: user.username.clone(),
            email: Some(user.email.clone()),
            email_verified: Some(user.email_verified),
            role: user.role.clone(),
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }

    /// As `viewer` may see it.
    pub fn seen_by(user: &user::Model, viewer: &user::Model) -> Self {
        let mut shown = Self::full(user);
        if viewer.id != user.id && !viewer.is_admin() {
            shown.email = None;
            shown.email_verified = None;
        }
        shown
    }
}

/// A page of users, as `GET /users` sends it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UsersPage {
    pub users: Vec<UserResponse>,
    pub total: u64,
    pub page: u64,
    /// `ceil(total / limit)`: `0` when nothing matches.
    pub pages: u64,
}

crate::json_body! {
    /// `PUT`/`PATCH /users/{id}`: any of the fields; `role` only by admins.
    pub struct UserUpdateRequest {
        pub username: Option<Username>,
        pub email: Option<Email>,
        /// Admins only (`403` for anyone else).
        pub role: Option<Role>,
    }
    ignores: READ_ONLY_FIELDS;
}

crate::query_params! {
    /// `GET /users`.
    pub struct UserListQuery {
        /// Page number, from 1 (default 1)
        pub page: PageNumber,
        /// Items per page, 1–100 (default 20)
        pub limit: PageLimit,
        /// Case-insensitive substring of the username; `%` and `_` are literal
        pub q: SearchTerm,
    }
}
