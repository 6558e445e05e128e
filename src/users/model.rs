//! The `users` table.

use sea_orm::entity::prelude::*;

use super::domain::Role;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// As the user typed it.
    pub username: String,
    /// Case-folded; the unique index and searches are on this.
    pub username_key: String,
    /// In its canonical form (`domain::Email`), on which it is unique.
    pub email: String,
    pub password_hash: String,
    pub role: String,
    /// Whether the owner has followed a verification link sent to `email`.
    pub email_verified: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl Model {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin.as_str()
    }
}

// Written by hand so that the password hash can never reach a log line.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

// The one mapping of this table's rows for the reads outside transactions (`reads`).
impl crate::reads::FromRow for Model {
    fn from_row(row: &crate::reads::ReadRow) -> Result<Self, DbErr> {
        Self::from_prefixed_row(row, "")
    }
}

impl Model {
    /// A user from a row whose columns carry `prefix` (a second user in one row).
    pub(crate) fn from_prefixed_row(
        row: &crate::reads::ReadRow,
        prefix: &str,
    ) -> Result<Self, DbErr> {
        let column = |name: &'static str| -> std::borrow::Cow<'static, str> {
            if prefix.is_empty() {
                name.into()
            } else {
                format!("{prefix}{name}").into()
            }
        };
        Ok(Self {
            id: row.get(&column("id"))?,
            username: row.get(&column("username"))?,
            username_key: row.get(&column("username_key"))?,
            email: row.get(&column("email"))?,
            password_hash: row.get(&column("password_hash"))?,
            role: row.get(&column("role"))?,
            email_verified: row.get(&column("email_verified"))?,
            created_at: row.get(&column("created_at"))?,
            updated_at: row.get(&column("updated_at"))?,
        })
    }
}
