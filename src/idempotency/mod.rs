//! `Idempotency-Key` on `POST /posts` and `POST /products`. The first successful response
//! to a key is stored, per user, in the same transaction as the resource it created; a retry with the same key and the same request gets that response again
//! (same status, body and id, plus `Idempotent-Replayed: true`) and creates nothing. The same
//! key with a different request is `422`. Concurrent first uses race on the unique index
//! `(user_id, idempotency_key)`: the loser's transaction, resource included, is rolled back
//! and it answers with the winner's response. Keys expire after `IDEMPOTENCY_KEY_TTL_SECONDS`
//! (default 24 hours); expired rows are deleted by the housekeeping task, in batches.
//!
//! Only successes are stored: a request that failed (`400`, `409`, …) created nothing, so its
//! retry simply runs again.

pub mod model;

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, SqlErr,
};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::conditional::JsonWithEtag;
use crate::error::{ApiError, ApiResult, bad_request, unprocessable};
use model::{ActiveModel, Column, Entity, Model};

pub const HEADER: &str = "idempotency-key";
/// Sent on a replayed response.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
pub const MAX_KEY_LENGTH: usize = 255;

/// The request's `Idempotency-Key`, if it sent one: 1–255 visible ASCII characters.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let mut values = parts.headers.get_all(HEADER).iter();
        let Some(value) = values.next() else {
            return Ok(IdempotencyKey(None));
        };
        if values.next().is_some() {
            return Err(bad_request("Send one Idempotency-Key header, not several"));
        }
        let key = value
            .to_str()
            .ok()
            .filter(|key| {
                (1..=MAX_KEY_LENGTH).contains(&key.len())
                    && key.bytes().all(|b| b.is_ascii_graphic())
            })
            .ok_or_else(|| {
                bad_request(format!(
                    "Idempotency-Key must be 1 to {MAX_KEY_LENGTH} visible ASCII characters"
                ))
            })?;
        Ok(IdempotencyKey(Some(key.to_owned())))
    }
}

/// One use of a key: who, which key, and a hash of what was asked.
#[derive(Debug, Clone)]
pub struct IdempotentRequest {
    user_id: i64,
    key: String,
    request_hash: String,
}

impl IdempotentRequest {
    /// `None` when the request carries no key. `route` names the endpoint, so one key sent to
    /// two endpoints counts as two different requests.
    pub fn new(
        key: IdempotencyKey,
        user_id: i64,
        route: &str,
        body: &Map<String, Value>,
    ) -> Option<IdempotentRequest> {
        let key = key.0?;
        let mut hasher = Sha256::new();
        hasher.update(route.as_bytes());
        hasher.update(b"\n");
        hasher.update(canonical_json(&Value::Object(body.clone())).as_bytes());
        Some(IdempotentRequest {
            user_id,
            key,
            request_hash: hex::encode(hasher.finalize()),
        })
    }

    /// The response to an earlier use of this key by this user, to send again; `None` if the
    /// key is new (or expired: the old use is removed). A different request under the same
    /// key is `422`.
    pub async fn stored_response(&self, db: &DatabaseConnection) -> ApiResult<Option<Response>> {
        let Some(row) = Entity::find()
            .filter(Column::UserId.eq(self.user_id))
            .filter(Column::IdempotencyKey.eq(self.key.as_str()))
            .one(db)
            .await?
        else {
            return Ok(None);
        };
        if row.expires_at <= Utc::now() {
            Entity::delete_many()
                .filter(Column::Id.eq(row.id))
                .filter(Column::ExpiresAt.lte(Utc::now()))
                .exec(db)
                .await?;
            return Ok(None);
        }
        if row.request_hash != self.request_hash {
            return Err(unprocessable(
                "This Idempotency-Key was already used with a different request",
            ));
        }
        Ok(Some(replay(&row)))
    }

    /// Stores `response` for this key in `tx`, the transaction that created the resource.
    /// `Ok(false)` if another request stored one first (the caller must roll back and ask
    /// `stored_response` again).
    pub async fn store(
        &self,
        tx: &impl ConnectionTrait,
        response: &JsonWithEtag,
        ttl: Duration,
    ) -> ApiResult<bool> {
        let now = crate::time::now();
        let ttl = chrono::Duration::from_std(ttl).map_err(|e| ApiError::Internal(e.into()))?;
        let row = ActiveModel {
            user_id: Set(self.user_id),
            idempotency_key: Set(self.key.clone()),
            request_hash: Set(self.request_hash.clone()),
            response_status: Set(response.status().as_u16() as i16),
            response_body: Set(String::from_utf8_lossy(response.body()).into_owned()),
            created_at: Set(now),
            expires_at: Set(now + ttl),
            ..Default::default()
        };
        match Entity::insert(row).exec(tx).await {
            Ok(_) => Ok(true),
            Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Ok(false)
            }
            Err(error) => Err(error.into()),
        }
    }
}

