//! The rules of the tokens sent in emails (password reset, email verification), on every
//! backend: single use, expiry, one purpose, the newest reset link only, and the count the
//! per-address cap reads. (The endpoints that send and take them are still to come.)

use std::time::Duration;

use larch::email_tokens::{self, ConsumeError, Purpose};

use crate::client::spawn_app;
use crate::runner::{Test, trials};

const HOUR: Duration = Duration::from_secs(3600);

fn refused(result: Result<impl std::fmt::Debug, ConsumeError>) -> bool {
    matches!(result, Err(ConsumeError::Refused))
}

async fn a_token_is_single_use_and_of_one_purpose() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let db = &app.state.db;
    let token = email_tokens::issue(db, user.id, Purpose::VerifyEmail, &user.email, HOUR)
        .await
        .unwrap();
    assert!(token.len() >= 43, "at least 256 bits, base64url");
    assert!(refused(
        email_tokens::consume(db, &token, Purpose::PasswordReset).await
    ));
    let row = email_tokens::consume(db, &token, Purpose::VerifyEmail)
        .await
        .unwrap();
    assert_eq!(
        (row.user_id, row.email.as_str()),
        (user.id, user.email.as_str())
    );
    assert!(refused(
        email_tokens::consume(db, &token, Purpose::VerifyEmail).await
    ));
    assert!(refused(
        email_tokens::consume(db, "not-a-token", Purpose::VerifyEmail).await
    ));
    // Only the hash is stored.
    use sea_orm::{EntityTrait, QuerySelect};
    let hashes: Vec<String> = larch::email_tokens::model::Entity::find()
        .select_only()
        .column(larch::email_tokens::model::Column::TokenHash)
        .into_tuple()
        .all(db)
        .await
        .unwrap();
    assert!(hashes.iter().all(|h| h != &token && h.len() == 64));
}

async fn expired_tokens_are_refused() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let db = &app.state.db;
    let token = email_tokens::issue(
        db,
        user.id,
        Purpose::PasswordReset,
        &user.email,
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(refused(
        email_tokens::consume(db, &token, Purpose::PasswordReset).await
    ));
}

async fn a_newer_reset_voids_the_older_ones_and_sends_are_counted() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let db = &app.state.db;
    let since = chrono::Utc::now() - chrono::Duration::minutes(1);
    let older = email_tokens::issue(db, user.id, Purpose::PasswordReset, &user.email, HOUR)
        .await
        .unwrap();
    let verify = email_tokens::issue(db, user.id, Purpose::VerifyEmail, &user.email, HOUR)
        .await
        .unwrap();
    let newer = email_tokens::issue(db, user.id, Purpose::PasswordReset, &user.email, HOUR)
        .await
        .unwrap();
    let sent = email_tokens::sent_since(db, Purpose::PasswordReset, &user.email, since)
        .await
        .unwrap();
    assert_eq!(sent, 2);
    assert!(refused(
        email_tokens::consume(db, &older, Purpose::PasswordReset).await
    ));
    assert!(
        email_tokens::consume(db, &newer, Purpose::PasswordReset)
            .await
            .is_ok()
    );
    assert!(
        email_tokens::consume(db, &verify, Purpose::VerifyEmail)
            .await
            .is_ok(),
        "a reset does not void a verification"
    );
}

async fn concurrent_uses_of_one_token_give_one_success() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let db = app.state.db.clone();
    let token = email_tokens::issue(&db, user.id, Purpose::PasswordReset, &user.email, HOUR)
        .await
        .unwrap();
    let attempts = (0..6).map(|_| {
        let (db, token) = (db.clone(), token.clone());
        tokio::spawn(async move {
            let tx = larch::db::begin_write(&db).await.unwrap();
            let outcome = email_tokens::consume(&tx, &token, Purpose::PasswordReset).await;
            tx.commit().await.unwrap();
            outcome.is_ok()
        })
    });
    let successes = futures::future::join_all(attempts)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(successes, 1);
}

async fn housekeeping_deletes_spent_tokens_the_cap_no_longer_counts() {
    use larch::email_tokens::model::{ActiveModel, Column, Entity};
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
    let app = spawn_app().await;
    let user = app.create_user().await;
    let db = &app.state.db;
    let now = chrono::Utc::now();
    let ago = |minutes: i64| now - chrono::Duration::minutes(minutes);
    // (created, expires, used): kept?
    let cases = [
        ("expired, made 2 h ago", ago(120), ago(60), None, false),
        (
            "used 10 min ago, made 2 h ago",
            ago(120),
            now + chrono::Duration::hours(1),
            Some(ago(10)),
            false,
        ),
        (
            "expired 20 min ago, made 30 min ago: the cap counts it",
            ago(30),
            ago(20),
            None,
            true,
        ),
        (
            "live, made 2 h ago",
            ago(120),
            now + chrono::Duration::hours(1),
            None,
            true,
        ),
        (
            "used 2 min ago, made 2 h ago: within the grace",
            ago(120),
            now + chrono::Duration::hours(1),
            Some(ago(2)),
            true,
        ),
    ];
    let mut ids = Vec::new();
    for (_, created, expires, used, _) in &cases {
        let token = email_tokens::issue(db, user.id, Purpose::VerifyEmail, &user.email, HOUR)
            .await
            .unwrap();
        let row = Entity::find()
            .filter(Column::TokenHash.eq(larch::tokens::fingerprint(&token)))
            .one(db)
            .await
            .unwrap()
            .unwrap();
        let mut row: ActiveModel = row.into();
        row.created_at = Set(*created);
        row.expires_at = Set(*expires);
        row.used_at = Set(*used);
        ids.push(row.update(db).await.unwrap().id);
    }
    larch::startup::housekeep_once(&app.state).await;
    for ((name, .., kept), id) in cases.iter().zip(ids) {
        let found = Entity::find_by_id(id).one(db).await.unwrap().is_some();
        assert_eq!(found, *kept, "{name}");
    }
}

pub fn tests() -> Vec<Test> {
    trials![
        a_token_is_single_use_and_of_one_purpose,
        expired_tokens_are_refused,
        a_newer_reset_voids_the_older_ones_and_sends_are_counted,
        concurrent_uses_of_one_token_give_one_success,
        housekeeping_deletes_spent_tokens_the_cap_no_longer_counts,
    ]
}
