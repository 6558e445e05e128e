//! The `sessions` table: one row per login. Its refresh tokens share its `family_id`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The refresh-token family of this login (`refresh_tokens.family_id`).
    pub family_id: String,
    pub user_id: i64,
    pub created_at: DateTimeUtc,
    /// The login, or the last refresh.
    pub last_used_at: DateTimeUtc,
    /// Set when the session is ended (logout, revocation, reuse, password change).
    pub ended_at: Option<DateTimeUtc>,
    /// The client's address at login, as the trusted-proxy rules resolve it.
    pub ip: Option<String>,
    /// The login's `User-Agent`, cut to 256 characters.
    pub user_agent: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    pub fn times(&self) -> crate::session_lifetime::SessionTimes {
        crate::session_lifetime::SessionTimes {
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            ended_at: self.ended_at,
        }
    }
}