/// The earlier response to this request, if the request carries a key that was used before.
pub async fn replay_stored_response(
    db: &DatabaseConnection,
    claim: Option<&IdempotentRequest>,
) -> ApiResult<Option<Response>> {
    match claim {
        Some(claim) => claim.stored_response(db).await,
        None => Ok(None),
    }
}

/// A creation failed with `error` (say, a taken unique value): if the request carries a key
/// whose concurrent first use has meanwhile succeeded, that first response is the answer.
pub async fn replay_or(
    db: &DatabaseConnection,
    claim: Option<&IdempotentRequest>,
    error: ApiError,
) -> ApiResult<Response> {
    match replay_stored_response(db, claim).await? {
        Some(first) => Ok(first),
        None => Err(error),
    }
}

/// Ends the transaction that created a resource: stores `response` under the key, if the
/// request had one, and commits; or, when a concurrent request with the same key got there
/// first, rolls back (the resource with it) and answers with that request's response.
pub async fn commit_created(
    db: &DatabaseConnection,
    tx: DatabaseTransaction,
    claim: Option<&IdempotentRequest>,
    response: JsonWithEtag,
    ttl: Duration,
) -> ApiResult<Response> {
    if let Some(claim) = claim
        && !claim.store(&tx, &response, ttl).await?
    {
        tx.rollback().await?;
        // `None`: the winner's row expired in between (extremely unlikely); the client may
        // retry.
        return claim.stored_response(db).await?.ok_or(ApiError::Contended);
    }
    tx.commit().await?;
    Ok(response.into_response())
}

fn replay(row: &Model) -> Response {
    let status = StatusCode::from_u16(row.response_status as u16).unwrap_or(StatusCode::OK);
    let etag = crate::conditional::etag_of(row.response_body.as_bytes());
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        row.response_body.clone(),
    )
        .into_response();
    if let Ok(etag) = HeaderValue::try_from(etag) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response.headers_mut().insert(
        HeaderName::from_static(REPLAYED_HEADER),
        HeaderValue::from_static("true"),
    );
    response
}

/// JSON with every object's keys sorted, so that key order does not make two bodies differ.
fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), sorted(v)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// Deletes up to `batch` expired rows at a time until none are left, so that no one
/// statement holds the table (on SQLite, the database) for long.
pub async fn delete_expired(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64, DbErr> {
    const BATCH: u64 = 1000;
    let mut deleted = 0;
    loop {
        let ids: Vec<i64> = Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::ExpiresAt.lte(now))
            .order_by_asc(Column::ExpiresAt)
            .limit(BATCH)
            .into_tuple()
            .all(db)
            .await?;
        if ids.is_empty() {
            return Ok(deleted);
        }
        let done = ids.len() < BATCH as usize;
        deleted += Entity::delete_many()
            .filter(Column::Id.is_in(ids))
            .filter(Column::ExpiresAt.lte(now))
            .exec(db)
            .await?
            .rows_affected;
        if done {
            return Ok(deleted);
        }
        // Let requests waiting for the write lock go first.
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn key_from(values: &[&[u8]]) -> Result<Option<String>, ApiError> {
        let mut request = axum::http::Request::builder();
        for value in values {
            request = request.header(HEADER, *value);
        }
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        IdempotencyKey::from_request_parts(&mut parts, &())
            .await
            .map(|key| key.0)
    }

    #[tokio::test]
    async fn a_key_is_one_header_of_1_to_255_visible_ascii_characters() {
        assert_eq!(key_from(&[]).await.unwrap(), None);
        assert_eq!(
            key_from(&[b"order-1"]).await.unwrap().as_deref(),
            Some("order-1")
        );
        let longest = "k".repeat(MAX_KEY_LENGTH);
        assert_eq!(
            key_from(&[longest.as_bytes()]).await.unwrap(),
            Some(longest.clone())
        );
        let too_long = "k".repeat(MAX_KEY_LENGTH + 1);
        for bad in [
            &b""[..],
            b"two words",
            b"tab\there",
            too_long.as_bytes(),
            b"caf\xc3\xa9",
        ] {
            assert!(key_from(&[bad]).await.is_err(), "{bad:?}");
        }
        assert!(key_from(&[b"a", b"b"]).await.is_err(), "two headers");
    }

    #[test]
    fn key_order_does_not_matter_but_values_do() {
        let a: Value =
            serde_json::from_str(r#"{"title":"t","body":{"x":1,"y":[2,{"b":1,"a":2}]}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"body":{"y":[2,{"a":2,"b":1}],"x":1},"title":"t"}"#).unwrap();
        let c: Value =
            serde_json::from_str(r#"{"title":"t","body":{"x":1,"y":[{"a":2,"b":1},2]}}"#).unwrap();
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_ne!(canonical_json(&a), canonical_json(&c));
    }
}
