//! Row counts of `posts` and `products`, maintained by the transactions that insert and
//! delete rows, so that an unfiltered list's `total` is one primary-key read instead of a
//! `COUNT(*)` that grows with the table. Increments are atomic `UPDATE … SET total = total
//! + n`, so concurrent writers (and several instances) never lose one.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ConnectionTrait, QueryFilter};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "row_counts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub total: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub const POSTS: &str = "posts";
pub const PRODUCTS: &str = "products";
/// Not a row count: the number of writes to `products` so far, which versions the cached
/// counts of product searches (`products::search_counts`).
pub const PRODUCT_CHANGES: &str = "product_changes";

/// Adds `delta` (negative for deletions) to `table`'s count; call in the writing transaction.
pub async fn adjust(db: &impl ConnectionTrait, table: &str, delta: i64) -> Result<(), DbErr> {
    if delta == 0 {
        return Ok(());
    }
    Entity::update_many()
        .col_expr(Column::Total, Expr::col(Column::Total).add(delta))
        .filter(Column::Name.eq(table))
        .exec(db)
        .await?;
    Ok(())
}

/// The counter, or `None` if its row is missing (a migration rolled back).
pub async fn find(db: &impl ConnectionTrait, name: &str) -> Result<Option<u64>, DbErr> {
    let row = Entity::find_by_id(name.to_owned()).one(db).await?;
    Ok(row.map(|r| u64::try_from(r.total).unwrap_or(0)))
}

/// The counter, `0` if its row is missing.
pub async fn get(db: &impl ConnectionTrait, table: &str) -> Result<u64, DbErr> {
    Ok(find(db, table).await?.unwrap_or(0))
}
