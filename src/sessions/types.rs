//! What `/auth/sessions` and `/users/{id}/sessions` send.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::model::Model as Session;
use crate::session_lifetime::SessionLifetime;

/// One live session.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionResponse {
    pub id: i64,
    /// The login.
    #[serde(serialize_with = "crate::time::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-05-28T10:15:30.123Z")]
    pub created_at: DateTime<Utc>,
    /// The last refresh (the login, if never refreshed).
    #[serde(serialize_with = "crate::time::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-05-28T10:15:30.123Z")]
    pub last_used_at: DateTime<Utc>,
    /// When the session ends unless refreshed before (idle timeout), or at the latest
    /// (maximum lifetime).
    #[serde(serialize_with = "crate::time::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-06-11T10:15:30.123Z")]
    pub expires_at: DateTime<Utc>,
    /// The client's address at login.
    #[schema(example = "203.0.113.7")]
    pub ip: Option<String>,
    /// The login's `User-Agent`, cut to 256 characters.
    pub user_agent: Option<String>,
    /// Whether this is the session of the token making the call.
    pub current: bool,
}

/// `{"sessions": [...]}`, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionResponse>,
}

impl SessionList {
    pub fn new(sessions: Vec<Session>, lifetime: &SessionLifetime, current: Option<i64>) -> Self {
        SessionList {
            sessions: sessions
                .into_iter()
                .map(|s| SessionResponse {
                    id: s.id,
                    expires_at: lifetime.expires_at(&s.times()),
                    created_at: s.created_at,
                    last_used_at: s.last_used_at,
                    current: Some(s.id) == current,
                    ip: s.ip,
                    user_agent: s.user_agent,
                })
                .collect(),
        }
    }
}
