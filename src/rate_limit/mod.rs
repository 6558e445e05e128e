//! Rate limits (docs/api.md, "Rate limits"): the auth `POST`s that need no access token
//! each get a token bucket per client IP. A bucket holds `RATE_LIMIT_AUTH_BURST` requests
//! and refills at `RATE_LIMIT_AUTH_PER_MINUTE` a minute; an empty bucket answers `429` with
//! `Retry-After` (seconds until the next token).
//!
//! The buckets live in the database, so several larch instances sharing it enforce one
//! limit together. Each is one row kept as GCRA (the generic cell rate algorithm, the one
//! `governor` implements in memory): its "theoretical arrival time" `tat`, the moment the
//! bucket is full again. A request at `now` is allowed when `tat <= now + tolerance` (the
//! tolerance being `burst - 1` refill intervals) and then moves `tat` to
//! `max(tat, now) + interval`; check and move are one conditional `UPDATE`, atomic on every
//! backend, so concurrent requests on any instances never take the same token twice.

use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::request::Parts;
pub mod model;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set, SqlErr};

use crate::client_ip::client_ip;
use crate::error::ApiError;
use crate::state::AppState;
use model::{ActiveModel, Column, Entity};

/// A token bucket's shape, in GCRA terms (milliseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    /// Time for one token to come back.
    interval_ms: i64,
    /// How far ahead of now `tat` may be and a request still pass: `burst - 1` intervals.
    tolerance_ms: i64,
}

impl TokenBucket {
    /// `burst` requests at once, refilled at `per_minute` a minute. `None` when limiting is
    /// off (`per_minute == 0`).
    pub fn new(per_minute: u32, burst: u32) -> Option<Self> {
        if per_minute == 0 {
            return None;
        }
        let interval_ms = std::cmp::max(60_000 / i64::from(per_minute), 1);
        Some(TokenBucket {
            interval_ms,
            tolerance_ms: interval_ms * (i64::from(std::cmp::max(burst, 1)) - 1),
        })
    }

    /// Whether a bucket at `tat` has a token at `now`.
    fn allows(self, tat: i64, now: i64) -> bool {
        tat <= now + self.tolerance_ms
    }

    /// Whole seconds until a bucket at `tat` has a token again (at least 1).
    fn retry_after(self, tat: i64, now: i64) -> u64 {
        let wait_ms = std::cmp::max(tat - self.tolerance_ms - now, 0);
        std::cmp::max((wait_ms + 999) / 1000, 1).unsigned_abs()
    }
}

/// Takes a token from `bucket` at `now_ms`: `Ok(())`, or `Err(seconds)` until one is there.
pub async fn take(
    db: &DatabaseConnection,
    bucket: &str,
    limit: TokenBucket,
    now_ms: i64,
) -> Result<Result<(), u64>, DbErr> {
    // Each round either decides or saw another instance change the row in between.
    for _ in 0..3 {
        let taken = Entity::update_many()
            .col_expr(
                Column::TatMs,
                Expr::expr(Func::greatest([
                    Expr::col(Column::TatMs),
                    Expr::val(now_ms),
                ]))
                .add(limit.interval_ms),
            )
            .filter(Column::Bucket.eq(bucket))
            .filter(Column::TatMs.lte(now_ms + limit.tolerance_ms))
            .exec(db)
            .await?
            .rows_affected;
        if taken > 0 {
            return Ok(Ok(()));
        }
        match Entity::find()
            .filter(Column::Bucket.eq(bucket))
            .one(db)
            .await?
        {
            Some(row) if !limit.allows(row.tat_ms, now_ms) => {
                return Ok(Err(limit.retry_after(row.tat_ms, now_ms)));
            }
            // Refilled since the update looked: take it again.
            Some(_) => {}
            None => {
                let first = Entity::insert(ActiveModel {
                    bucket: Set(bucket.to_owned()),
                    tat_ms: Set(now_ms + limit.interval_ms),
                    ..Default::default()
                })
                .exec_without_returning(db)
                .await;
                match first {
                    Ok(_) => return Ok(Ok(())),
                    // Created by another request in between: take from it.
                    Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(Err(1))
}

/// Removes buckets that are full again (a missing row is a full bucket).
pub async fn delete_expired(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64, DbErr> {
    Ok(Entity::delete_many()
        .filter(Column::TatMs.lt(now.timestamp_millis()))
        .exec(db)
        .await?
        .rows_affected)
}

/// Put first in the arguments of a handler to limit it as an auth endpoint.
pub struct AuthRateLimit;

impl FromRequestParts<AppState> for AuthRateLimit {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(limit) = TokenBucket::new(
            state.config.rate_limit_auth_per_minute,
            state.config.rate_limit_auth_burst,
        ) else {
            return Ok(AuthRateLimit);
        };
        let Some(ip) = client_ip(parts, &state.config.trusted_proxies) else {
            // Not served from a socket (cannot happen in `larch serve`): nothing to key on.
            return Ok(AuthRateLimit);
        };
        // Each endpoint has its own bucket: a client's logins do not use up its refreshes.
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map_or("auth", MatchedPath::as_str);
        let now = Utc::now().timestamp_millis();
        if let Err(retry_after) = take(&state.db, &format!("{route}:{ip}"), limit, now).await? {
            tracing::warn!(client_ip = %ip, route, retry_after, "auth rate limit hit");
            crate::metrics::record_rate_limited(route);
            return Err(ApiError::TooManyRequests { retry_after });
        }
        Ok(AuthRateLimit)
    }
}

#[cfg(test)]
mod tests {
    use super::TokenBucket;

    /// The same decisions `take` makes in SQL, replayed in memory.
    fn run(limit: TokenBucket, times_ms: &[i64]) -> Vec<bool> {
        let mut tat = i64::MIN / 2;
        times_ms
            .iter()
            .map(|&now| {
                let allowed = limit.allows(tat, now);
                if allowed {
                    tat = tat.max(now) + limit.interval_ms;
                }
                allowed
            })
            .collect()
    }

    #[test]
    fn a_burst_then_the_refill_rate() {
        // 5 at once, then one every 6 s (10 a minute).
        let limit = TokenBucket::new(10, 5).unwrap();
        let at_once = run(limit, &[0; 7]);
        assert_eq!(at_once, [true, true, true, true, true, false, false]);
        let later = run(limit, &[0, 0, 0, 0, 0, 5_999, 6_000, 6_001, 12_000]);
        assert_eq!(
            later,
            [true, true, true, true, true, false, true, false, true]
        );
        // After a quiet minute the whole burst is back.
        let again = run(
            limit,
            &[
                0, 0, 0, 0, 0, 60_000, 60_000, 60_000, 60_000, 60_000, 60_000,
            ],
        );
        assert_eq!(again.iter().filter(|a| **a).count(), 10);
        assert!(TokenBucket::new(0, 5).is_none(), "0 turns it off");
    }

    #[test]
    fn retry_after_is_the_wait_for_the_next_token() {
        let limit = TokenBucket::new(10, 5).unwrap();
        // Five taken at 0: tat = 30 s; the next token is there at 6 s.
        assert_eq!(limit.retry_after(30_000, 0), 6);
        assert_eq!(limit.retry_after(30_000, 5_500), 1);
        let one_a_minute = TokenBucket::new(1, 1).unwrap();
        assert_eq!(one_a_minute.retry_after(60_000, 0), 60);
    }
}
