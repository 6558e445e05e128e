use std::collections::BTreeMap;

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::users::domain::Email;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Every stored email in its canonical form (`users::domain::Email`), on which the unique
/// index now decides. Two accounts whose addresses are one mailbox in different spellings
/// (`admin@ｅｘａｍｐｌｅ.com` and `admin@example.com`) cannot both keep theirs: the
/// migration names them and stops, changing nothing, for an operator to decide which
/// account keeps the address. Nothing is merged or dropped.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT id, email FROM users ORDER BY id",
            ))
            .await?;
        let mut owners: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        let mut changes = Vec::new();
        for row in rows {
            let id: i64 = row.try_get("", "id")?;
            let stored: String = row.try_get("", "email")?;
            // An address the current rules refuse is kept as it is: its owner can still log
            // in with it (login matches the stored text) and change it.
            let canonical = Email::parse(&stored).map_or(stored.clone(), Email::into_inner);
            if canonical != stored {
                changes.push((id, canonical.clone()));
            }
            owners.entry(canonical).or_default().push(id);
        }
        let shared: Vec<String> = owners
            .iter()
            .filter(|(_, ids)| ids.len() > 1)
            .map(|(email, ids)| format!("{email}: users {ids:?}"))
            .collect();
        if !shared.is_empty() {
            return Err(DbErr::Migration(format!(
                "these accounts have one email address in different spellings, and emails are \
                 now unique in their canonical form; give all but one of each group another \
                 address (larch changed nothing): {}",
                shared.join("; ")
            )));
        }
        let update = match backend {
            DbBackend::Postgres => "UPDATE users SET email = $1 WHERE id = $2",
            _ => "UPDATE users SET email = ? WHERE id = ?",
        };
        for (id, email) in changes {
            db.execute_raw(Statement::from_sql_and_values(
                backend,
                update,
                [email.into(), id.into()],
            ))
            .await?;
        }
        Ok(())
    }

    /// The canonical forms are valid addresses of the same mailboxes: nothing to undo.
    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
