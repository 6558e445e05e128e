//! The `rate_limit_buckets` table: one token bucket per route and client IP.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rate_limit_buckets")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `<route>:<client ip>`.
    pub bucket: String,
    /// The bucket's theoretical arrival time (GCRA), Unix milliseconds: when it is full
    /// again if nothing more comes.
    pub tat_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
