//! Tokens sent in emails: at least 128 random bits (here 256), stored only as a SHA-256,
//! single use, tied to one user, one purpose and the address they were sent to, and
//! expiring. Every refusal — unknown, used, voided, expired, other purpose — is the same
//! `TokenRefused`, so a client learns nothing from which it was.

pub mod model;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QuerySelect, Set,
};

use crate::tokens::fingerprint;
use model::{ActiveModel, Column, Entity, Model};

/// What a token is for; a token of one purpose is refused for the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    PasswordReset,
    VerifyEmail,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::PasswordReset => "password_reset",
            Purpose::VerifyEmail => "verify_email",
        }
    }
}

/// The one answer to a token that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error("is invalid or has expired")]
    Refused,
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// A new token for `user_id` and `purpose`, sent to `email`, living `ttl`. For a password
/// reset, the user's older reset tokens are voided: only the newest link works.
pub async fn issue(
    db: &impl ConnectionTrait,
    user_id: i64,
    purpose: Purpose,
    email: &str,
    ttl: Duration,
) -> Result<String, DbErr> {
    let now = crate::time::now();
    if purpose == Purpose::PasswordReset {
        Entity::update_many()
            .col_expr(Column::UsedAt, Expr::value(now))
            .filter(Column::UserId.eq(user_id))
            .filter(Column::Purpose.eq(purpose.as_str()))
            .filter(Column::UsedAt.is_null())
            .exec(db)
            .await?;
    }
    let mut random = [0u8; 32];
    rand::fill(&mut random);
    let token = URL_SAFE_NO_PAD.encode(random);
    let ttl = chrono::Duration::seconds(ttl.as_secs() as i64);
    ActiveModel {
        user_id: Set(user_id),
        purpose: Set(purpose.as_str().to_owned()),
        token_hash: Set(fingerprint(&token)),
        email: Set(email.to_owned()),
        created_at: Set(now),
        expires_at: Set(now + ttl),
        used_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(token)
}

/// How many tokens of `purpose` were sent to `email` since `since` (the per-address cap).
pub async fn sent_since(
    db: &impl ConnectionTrait,
    purpose: Purpose,
    email: &str,
    since: DateTime<Utc>,
) -> Result<u64, DbErr> {
    Entity::find()
        .filter(Column::Purpose.eq(purpose.as_str()))
        .filter(Column::Email.eq(email))
        .filter(Column::CreatedAt.gte(since))
        .count(db)
        .await
}

/// Uses a token: it must exist for `purpose`, be unused and unexpired. Marking it used is
/// a conditional update on the locked row, so of two concurrent uses exactly one succeeds.
/// Call inside the transaction that acts on it.
pub async fn consume(
    db: &impl ConnectionTrait,
    token: &str,
    purpose: Purpose,
) -> Result<Model, ConsumeError> {
    let row = Entity::find()
        .filter(Column::TokenHash.eq(fingerprint(token)))
        .filter(Column::Purpose.eq(purpose.as_str()))
        .lock_exclusive()
        .one(db)
        .await?
        .ok_or(ConsumeError::Refused)?;
    if row.used_at.is_some() || row.expires_at <= Utc::now() {
        return Err(ConsumeError::Refused);
    }
    let marked = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(crate::time::now()))
        .filter(Column::Id.eq(row.id))
        .filter(Column::UsedAt.is_null())
        .exec(db)
        .await?;
    if marked.rows_affected != 1 {
        return Err(ConsumeError::Refused);
    }
    Ok(row)
}

/// Voids every unused token of `purpose` for the user (a password set another way makes the
/// reset links already sent useless).
pub async fn void_all(
    db: &impl ConnectionTrait,
    user_id: i64,
    purpose: Purpose,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(crate::time::now()))
        .filter(Column::UserId.eq(user_id))
        .filter(Column::Purpose.eq(purpose.as_str()))
        .filter(Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// The user a token of `purpose` belongs to, if it is one, read without locking (to lock
/// the user first: every writer locks a user before their tokens).
pub async fn owner_of(
    db: &impl ConnectionTrait,
    token: &str,
    purpose: Purpose,
) -> Result<Option<i64>, DbErr> {
    Ok(Entity::find()
        .filter(Column::TokenHash.eq(fingerprint(token)))
        .filter(Column::Purpose.eq(purpose.as_str()))
        .one(db)
        .await?
        .map(|row| row.user_id))
}

/// Takes back a token whose email could not be sent: it no longer counts against the
/// per-address cap, and nobody holds it.
pub async fn withdraw(db: &impl ConnectionTrait, token: &str) -> Result<(), DbErr> {
    Entity::delete_many()
        .filter(Column::TokenHash.eq(fingerprint(token)))
        .exec(db)
        .await?;
    Ok(())
}

/// How far back the per-address cap counts tokens: rows younger than this are kept even
/// when spent, or deleting them would reopen the cap.
pub const CAP_WINDOW: chrono::Duration = chrono::Duration::hours(1);

/// Removes tokens that can no longer be used (expired or used before `before`) and that
/// the per-address cap no longer counts (made more than `CAP_WINDOW` ago).
pub async fn delete_spent(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, DbErr> {
    let counted_since = Utc::now() - CAP_WINDOW;
    Ok(Entity::delete_many()
        .filter(Column::CreatedAt.lt(counted_since))
        .filter(
            sea_orm::Condition::any()
                .add(Column::ExpiresAt.lt(before))
                .add(Column::UsedAt.lt(before)),
        )
        .exec(db)
        .await?
        .rows_affected)
}
