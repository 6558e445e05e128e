//! The one error type of the API. Every error path ends here and renders the contract's
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
    #[error("Request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    ServiceUnavailable(String),
    /// Anything unexpected. The cause is logged, never sent.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

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
/// One bad field: a validation error naming just it.
pub fn field_error(field: &str, message: impl Into<String>) -> ApiError {
    let mut fields = FieldErrors::new();
    fields.insert(field.to_owned(), vec![message.into()]);
    ApiError::Validation(fields)
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::Validation(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The wire form of every error.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
    pub status: u16,
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
    response
}

pub const INTERNAL_MESSAGE: &str = "An unexpected error occurred.";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
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
        error_response(status, body)
    }
}

/// Database errors: unique violations become `409` naming the taken value, an unreachable
/// database becomes `503`; everything else is an internal error.
impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        if let Some(SqlErr::UniqueConstraintViolation(detail)) = err.sql_err() {
            return conflict(unique_violation_message(&detail));
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

/// Names the taken value from the constraint named in the driver's message. Index names
/// are chosen in the migrations so that each contains the column it guards.
fn unique_violation_message(detail: &str) -> String {
    let detail = detail.to_ascii_lowercase();
    if detail.contains("email") {
        "Email already registered".into()
    } else if detail.contains("username") {
        "Username already taken".into()
    } else if detail.contains("sku") {
        "SKU already in use".into()
    } else {
        "A resource with this value already exists".into()
    }
}

fn is_connection_error(err: &DbErr) -> bool {
    match err {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => true,
        DbErr::Query(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e)) => matches!(
            e.as_ref(),
            sea_orm::sqlx::Error::Io(_)
                | sea_orm::sqlx::Error::PoolTimedOut
                | sea_orm::sqlx::Error::PoolClosed
                | sea_orm::sqlx::Error::Tls(_)
        ),
        _ => false,
    }
}
