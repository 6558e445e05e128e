//! Every query on `sessions`. Ending a session also revokes its refresh tokens, in the same
//! transaction; its access tokens stop working because the caller check reads the session.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::model::{self as session, Entity as Sessions};
use super::refresh_token_model as refresh_token;
use crate::session_lifetime::SessionLifetime;

/// Where and how a login was made.
pub struct LoginOrigin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The longest `User-Agent` kept, in characters.
pub const USER_AGENT_MAX_LENGTH: usize = 256;

pub async fn create(
    db: &impl ConnectionTrait,
    user_id: i64,
    origin: LoginOrigin,
) -> Result<session::Model, DbErr> {
    let now = crate::time::now();
    session::ActiveModel {
        family_id: Set(uuid::Uuid::new_v4().to_string()),
        user_id: Set(user_id),
        created_at: Set(now),
        last_used_at: Set(now),
        ended_at: Set(None),
        ip: Set(origin.ip),
        user_agent: Set(origin
            .user_agent
            .map(|ua| ua.chars().take(USER_AGENT_MAX_LENGTH).collect())),
        ..Default::default()
    }
    .insert(db)
    .await
}

pub async fn find_by_family(
    db: &impl ConnectionTrait,
    family_id: &str,
) -> Result<Option<session::Model>, DbErr> {
    Sessions::find()
        .filter(session::Column::FamilyId.eq(family_id))
        .one(db)
        .await
}

/// Records a refresh.
pub async fn touch(db: &impl ConnectionTrait, id: i64) -> Result<(), DbErr> {
    Sessions::update_many()
        .col_expr(session::Column::LastUsedAt, Expr::value(crate::time::now()))
        .filter(session::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The live sessions of `user_id`, newest first.
pub async fn live_of_user(
    db: &impl ConnectionTrait,
    user_id: i64,
    lifetime: &SessionLifetime,
) -> Result<Vec<session::Model>, DbErr> {
    let now = Utc::now();
    let sessions = Sessions::find()
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::EndedAt.is_null())
        .order_by_desc(session::Column::CreatedAt)
        .order_by_desc(session::Column::Id)
        .all(db)
        .await?;
    Ok(sessions
        .into_iter()
        .filter(|s| lifetime.is_live(&s.times(), now))
        .collect())
}

/// Which sessions of a user to end.
pub enum Which {
    /// One session, by id.
    One(i64),
    /// Every session but this one.
    AllBut(i64),
    All,
}

/// Ends sessions of `user_id` and revokes their refresh tokens; returns how many ended.
pub async fn end(db: &impl ConnectionTrait, user_id: i64, which: Which) -> Result<u64, DbErr> {
    let now = crate::time::now();
    let mut live = Sessions::find()
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::EndedAt.is_null());
    live = match which {
        Which::One(id) => live.filter(session::Column::Id.eq(id)),
        Which::AllBut(id) => live.filter(session::Column::Id.ne(id)),
        Which::All => live,
    };
    let families: Vec<String> = live
        .all(db)
        .await?
        .into_iter()
        .map(|s| s.family_id)
        .collect();
    if families.is_empty() {
        return Ok(0);
    }
    let ended = Sessions::update_many()
        .col_expr(session::Column::EndedAt, Expr::value(now))
        .filter(session::Column::FamilyId.is_in(families.clone()))
        .filter(session::Column::EndedAt.is_null())
        .exec(db)
        .await?
        .rows_affected;
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::FamilyId.is_in(families))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(ended)
}

/// Removes sessions that have ended (by logout or revocation, idleness or age) before
/// `now`, with their refresh tokens, a batch at a time.
pub async fn delete_ended(
    db: &impl ConnectionTrait,
    lifetime: &SessionLifetime,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    const BATCH: u64 = 500;
    let mut deleted = 0;
    loop {
        let over = Condition::any()
            .add(session::Column::EndedAt.lt(now))
            .add(session::Column::LastUsedAt.lt(lifetime.idle_cutoff(now)))
            .add(session::Column::CreatedAt.lt(lifetime.max_cutoff(now)));
        let families: Vec<String> = Sessions::find()
            .filter(over)
            .limit(BATCH)
            .all(db)
            .await?
            .into_iter()
            .map(|s| s.family_id)
            .collect();
        if families.is_empty() {
            return Ok(deleted);
        }
        refresh_token::Entity::delete_many()
            .filter(refresh_token::Column::FamilyId.is_in(families.clone()))
            .exec(db)
            .await?;
        deleted += Sessions::delete_many()
            .filter(session::Column::FamilyId.is_in(families))
            .exec(db)
            .await?
            .rows_affected;
        // Let requests waiting for the write lock go first.
        tokio::task::yield_now().await;
    }
}
