//! The `row_counts` table: one named counter per row.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "row_counts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub total: i64,
    /// Writes that changed what the table's list shows, so far (kept by triggers for
    /// `posts` and `users`; see `cache`).
    pub changes: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

// The one mapping of this table's rows for the reads outside transactions (`reads`).
impl crate::reads::FromRow for Model {
    fn from_row(row: &crate::reads::ReadRow) -> Result<Self, DbErr> {
        Ok(Self {
            name: row.get("name")?,
            total: row.get("total")?,
            changes: row.get("changes")?,
        })
    }
}
