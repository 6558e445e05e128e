//! The one error type of the API. Every error path ends here and renders the API's
//! shape: `{"error": <reason phrase>, "message": <sentence>, "status": <code>}` plus
//! `fields` for validation failures.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::{DbErr, SqlErr};
use serde::Serialize;

/// Field name → every message about that field, in the order they were found.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("Validation failed")]
    Validation(FieldErrors),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// `If-Match` named a version that is no longer current.
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("Request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("Too many requests; try again in {retry_after} seconds")]
    TooManyRequests { retry_after: u64 },
    #[error("{0}")]
    ServiceUnavailable(String),
    /// A deadlock, serialisation failure or lock timeout: the transaction may succeed if
    /// run again (see `db::retry_transient`); shown to clients as a `503`.
    #[error("The database is busy; try again shortly.")]
    Contended,
    /// Anything unexpected. The cause is logged, never sent.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl crate::db::Transient for ApiError {
    fn is_transient(&self) -> bool {
        matches!(self, ApiError::Contended)
    }
}

impl From<crate::tokens::TokenError> for ApiError {
    fn from(error: crate::tokens::TokenError) -> Self {
        unauthorized(error.to_string())
    }
}

/// Small constructors, so handlers read as `return Err(not_found("User 42 not found"))`.
pub fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}
pub fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::Unauthorized(message.into())
}
pub fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::Forbidden(message.into())
}
pub fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::NotFound(message.into())
}
pub fn conflict(message: impl Into<String>) -> ApiError {
    ApiError::Conflict(message.into())
}
pub fn unprocessable(message: impl Into<String>) -> ApiError {
    ApiError::Unprocessable(message.into())
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::Validation(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ServiceUnavailable(_) | ApiError::Contended => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The wire form of every error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"error": "Bad Request", "message": "Validation failed", "status": 400,
    "fields": {"email": ["must be a valid email address"]}}))]
pub struct ErrorBody {
    /// The HTTP reason phrase.
    pub error: String,
    /// A human sentence.
    pub message: String,
    /// The HTTP status code.
    pub status: u16,
    /// Validation failures only: every bad field with its messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<FieldErrors>,
}

impl ErrorBody {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ErrorBody {
            error: status.canonical_reason().unwrap_or("Error").to_owned(),
            message: message.into(),
            status: status.as_u16(),
            fields: None,
        }
    }
}

/// Renders an error body with the given status; used by the error type and by the
/// middleware that turns framework-made errors (405, 413, timeouts) into the same shape.
pub fn error_response(status: StatusCode, body: ErrorBody) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

pub const INTERNAL_MESSAGE: &str = "An unexpected error occurred.";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = match &self {
            ApiError::TooManyRequests { retry_after } => Some(*retry_after),
            _ => None,
        };
        let body = match self {
            ApiError::Validation(fields) => ErrorBody {
                fields: Some(fields),
                ..ErrorBody::new(status, "Validation failed")
            },
            ApiError::Internal(cause) => {
                // The request-id span around this event ties the cause to the request.
                tracing::error!(error = format!("{cause:#}"), "internal error");
                ErrorBody::new(status, INTERNAL_MESSAGE)
            }
            other => {
                let message = other.to_string();
                ErrorBody::new(status, message)
            }
        };
        let mut response = error_response(status, body);
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Database errors, mapped in one place: a unique violation is `409` naming the taken
/// value; a row that vanished under a concurrent delete is `404`; an unreachable database,
/// a deadlock or a lock timeout is `503` (worth a retry); anything else is internal.
impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(detail)) => {
                return conflict(unique_violation_message(&detail));
            }
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
                return not_found("A resource this request refers to no longer exists");
            }
            _ => {}
        }
        if matches!(err, DbErr::RecordNotUpdated | DbErr::RecordNotFound(_)) {
            return not_found("The resource no longer exists");
        }
        if is_transient(&err) {
            tracing::warn!(error = %err, "database contended");
            return ApiError::Contended;
        }
        if is_connection_error(&err) {
            tracing::warn!(error = %err, "database unavailable");
            return ApiError::ServiceUnavailable(
                "The database is unavailable; try again shortly.".into(),
            );
        }
        ApiError::Internal(anyhow::Error::new(err))
    }
}

/// Names the taken value from the constraint in the driver's message. Index names are
/// chosen in the migrations so that each contains the column it guards. MySQL's message
/// also quotes the duplicate value (`Duplicate entry 'x' for key 'users.uq_users_email'`),
/// so only the part naming the key is read.
fn unique_violation_message(detail: &str) -> String {
    let detail = detail.to_ascii_lowercase();
    let constraint = detail
        .rsplit_once(" for key ")
        .map_or(detail.as_str(), |(_, key)| key);
    if constraint.contains("username") {
        "Username already taken".into()
    } else if constraint.contains("email") {
        "Email already registered".into()
    } else if constraint.contains("sku") {
        "SKU already in use".into()
    } else {
        "A resource with this value already exists".into()
    }
}

fn sqlx_error(err: &DbErr) -> Option<&sea_orm::sqlx::Error> {
    match err {
        DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e)) => Some(e.as_ref()),
        _ => None,
    }
}

fn is_connection_error(err: &DbErr) -> bool {
    if matches!(err, DbErr::Conn(_) | DbErr::ConnectionAcquire(_)) {
        return true;
    }
    matches!(
        sqlx_error(err),
        Some(
            sea_orm::sqlx::Error::Io(_)
                | sea_orm::sqlx::Error::PoolTimedOut
                | sea_orm::sqlx::Error::PoolClosed
                | sea_orm::sqlx::Error::Tls(_)
                | sea_orm::sqlx::Error::Protocol(_)
                | sea_orm::sqlx::Error::WorkerCrashed
        )
    )
}

/// Deadlocks, serialisation failures and lock timeouts: the request may succeed if retried.
fn is_transient(err: &DbErr) -> bool {
    let Some(sea_orm::sqlx::Error::Database(db)) = sqlx_error(err) else {
        return false;
    };
    if let Some(mysql) = db.try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>() {
        // ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT
        return matches!(mysql.number(), 1213 | 1205);
    }
    // PostgreSQL: serialization_failure, deadlock_detected, lock_not_available.
    // SQLite: SQLITE_BUSY, SQLITE_LOCKED and their extended codes.
    matches!(
        db.code().as_deref(),
        Some("40001" | "40P01" | "55P03" | "5" | "6" | "261" | "262" | "517")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_violations_name_the_field_on_every_backend() {
        for (detail, expected) in [
            (
                "duplicate key value violates unique constraint \"uq_users_email\"",
                "Email",
            ),
            (
                "duplicate key value violates unique constraint \"uq_users_username_key\"",
                "Username",
            ),
            (
                "Duplicate entry 'email-fan' for key 'users.uq_users_username_key'",
                "Username",
            ),
            (
                "Duplicate entry 'username@x.com' for key 'users.uq_users_email'",
                "Email",
            ),
            ("UNIQUE constraint failed: users.email", "Email"),
            ("UNIQUE constraint failed: users.username_key", "Username"),
        ] {
            assert!(
                unique_violation_message(detail).starts_with(expected),
                "{detail}"
            );
        }
    }
}
