//! Schema migrations, embedded in the binary and applied by `larch serve` (unless told not
//! to) or `larch migrate`. Written once with sea-query so that SQLite, PostgreSQL and MySQL
//! get the same schema; backend differences are confined to the helpers below.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DatabaseConnection, DbBackend};

mod m20261125_000001_create_users;
mod m20261125_000002_create_refresh_tokens;
mod m20261125_000003_create_rate_limits;
mod m20261125_000004_create_posts;
mod m20261125_000005_create_products;
mod m20261125_000006_create_row_counts;
mod m20261125_000007_count_product_changes;
mod m20261125_000008_create_idempotency_keys;
mod m20261129_000009_fold_key_columns;
mod m20261129_000010_canonical_emails;
mod m20261129_000011_create_sessions;
mod m20261129_000012_email_verification;
mod m20261130_000011_rate_limit_token_buckets;
mod m20261130_000013_count_users;
mod m20261206_000014_count_list_changes;

pub struct Migrator;

/// Which of this binary's migrations a database has, read without writing anything:
/// sea-orm's own status first creates its table, which a dry run must not do and a role
/// without DDL rights cannot.
pub struct Applied {
    /// This binary's migrations the database lacks, oldest first.
    pub pending: Vec<String>,
    /// Migrations the database has that this binary does not know (a newer version's).
    pub unknown: Vec<String>,
    /// Whether any migration at all has been applied.
    pub any: bool,
}

impl Applied {
    pub async fn read(db: &DatabaseConnection) -> Result<Self, DbErr> {
        use sea_orm_migration::sea_orm::{EntityName, EntityTrait};
        use sea_orm_migration::seaql_migrations;
        use std::collections::HashSet;
        let table = seaql_migrations::Entity.table_name();
        let applied: HashSet<String> = if SchemaManager::new(db).has_table(table).await? {
            seaql_migrations::Entity::find()
                .all(db)
                .await?
                .into_iter()
                .map(|row| row.version)
                .collect()
        } else {
            HashSet::new()
        };
        let known: Vec<String> = Migrator::migrations()
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        Ok(Applied {
            unknown: applied
                .iter()
                .filter(|version| !known.contains(version))
                .cloned()
                .collect(),
            pending: known
                .into_iter()
                .filter(|name| !applied.contains(name))
                .collect(),
            any: !applied.is_empty(),
        })
    }
}

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_users::Migration),
            Box::new(m20261125_000002_create_refresh_tokens::Migration),
            Box::new(m20261125_000003_create_rate_limits::Migration),
            Box::new(m20261125_000004_create_posts::Migration),
            Box::new(m20261125_000005_create_products::Migration),
            Box::new(m20261125_000006_create_row_counts::Migration),
            Box::new(m20261125_000007_count_product_changes::Migration),
            Box::new(m20261125_000008_create_idempotency_keys::Migration),
            Box::new(m20261129_000009_fold_key_columns::Migration),
            Box::new(m20261129_000010_canonical_emails::Migration),
            Box::new(m20261129_000011_create_sessions::Migration),
            Box::new(m20261129_000012_email_verification::Migration),
            Box::new(m20261130_000011_rate_limit_token_buckets::Migration),
            Box::new(m20261130_000013_count_users::Migration),
            Box::new(m20261206_000014_count_list_changes::Migration),
        ]
    }
}

/// A UTC timestamp with millisecond precision on every backend (MySQL's plain `TIMESTAMP`
/// would drop the milliseconds and end in 2038).
pub(crate) fn timestamp_column(backend: DbBackend, name: impl IntoIden) -> ColumnDef {
    let mut column = ColumnDef::new(name);
    match backend {
        DbBackend::MySql => column.custom(Alias::new("DATETIME(3)")),
        _ => column.timestamp_with_time_zone(),
    };
    column.not_null().take()
}

/// Text up to 100,000 characters: MySQL's `TEXT` holds only 64 KiB, so `MEDIUMTEXT` there.
pub(crate) fn long_text_column(backend: DbBackend, name: impl IntoIden) -> ColumnDef {
    let mut column = ColumnDef::new(name);
    match backend {
        DbBackend::MySql => column.custom(Alias::new("MEDIUMTEXT")),
        _ => column.text(),
    };
    column.not_null().take()
}

/// Table options: on MySQL, 4-byte UTF-8 and a binary collation, so comparisons and
/// unique indexes behave as on the other backends (no accent or case folding behind our
/// back; case-insensitivity is done explicitly with lower-cased key columns).
pub(crate) fn with_table_options(
    backend: DbBackend,
    table: &mut TableCreateStatement,
) -> TableCreateStatement {
    if backend == DbBackend::MySql {
        table
            .engine("InnoDB")
            .character_set("utf8mb4")
            .collate("utf8mb4_bin");
    }
    table.take()
}
