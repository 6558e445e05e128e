//! The `products` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "products")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    /// Case-folded name: `?q=` and the name sort use it.
    pub name_key: String,
    pub description: String,
    /// The price in whole cents.
    pub price_cents: i64,
    pub sku: Option<String>,
    pub stock: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

// The one mapping of this table's rows for the reads outside transactions (`reads`).
impl crate::reads::FromRow for Model {
    fn from_row(row: &crate::reads::ReadRow) -> Result<Self, DbErr> {
        Ok(Self {
            id: row.get("id")?,
            name: row.get("name")?,
            name_key: row.get("name_key")?,
            description: row.get("description")?,
            price_cents: row.get("price_cents")?,
            sku: row.get("sku")?,
            stock: row.get("stock")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
        })
    }
}
