//! Rate limits (docs/api.md, "Rate limits"): `POST /auth/login`, `/auth/register` and
//! `/auth/refresh` each allow `RATE_LIMIT_AUTH_PER_MINUTE` requests per client IP per
//! minute (fixed one-minute windows), then answer `429` with `Retry-After` until the window ends.
//! The counters live in the database, so several larch instances sharing it enforce one
//! limit together.

use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::request::Parts;
pub mod model;

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set};

use crate::client_ip::client_ip;
use crate::error::ApiError;
use crate::state::AppState;
use model::{ActiveModel, Column, Entity};

const WINDOW_SECONDS: i64 = 60;

/// Counts one hit on `bucket` (atomically: an insert that becomes an increment when the
/// bucket exists) and returns the bucket's hits so far.
pub async fn record_hit(
    db: &DatabaseConnection,
    bucket: &str,
    expires_at: i64,
) -> Result<i64, DbErr> {
    Entity::insert(ActiveModel {
        bucket: Set(bucket.to_owned()),
        hits: Set(1),
        expires_at: Set(expires_at),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(Column::Bucket)
            .value(Column::Hits, Expr::col((Entity, Column::Hits)).add(1))
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let hits = Entity::find()
        .filter(Column::Bucket.eq(bucket))
        .one(db)
        .await?
        .map_or(1, |row| i64::from(row.hits));
    Ok(hits)
}

/// Removes counters of windows that have ended.
pub async fn delete_expired(db: &DatabaseConnection, now: i64) -> Result<u64, DbErr> {
    Ok(Entity::delete_many()
        .filter(Column::ExpiresAt.lt(now))
        .exec(db)
        .await?
        .rows_affected)
}

/// Put first in the arguments of a handler to limit it as an auth endpoint.
pub struct AuthRateLimit;

impl FromRequestParts<AppState> for AuthRateLimit {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let limit = i64::from(state.config.rate_limit_auth_per_minute);
        if limit == 0 {
            return Ok(AuthRateLimit);
        }
        let Some(ip) = client_ip(parts, &state.config.trusted_proxies) else {
            // Not served from a socket (cannot happen in `larch serve`): nothing to key on.
            return Ok(AuthRateLimit);
        };
        let now = chrono::Utc::now().timestamp();
        let window = now.div_euclid(WINDOW_SECONDS);
        let window_end = (window + 1) * WINDOW_SECONDS;
        // Each endpoint counts on its own: a client's logins do not use up its refreshes.
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map_or("auth", MatchedPath::as_str);
        let hits = record_hit(&state.db, &format!("{route}:{ip}:{window}"), window_end).await?;
        if hits > limit {
            tracing::warn!(client_ip = %ip, hits, limit, "auth rate limit hit");
            crate::metrics::record_rate_limited(route);
            return Err(ApiError::TooManyRequests {
                retry_after: Ord::max(window_end - now, 1).unsigned_abs(),
            });
        }
        Ok(AuthRateLimit)
    }
}
