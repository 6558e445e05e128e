//! What `/users` sends and takes.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::model as user;
use super::queries::UserChanges;
use crate::domain::{Email, Role, Username};
use crate::error::ApiError;
use crate::validation::FieldReader;

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

/// The body of `PUT`/`PATCH /users/{id}`: any of `username`, `email`, `role`.
pub fn parse_user_changes(body: Map<String, Value>) -> Result<UserChanges, ApiError> {
    let mut reader = FieldReader::new(body);
    let changes = UserChanges {
        username: reader.optional("username", Username::parse),
        email: reader.optional("email", Email::parse),
        role: reader.optional("role", Role::parse),
    };
    reader.finish(READ_ONLY_FIELDS)?;
    Ok(changes)
}
