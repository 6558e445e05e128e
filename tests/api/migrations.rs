//! Upgrading an existing database: the migrations that rewrite stored data (canonical
//! emails, case-folded keys) run against rows written under the earlier rules.

use larch::migration::Migrator;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    QueryFilter, Set, Statement,
};
use sea_orm_migration::MigratorTrait;

use crate::runner::{Test, fresh_database, trials};

/// The migrations before the ones that rewrite data.
const BEFORE_REWRITES: u32 = 8;

/// The migrations before sessions existed.
const BEFORE_SESSIONS: u32 = 10;

/// A database at the schema of `BEFORE_REWRITES` migrations.
async fn old_database(dir: &std::path::Path) -> DatabaseConnection {
    database_at(dir, BEFORE_REWRITES).await
}

async fn database_at(dir: &std::path::Path, migrations: u32) -> DatabaseConnection {
    let url = fresh_database(dir).await;
    let db = larch::db::connect(&url, 2).await.expect("connects");
    Migrator::up(&db, Some(migrations))
        .await
        .expect("old migrations");
    db
}

/// A user row as the earlier rules wrote it (email lower-cased, nothing more), inserted
/// without reading it back (the old schema lacks columns the model has).
async fn old_user(db: &DatabaseConnection, name: &str, email: &str) -> i64 {
    let now = chrono::Utc::now();
    let row = larch::users::model::ActiveModel {
        username: Set(name.to_owned()),
        username_key: Set(name.to_lowercase()),
        email: Set(email.to_owned()),
        password_hash: Set("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".to_owned()),
        role: Set("user".to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    larch::users::model::Entity::insert(row)
        .exec(db)
        .await
        .expect("old user")
        .last_insert_id
}

/// The stored email, read with SQL that works on every schema version.
async fn email_of(db: &DatabaseConnection, id: i64) -> String {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => "SELECT email FROM users WHERE id = $1",
        _ => "SELECT email FROM users WHERE id = ?",
    };
    db.query_one_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        [id.into()],
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get("", "email")
    .unwrap()
}

async fn stored_emails_become_canonical() {
    let dir = tempfile::tempdir().unwrap();
    let db = old_database(dir.path()).await;
    let wide = old_user(&db, "wide", "bob@ｅｘａｍｐｌｅ.com").await;
    let plain = old_user(&db, "plain", "carol@example.com").await;
    let decomposed = old_user(&db, "decomposed", "elise@bu\u{308}cher.example").await;
    Migrator::up(&db, None).await.expect("migrates");
    assert_eq!(email_of(&db, wide).await, "bob@example.com");
    assert_eq!(email_of(&db, plain).await, "carol@example.com");
    assert_eq!(
        email_of(&db, decomposed).await,
        "elise@xn--bcher-kva.example"
    );
}

/// Two accounts that are one mailbox: the migration names them and changes nothing; once
/// an operator has given one of them another address, it runs.
async fn shared_mailboxes_stop_the_migration_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = old_database(dir.path()).await;
    let first = old_user(&db, "first", "admin@example.com").await;
    let second = old_user(&db, "second", "admin@ｅｘａｍｐｌｅ.com").await;
    let other = old_user(&db, "other", "dave@ｅｘａｍｐｌｅ.com").await;
    let error = Migrator::up(&db, None)
        .await
        .expect_err("two accounts share a mailbox")
        .to_string();
    assert!(
        error.contains(&format!("admin@example.com: users [{first}, {second}]")),
        "{error}"
    );
    assert_eq!(email_of(&db, second).await, "admin@ｅｘａｍｐｌｅ.com");
    assert_eq!(email_of(&db, other).await, "dave@ｅｘａｍｐｌｅ.com");

    let rename = match db.get_database_backend() {
        DbBackend::Postgres => "UPDATE users SET email = $1 WHERE id = $2",
        _ => "UPDATE users SET email = ? WHERE id = ?",
    };
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        rename,
        ["admin2@example.com".into(), second.into()],
    ))
    .await
    .unwrap();
    Migrator::up(&db, None)
        .await
        .expect("migrates once resolved");
    assert_eq!(email_of(&db, first).await, "admin@example.com");
    assert_eq!(email_of(&db, other).await, "dave@example.com");
}

/// Keys written with plain lower-casing (final `ς`) are refolded, so a search folded the
/// same way finds them.
async fn search_keys_are_refolded() {
    let dir = tempfile::tempdir().unwrap();
    let db = old_database(dir.path()).await;
    let author = old_user(&db, "author", "author@example.com").await;
    let now = chrono::Utc::now();
    let post = larch::posts::model::ActiveModel {
        user_id: Set(author),
        title: Set("ΟΔΟΣ".to_owned()),
        title_key: Set("ΟΔΟΣ".to_lowercase()),
        body: Set("text".to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    assert_eq!(post.title_key, "οδος");
    Migrator::up(&db, None).await.expect("migrates");
    let post = larch::posts::model::Entity::find_by_id(post.id)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(post.title_key, larch::text::fold_case("ΟΔΟΣ"));
    assert_eq!(post.title_key, "οδοσ");
    // The widened column takes a key three times the longest title.
    let long = "ΐ".repeat(200);
    let mut edited: larch::posts::model::ActiveModel = post.into();
    edited.title = Set(long.clone());
    edited.title_key = Set(larch::text::fold_case(&long));
    let edited = edited.update(&db).await.expect("a 600-character key fits");
    assert_eq!(edited.title_key.chars().count(), 600);
}

/// A refresh token row as larch wrote them before sessions: a family per login.
async fn old_refresh_token(
    db: &DatabaseConnection,
    user_id: i64,
    family: &str,
    minutes_ago: i64,
    revoked: bool,
) {
    let at = chrono::Utc::now() - chrono::Duration::minutes(minutes_ago);
    larch::sessions::refresh_token_model::ActiveModel {
        user_id: Set(user_id),
        family_id: Set(family.to_owned()),
        token_hash: Set(uuid::Uuid::new_v4().simple().to_string()),
        expires_at: Set(at + chrono::Duration::days(30)),
        used_at: Set(None),
        revoked_at: Set(revoked.then_some(at)),
        created_at: Set(at),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("old refresh token");
}

/// Every login that already had refresh tokens becomes a session: live if its family is,
/// ended if every token of it was revoked.
async fn existing_logins_become_sessions() {
    use larch::sessions::model as session;
    let dir = tempfile::tempdir().unwrap();
    let db = database_at(dir.path(), BEFORE_SESSIONS).await;
    let user = old_user(&db, "user", "user@example.com").await;
    old_refresh_token(&db, user, "live-family", 30, false).await;
    old_refresh_token(&db, user, "live-family", 10, false).await;
    old_refresh_token(&db, user, "ended-family", 20, true).await;
    Migrator::up(&db, None).await.expect("migrates");
    let live = session::Entity::find()
        .filter(session::Column::FamilyId.eq("live-family"))
        .one(&db)
        .await
        .unwrap()
        .expect("a session for the live family");
    assert_eq!(live.user_id, user);
    assert!(live.ended_at.is_none());
    assert!(
        live.last_used_at > live.created_at,
        "first and newest token"
    );
    let ended = session::Entity::find()
        .filter(session::Column::FamilyId.eq("ended-family"))
        .one(&db)
        .await
        .unwrap()
        .expect("a session for the ended family");
    assert!(ended.ended_at.is_some());
}

pub fn tests() -> Vec<Test> {
    trials![
        stored_emails_become_canonical,
        shared_mailboxes_stop_the_migration_and_change_nothing,
        search_keys_are_refolded,
        existing_logins_become_sessions,
    ]
}
