use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A change counter beside the row counts of `posts`, `users` and `products`
/// (`row_counts.changes`), bumped by triggers in the transaction of every write that changes
/// what `GET /posts`, `GET /users` or `GET /products` shows: a post or product written or
/// deleted; a user added, deleted or changed in a column the list shows or searches; a
/// username changed (posts show their author's). Pages of those lists are cached against it
/// (`row_counts::cache`). Triggers, not application code, so that no write path can forget:
/// the handlers, `larch seed`, `larch import-flask`, a cascade and SQL typed by hand are all
/// covered. It replaces the `product_changes` counter the product handlers bumped.
///
/// Lock order: where a write bumps two counters it bumps `posts` first, as a user's deletion
/// already locks `posts` (its posts come off the count) before `users`.
///
/// On PostgreSQL the triggers on whole rows run once per statement (a bulk insert of 50,000
/// posts bumps the counter once, not 50,000 times over its own row versions); SQLite and
/// MySQL have only row triggers, whose repeated updates of one row are in place.
///
/// `up` can be run again after a failure part-way (MySQL commits each DDL statement on its
/// own: a missing `TRIGGER` privilege stops it after the column is added).
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        if !manager.has_column("row_counts", "changes").await? {
            db.execute_unprepared(
                "ALTER TABLE row_counts ADD COLUMN changes BIGINT NOT NULL DEFAULT 0",
            )
            .await?;
        }
        drop_triggers(manager).await?;
        for statement in triggers(backend) {
            db.execute_unprepared(&statement).await?;
        }
        db.execute_unprepared("DELETE FROM row_counts WHERE name = 'product_changes'")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        drop_triggers(manager).await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("DROP FUNCTION IF EXISTS count_list_change()")
                .await?;
        }
        db.execute_unprepared("ALTER TABLE row_counts DROP COLUMN changes")
            .await?;
        db.execute_unprepared("INSERT INTO row_counts (name, total) VALUES ('product_changes', 0)")
            .await?;
        Ok(())
    }
}

/// The tables with triggers.
const TABLES: [&str; 3] = ["posts", "users", "products"];

/// Every trigger any backend gets, by name: `<table>_change_<what>`.
const TRIGGERS: [&str; 6] = [
    "change_inserted",
    "change_updated",
    "change_deleted",
    "change_written",
    "change_a_renamed",
    "change_b_shown",
];

async fn drop_triggers(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let backend = manager.get_database_backend();
    for table in TABLES {
        for what in TRIGGERS {
            let statement = match backend {
                DbBackend::Postgres => format!("DROP TRIGGER IF EXISTS {table}_{what} ON {table}"),
                _ => format!("DROP TRIGGER IF EXISTS {table}_{what}"),
            };
            manager
                .get_connection()
                .execute_unprepared(&statement)
                .await?;
        }
    }
    Ok(())
}

/// A user's columns that `GET /users` shows or searches (`users::types::UserResponse`,
/// `username_key`).
const WATCHED: [&str; 7] = [
    "username",
    "username_key",
    "email",
    "email_verified",
    "role",
    "created_at",
    "updated_at",
];

fn bump(name: &str) -> String {
    format!("UPDATE row_counts SET changes = changes + 1 WHERE name = '{name}'")
}

/// On SQLite and MySQL (row triggers only): a trigger on each insert, update and delete of
/// `posts` and `products` that bumps the table's counter, its body as `body` wraps the bump.
fn row_triggers(body: impl Fn(String) -> String) -> Vec<String> {
    let mut statements = Vec::new();
    for table in ["posts", "products"] {
        for (what, event) in [
            ("inserted", "INSERT"),
            ("updated", "UPDATE"),
            ("deleted", "DELETE"),
        ] {
            statements.push(format!(
                "CREATE TRIGGER {table}_change_{what} AFTER {event} ON {table} {}",
                body(bump(table))
            ));
        }
    }
    statements
}

