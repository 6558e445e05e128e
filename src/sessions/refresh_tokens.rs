//! Server-side refresh tokens: stored by SHA-256, rotated on every use, grouped in families —
//! a family is a session (every token descended from one login). Presenting a used token
//! again is treated as theft and ends its whole session.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QuerySelect, Set, SqlErr,
};

use super::model::Model as Session;
use super::queries::{self, LoginOrigin, Which};
use super::refresh_token_model::{ActiveModel, Column, Entity, Model};
use crate::db::begin_write;
use crate::session_lifetime::SessionLifetime;
use crate::tokens::{TokenKeys, TokenType, fingerprint};

/// Why a refresh token was not honoured, or what failed while handling it.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("Refresh token has been revoked")]
    Revoked,
    #[error("Refresh token has already been used; every session from its login has been revoked")]
    Reused,
    #[error("Token has expired")]
    Expired,
    /// The session was ended by idleness or age.
    #[error("The session has expired; log in again")]
    SessionExpired,
    /// The user no longer exists (deleted since their password was checked).
    #[error("The user of this token no longer exists")]
    UserGone,
    #[error(transparent)]
    Database(#[from] DbErr),
    #[error("signing a token: {0}")]
    Signing(anyhow::Error),
}

/// A presented refresh token whose signature, expiry and type have been checked.
pub struct Presented<'a> {
    pub token: &'a str,
    pub user_id: i64,
}

/// Starts a session for `user_id` (a login) and issues its first refresh token, in one
/// transaction.
pub async fn start(
    db: &DatabaseConnection,
    keys: &TokenKeys,
    user_id: i64,
    origin: LoginOrigin,
) -> Result<(Session, String), RefreshError> {
    let tx = begin_write(db).await?;
    let session = match queries::create(&tx, user_id, origin).await {
        Ok(session) => session,
        Err(error)
            if matches!(
                error.sql_err(),
                Some(SqlErr::ForeignKeyConstraintViolation(_))
            ) =>
        {
            return Err(RefreshError::UserGone);
        }
        Err(error) => return Err(error.into()),
    };
    let token = issue(&tx, keys, &session).await?;
    tx.commit().await?;
    Ok((session, token))
}

/// Issues a refresh token of `session`.
pub async fn issue(
    db: &impl ConnectionTrait,
    keys: &TokenKeys,
    session: &Session,
) -> Result<String, RefreshError> {
    let issued = keys
        .issue(session.user_id, session.id, TokenType::Refresh)
        .map_err(RefreshError::Signing)?;
    ActiveModel {
        user_id: Set(session.user_id),
        family_id: Set(session.family_id.clone()),
        token_hash: Set(fingerprint(&issued.token)),
        expires_at: Set(issued.expires_at),
        used_at: Set(None),
        revoked_at: Set(None),
        created_at: Set(crate::time::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(issued.token)
}

/// The stored row of a presented token and its session, if it may still be used; call
/// inside a write transaction. A used one ends its session (reuse means a copy is in someone
/// else's hands).
async fn live_row(
    db: &impl ConnectionTrait,
    presented: &Presented<'_>,
    lifetime: &SessionLifetime,
) -> Result<(Model, Session), RefreshError> {
    // Locked for the rest of the transaction: concurrent uses of one token queue here,
    // so exactly one marks it used and the others see that (without the lock, MySQL's gap
    // locks make the losers' family revocation deadlock with the winner's insert).
    let row = Entity::find()
        .filter(Column::TokenHash.eq(fingerprint(presented.token)))
        .lock_exclusive()
        .one(db)
        .await?
        .filter(|row| row.user_id == presented.user_id)
        .ok_or(RefreshError::Revoked)?;
    if row.revoked_at.is_some() {
        return Err(RefreshError::Revoked);
    }
    let session = queries::find_by_family(db, &row.family_id)
        .await?
        .ok_or(RefreshError::Revoked)?;
    if session.ended_at.is_some() {
        return Err(RefreshError::Revoked);
    }
    if row.used_at.is_some() {
        return Err(reuse_detected(db, &session).await);
    }
    if row.expires_at <= Utc::now() {
        return Err(RefreshError::Expired);
    }
    if !lifetime.is_live(&session.times(), Utc::now()) {
        return Err(RefreshError::SessionExpired);
    }
    Ok((row, session))
}

async fn reuse_detected(db: &impl ConnectionTrait, session: &Session) -> RefreshError {
    tracing::warn!(
        user_id = session.user_id,
        session_id = session.id,
        "refresh token reused; ending its session"
    );
    match queries::end(db, session.user_id, Which::One(session.id)).await {
        Ok(_) => RefreshError::Reused,
        Err(error) => error.into(),
    }
}

/// Rotates: marks the presented token used, records the refresh on its session and returns
/// the session and a new token of it. Marking is a conditional update, so of two concurrent
/// uses of one token exactly one wins and the other counts as reuse.
pub async fn rotate(
    db: &DatabaseConnection,
    keys: &TokenKeys,
    presented: &Presented<'_>,
    lifetime: &SessionLifetime,
) -> Result<(Session, String), RefreshError> {
    let tx = begin_write(db).await?;
    let (row, session) = match live_row(&tx, presented, lifetime).await {
        Ok(found) => found,
        Err(error) => {
            // A detected reuse has ended the session inside this transaction: keep that.
            tx.commit().await?;
            return Err(error);
        }
    };
    let marked = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(crate::time::now()))
        .filter(Column::Id.eq(row.id))
        .filter(Column::UsedAt.is_null())
        .filter(Column::RevokedAt.is_null())
        .exec(&tx)
        .await?;
    if marked.rows_affected != 1 {
        let error = reuse_detected(&tx, &session).await;
        tx.commit().await?;
        return Err(error);
    }
    queries::touch(&tx, session.id).await?;
    let token = issue(&tx, keys, &session).await?;
    tx.commit().await?;
    Ok((session, token))
}

/// Logout: ends the presented token's session (and so revokes its family).
pub async fn end_presented(
    db: &DatabaseConnection,
    presented: &Presented<'_>,
    lifetime: &SessionLifetime,
) -> Result<(), RefreshError> {
    let tx = begin_write(db).await?;
    let result = match live_row(&tx, presented, lifetime).await {
        Ok((_, session)) => queries::end(&tx, session.user_id, Which::One(session.id))
            .await
            .map(|_| ())
            .map_err(RefreshError::from),
        Err(error) => Err(error),
    };
    tx.commit().await?;
    result
}

/// Removes rows whose token has expired: such a token fails its signature check's expiry
/// before the database is asked, so the row has nothing left to guard.
pub async fn delete_expired(db: &DatabaseConnection, before: DateTime<Utc>) -> Result<u64, DbErr> {
    Ok(Entity::delete_many()
        .filter(Column::ExpiresAt.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}
