//! Server-side refresh tokens: stored by SHA-256, rotated on every use, grouped in families
//! (every token descended from one login). Presenting a used token again is treated as
//! theft and revokes its whole family.

use chrono::{DateTime, Utc};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use sea_orm::{ConnectionTrait, DatabaseConnection, QueryFilter, QuerySelect, Set};

use crate::db::begin_write;
use crate::error::{ApiError, ApiResult, unauthorized};
use crate::extract::RefreshToken;
use crate::tokens::{TokenKeys, TokenType, fingerprint};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub family_id: String,
    pub token_hash: String,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Issues a refresh token for `user_id`, in `family` or (for a fresh login) a new one.
pub async fn issue(
    db: &impl ConnectionTrait,
    keys: &TokenKeys,
    user_id: i64,
    family: Option<String>,
) -> ApiResult<String> {
    let issued = keys.issue(user_id, TokenType::Refresh)?;
    ActiveModel {
        user_id: Set(user_id),
        family_id: Set(family.unwrap_or_else(|| uuid::Uuid::new_v4().to_string())),
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

/// The stored row of a presented token, if it may still be used; call inside a write
/// transaction. A used one revokes its
/// family (reuse means a copy is in someone else's hands).
async fn live_row(db: &impl ConnectionTrait, presented: &RefreshToken) -> ApiResult<Model> {
    // Locked for the rest of the transaction: concurrent uses of one token queue here,
    // so exactly one marks it used and the others see that (without the lock, MySQL's gap
    // locks make the losers' family revocation deadlock with the winner's insert).
    let row = Entity::find()
        .filter(Column::TokenHash.eq(fingerprint(&presented.token)))
        .lock_exclusive()
        .one(db)
        .await?
        .filter(|row| Some(row.user_id) == presented.claims.user_id())
        .ok_or_else(|| unauthorized("Refresh token has been revoked"))?;
    if row.revoked_at.is_some() {
        return Err(unauthorized("Refresh token has been revoked"));
    }
    if row.used_at.is_some() {
        return Err(reuse_detected(db, &row).await);
    }
    if row.expires_at <= Utc::now() {
        return Err(unauthorized("Token has expired"));
    }
    Ok(row)
}

async fn reuse_detected(db: &impl ConnectionTrait, row: &Model) -> ApiError {
    tracing::warn!(user_id = row.user_id, family = %row.family_id, "refresh token reused; revoking its family");
    if let Err(e) = revoke_family(db, &row.family_id).await {
        return e.into();
    }
    unauthorized(
        "Refresh token has already been used; every session from its login has been revoked",
    )
}

/// Rotates: marks the presented token used and returns the user's id and a new token of
/// the same family. Marking is a conditional update, so of two concurrent uses of one
/// token exactly one wins and the other counts as reuse.
pub async fn rotate(
    db: &DatabaseConnection,
    keys: &TokenKeys,
    presented: &RefreshToken,
) -> ApiResult<(i64, String)> {
    let tx = begin_write(db).await?;
    let row = live_row(&tx, presented).await;
    let row = match row {
        Ok(row) => row,
        Err(e) => {
            // A detected reuse has revoked the family inside this transaction: keep that.
            tx.commit().await?;
            return Err(e);
        }
    };
    let now = crate::time::now();
    let marked = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now))
        .filter(Column::Id.eq(row.id))
        .filter(Column::UsedAt.is_null())
        .filter(Column::RevokedAt.is_null())
        .exec(&tx)
        .await?;
    if marked.rows_affected != 1 {
        let err = reuse_detected(&tx, &row).await;
        tx.commit().await?;
        return Err(err);
    }
    let token = issue(&tx, keys, row.user_id, Some(row.family_id)).await?;
    tx.commit().await?;
    Ok((row.user_id, token))
}

/// Logout: revokes the presented token's family.
pub async fn revoke_presented(db: &DatabaseConnection, presented: &RefreshToken) -> ApiResult<()> {
    let tx = begin_write(db).await?;
    let result = match live_row(&tx, presented).await {
        Ok(row) => revoke_family(&tx, &row.family_id)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
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