fn triggers(backend: DbBackend) -> Vec<String> {
    let mut statements = Vec::new();
    match backend {
        DbBackend::Sqlite => {
            statements.extend(row_triggers(|bump| format!("BEGIN {bump}; END")));
            let watched_changed = WATCHED
                .map(|c| format!("OLD.{c} IS NOT NEW.{c}"))
                .join(" OR ");
            statements.extend([
                format!(
                    "CREATE TRIGGER users_change_inserted AFTER INSERT ON users BEGIN {}; END",
                    bump("users")
                ),
                // Posts show their author's name: a rename changes them too.
                format!(
                    "CREATE TRIGGER users_change_updated AFTER UPDATE ON users \
                     WHEN {watched_changed} BEGIN {} AND OLD.username IS NOT NEW.username; \
                     {}; END",
                    bump("posts"),
                    bump("users")
                ),
                format!(
                    "CREATE TRIGGER users_change_deleted AFTER DELETE ON users \
                     BEGIN {}; {}; END",
                    bump("posts"),
                    bump("users")
                ),
            ]);
        }
        DbBackend::Postgres => {
            let old = WATCHED.map(|c| format!("OLD.{c}")).join(", ");
            let new = WATCHED.map(|c| format!("NEW.{c}")).join(", ");
            // The counter to bump is the trigger's argument.
            statements.push(
                "CREATE OR REPLACE FUNCTION count_list_change() RETURNS trigger \
                 LANGUAGE plpgsql AS $$ BEGIN \
                 UPDATE row_counts SET changes = changes + 1 WHERE name = TG_ARGV[0]; \
                 RETURN NULL; END $$"
                    .to_owned(),
            );
            for table in ["posts", "products"] {
                statements.push(format!(
                    "CREATE TRIGGER {table}_change_written \
                     AFTER INSERT OR UPDATE OR DELETE ON {table} \
                     FOR EACH STATEMENT EXECUTE FUNCTION count_list_change('{table}')"
                ));
            }
            statements.extend([
                "CREATE TRIGGER users_change_inserted AFTER INSERT ON users \
                 FOR EACH STATEMENT EXECUTE FUNCTION count_list_change('users')"
                    .to_owned(),
                // A statement's triggers fire in the order of their names: `a_renamed`
                // (posts) before `b_shown` (users), as the lock order wants.
                "CREATE TRIGGER users_change_a_renamed AFTER UPDATE OF username ON users \
                 FOR EACH ROW WHEN (OLD.username IS DISTINCT FROM NEW.username) \
                 EXECUTE FUNCTION count_list_change('posts')"
                    .to_owned(),
                format!(
                    "CREATE TRIGGER users_change_b_shown AFTER UPDATE ON users \
                     FOR EACH ROW WHEN (({old}) IS DISTINCT FROM ({new})) \
                     EXECUTE FUNCTION count_list_change('users')"
                ),
                // The deleted user's posts go by cascade, which fires `posts_change_written`
                // (the deleting transaction has already locked the posts and their count).
                "CREATE TRIGGER users_change_deleted AFTER DELETE ON users \
                 FOR EACH STATEMENT EXECUTE FUNCTION count_list_change('users')"
                    .to_owned(),
            ]);
        }
        DbBackend::MySql => {
            statements.extend(row_triggers(|bump| format!("FOR EACH ROW {bump}")));
            let watched_same = WATCHED
                .map(|c| format!("NEW.{c} <=> OLD.{c}"))
                .join(" AND ");
            statements.extend([
                format!(
                    "CREATE TRIGGER users_change_inserted AFTER INSERT ON users FOR EACH ROW {}",
                    bump("users")
                ),
                format!(
                    "CREATE TRIGGER users_change_updated AFTER UPDATE ON users FOR EACH ROW \
                     BEGIN \
                       IF NOT (NEW.username <=> OLD.username) THEN {}; END IF; \
                       IF NOT ({watched_same}) THEN {}; END IF; \
                     END",
                    bump("posts"),
                    bump("users")
                ),
                // InnoDB's cascades fire no triggers: the deleted user's posts change the
                // posts list here.
                format!(
                    "CREATE TRIGGER users_change_deleted AFTER DELETE ON users FOR EACH ROW \
                     BEGIN {}; {}; END",
                    bump("posts"),
                    bump("users")
                ),
            ]);
        }
        _ => {}
    }
    statements
}
