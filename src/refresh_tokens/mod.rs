//! Server-side refresh tokens: stored by SHA-256, rotated on every use, grouped in families
//! (every token descended from one login). Presenting a used token again is treated as
//! theft and revokes its whole family.

pub mod model;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QuerySelect, Set, SqlErr,
};

use crate::db::begin_write;
use crate::tokens::{TokenKeys, TokenType, fingerprint};
use model::{ActiveModel, Column, Entity, Model};

/// Why a refresh token was not honoured, or what failed while handling it.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("Refresh token has been revoked")]
    Revoked,
    #[error("Refresh token has already been used; every session from its login has been revoked")]
    Reused,
    #[error("Token has expired")]
    Expired,
    /// The token's user no longer exists (deleted since the token was issued or checked).
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

/// Issues a refresh token for `user_id`, in `family` or (for a fresh login) a new one.
pub async fn issue(
    db: &impl ConnectionTrait,
    keys: &TokenKeys,
    user_id: i64,
    family: Option<String>,
) -> Result<String, RefreshError> {
    let issued = keys
        .issue(user_id, TokenType::Refresh)
        .map_err(RefreshError::Signing)?;
    let row = ActiveModel {
        user_id: Set(user_id),
        family_id: Set(family.unwrap_or_else(|| uuid::Uuid::new_v4().to_string())),
        token_hash: Set(fingerprint(&issued.token)),
        expires_at: Set(issued.expires_at),
        used_at: Set(None),
        revoked_at: Set(None),
        created_at: Set(crate::time::now()),
        ..Default::default()
    };
    match row.insert(db).await {
        Ok(_) => Ok(issued.token),
        Err(error)
            if matches!(
                error.sql_err(),
                Some(SqlErr::ForeignKeyConstraintViolation(_))
            ) =>
        {
            Err(RefreshError::UserGone)
        }
        Err(error) => Err(error.into()),
    }
}

/// The stored row of a presented token, if it may still be used; call inside a write
/// transaction. A used one revokes its family (reuse means a copy is in someone else's
/// hands).
async fn live_row(
    db: &impl ConnectionTrait,
    presented: &Presented<'_>,
) -> Result<Model, RefreshError> {
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
    if row.used_at.is_some() {
        return Err(reuse_detected(db, &row).await);
    }
    if row.expires_at <= Utc::now() {
        return Err(RefreshError::Expired);
    }
    Ok(row)
}

async fn reuse_detected(db: &impl ConnectionTrait, row: &Model) -> RefreshError {
    tracing::warn!(user_id = row.user_id, family = %row.family_id, "refresh token reused; revoking its family");
    match revoke_family(db, &row.family_id).await {
        Ok(()) => RefreshError::Reused,
        Err(error) => error.into(),
    }
}

/// Rotates: marks the presented token used and returns the user's id and a new token of
/// the same family. Marking is a conditional update, so of two concurrent uses of one
/// token exactly one wins and the other counts as reuse.
pub async fn rotate(
    db: &DatabaseConnection,
    keys: &TokenKeys,
    presented: &Presented<'_>,
) -> Result<(i64, String), RefreshError> {
    let tx = begin_write(db).await?;
    let row = match live_row(&tx, presented).await {
        Ok(row) => row,
        Err(error) => {
            // A detected reuse has revoked the family inside this transaction: keep that.
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
        let error = reuse_detected(&tx, &row).await;
        tx.commit().await?;
        return Err(error);
    }
    let token = issue(&tx, keys, row.user_id, Some(row.family_id)).await?;
    tx.commit().await?;
    Ok((row.user_id, token))
}

/// Logout: revokes the presented token's family.
pub async fn revoke_presented(
    db: &DatabaseConnection,
    presented: &Presented<'_>,
) -> Result<(), RefreshError> {
    let tx = begin_write(db).await?;
    let result = match live_row(&tx, presented).await {
        Ok(row) => revoke_family(&tx, &row.family_id)
            .await
            .map_err(RefreshError::from),
        Err(error) => Err(error),
    };
    tx.commit().await?;
    result
}

pub async fn revoke_family(db: &impl ConnectionTrait, family_id: &str) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(crate::time::now()))
        .filter(Column::FamilyId.eq(family_id))
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Logout everywhere, and what a password change does.
pub async fn revoke_all_for_user(db: &impl ConnectionTrait, user_id: i64) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(crate::time::now()))
        .filter(Column::UserId.eq(user_id))
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
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
