use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A change counter beside the row counts of `posts` and `users` (`row_counts.changes`),
/// bumped by triggers in the transaction of every write that changes what `GET /posts` or
/// `GET /users` shows: a post written or deleted; a user added, deleted or changed in a
/// shown column; a username changed (posts show their author's). Pages of those lists are
/// cached against it (`row_counts::cache`). Triggers, not application code, so that no
/// write path can forget: the handlers, `larch seed`, `larch import-flask` and a cascade
/// are all covered.
///
/// Lock order: where a write bumps both counters it bumps `posts` first, as a user's
/// deletion already locks `posts` (its posts come off the count) before `users`, so two
/// such writes never wait for each other in opposite orders.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "ALTER TABLE row_counts ADD COLUMN changes BIGINT NOT NULL DEFAULT 0",
        )
        .await?;
        for statement in triggers(manager.get_database_backend()) {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        for name in TRIGGERS {
            let statement = match backend {
                DbBackend::Postgres => {
                    let table = if name.starts_with("posts") {
                        "posts"
                    } else {
                        "users"
                    };
                    format!("DROP TRIGGER IF EXISTS {name} ON {table}")
                }
                _ => format!("DROP TRIGGER IF EXISTS {name}"),
            };
            db.execute_unprepared(&statement).await?;
        }
        if backend == DbBackend::Postgres {
            db.execute_unprepared("DROP FUNCTION IF EXISTS count_list_change()")
                .await?;
        }
        db.execute_unprepared("ALTER TABLE row_counts DROP COLUMN changes")
            .await?;
        Ok(())
    }
}

/// Every trigger `up` creates, by name (not every backend has every one).
const TRIGGERS: [&str; 9] = [
    "posts_change_inserted",
    "posts_change_updated",
    "posts_change_deleted",
    "posts_change_written",
    "users_change_inserted",
    "users_change_updated",
    "users_change_deleted",
    "users_change_a_renamed",
    "users_change_b_shown",
];

/// A user's columns that `GET /users` shows (`users::types::UserResponse`).
const SHOWN: [&str; 6] = [
    "username",
    "email",
    "email_verified",
    "role",
    "created_at",
    "updated_at",
];

fn bump(name: &str) -> String {
    format!("UPDATE row_counts SET changes = changes + 1 WHERE name = '{name}';")
}

fn triggers(backend: DbBackend) -> Vec<String> {
    match backend {
        DbBackend::Sqlite => {
            let shown_changed = SHOWN
                .map(|c| format!("OLD.{c} IS NOT NEW.{c}"))
                .join(" OR ");
            vec![
                format!(
                    "CREATE TRIGGER posts_change_inserted AFTER INSERT ON posts BEGIN {} END",
                    bump("posts")
                ),
                format!(
                    "CREATE TRIGGER posts_change_updated AFTER UPDATE ON posts BEGIN {} END",
                    bump("posts")
                ),
                format!(
                    "CREATE TRIGGER posts_change_deleted AFTER DELETE ON posts BEGIN {} END",
                    bump("posts")
                ),
                format!(
                    "CREATE TRIGGER users_change_inserted AFTER INSERT ON users BEGIN {} END",
                    bump("users")
                ),
                format!(
                    "CREATE TRIGGER users_change_updated AFTER UPDATE ON users \
                     WHEN {shown_changed} BEGIN {} {} END",
                    // Posts show their author's name: a rename changes them too.
                    "UPDATE row_counts SET changes = changes + 1 WHERE name = 'posts' \
                     AND OLD.username IS NOT NEW.username;",
                    bump("users")
                ),
                format!(
                    "CREATE TRIGGER users_change_deleted AFTER DELETE ON users BEGIN {} {} END",
                    bump("posts"),
                    bump("users")
                ),
            ]
        }
        DbBackend::Postgres => {
            let old = SHOWN.map(|c| format!("OLD.{c}")).join(", ");
            let new = SHOWN.map(|c| format!("NEW.{c}")).join(", ");
            vec![
                // The counter to bump is the trigger's argument.
                "CREATE FUNCTION count_list_change() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN UPDATE row_counts SET changes = changes + 1 WHERE name = TG_ARGV[0]; \
                 RETURN NULL; END $$"
                    .to_owned(),
                "CREATE TRIGGER posts_change_written AFTER INSERT OR UPDATE OR DELETE ON posts \
                 FOR EACH ROW EXECUTE FUNCTION count_list_change('posts')"
                    .to_owned(),
                "CREATE TRIGGER users_change_inserted AFTER INSERT ON users \
                 FOR EACH ROW EXECUTE FUNCTION count_list_change('users')"
                    .to_owned(),
                // PostgreSQL fires a statement's triggers in the order of their names:
                // `a_renamed` (posts) before `b_shown` (users), as the lock order wants.
                "CREATE TRIGGER users_change_a_renamed AFTER UPDATE OF username ON users \
                 FOR EACH ROW WHEN (OLD.username IS DISTINCT FROM NEW.username) \
                 EXECUTE FUNCTION count_list_change('posts')"
                    .to_owned(),
                format!(
                    "CREATE TRIGGER users_change_b_shown AFTER UPDATE ON users \
                     FOR EACH ROW WHEN (({old}) IS DISTINCT FROM ({new})) \
                     EXECUTE FUNCTION count_list_change('users')"
                ),
                // A deleted user's posts have already been counted off (and locked) by the
                // deleting transaction; the cascade fires `posts_change_written` as well.
                "CREATE TRIGGER users_change_deleted AFTER DELETE ON users \
                 FOR EACH ROW EXECUTE FUNCTION count_list_change('users')"
                    .to_owned(),
            ]
        }
        DbBackend::MySql => {
            let shown_same = SHOWN.map(|c| format!("NEW.{c} <=> OLD.{c}")).join(" AND ");
            vec![
                format!(
                    "CREATE TRIGGER posts_change_inserted AFTER INSERT ON posts FOR EACH ROW {}",
                    bump("posts").trim_end_matches(';')
                ),
                format!(
                    "CREATE TRIGGER posts_change_updated AFTER UPDATE ON posts FOR EACH ROW {}",
                    bump("posts").trim_end_matches(';')
                ),
                format!(
                    "CREATE TRIGGER posts_change_deleted AFTER DELETE ON posts FOR EACH ROW {}",
                    bump("posts").trim_end_matches(';')
                ),
                format!(
                    "CREATE TRIGGER users_change_inserted AFTER INSERT ON users FOR EACH ROW {}",
                    bump("users").trim_end_matches(';')
                ),
                format!(
                    "CREATE TRIGGER users_change_updated AFTER UPDATE ON users FOR EACH ROW \
                     BEGIN \
                       IF NOT (NEW.username <=> OLD.username) THEN {} END IF; \
                       IF NOT ({shown_same}) THEN {} END IF; \
                     END",
                    bump("posts"),
                    bump("users")
                ),
                // InnoDB's cascades fire no triggers: the deleted user's posts change the
                // posts list here.
                format!(
                    "CREATE TRIGGER users_change_deleted AFTER DELETE ON users FOR EACH ROW \
                     BEGIN {} {} END",
                    bump("posts"),
                    bump("users")
                ),
            ]
        }
        _ => Vec::new(),
    }
}
