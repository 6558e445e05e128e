//! Account recovery and email verification: `/auth/password-reset`,
//! `/auth/password-reset/confirm`, `/auth/verify-email`, `/auth/verify-email/resend`,
//! `/users/{id}/password-reset`, and the pages the default links open.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::types::{
    Accepted, PasswordResetConfirmation, PasswordResetRequest, ResendVerificationRequest,
    TOKEN_REFUSED, VerifyEmailRequest,
};
use sea_orm::{DatabaseConnection, DatabaseTransaction};

use crate::db::{begin_write, retry_transient};
use crate::email_tokens::{self, ConsumeError, Purpose};
use crate::error::{ApiError, ApiResult, forbidden, not_found};
use crate::extract::{MaybeJsonObject, NoBody, PathId, ValidJson};
use crate::jobs::{Job, Jobs};
use crate::rate_limit::AuthRateLimit;
use crate::sessions::queries::{self as sessions, Which};
use crate::state::AppState;
use crate::users::queries as users;
use crate::users::{AuthUser, MaybeAuthUser};
use crate::validation::{FieldReport, FromJsonObject};

const ON_ITS_WAY: &str = "If an account uses this address, an email is on its way.";

/// The queue emails go through, or `503` when this server sends no email (production
/// without `SMTP_URL`, or MySQL without `JOBS_URL`).
fn email_queue(state: &AppState) -> ApiResult<&Jobs> {
    state.email_jobs().ok_or_else(|| {
        ApiError::ServiceUnavailable("Email is not configured on this server".to_owned())
    })
}

/// Queues `job`; a queue that cannot take it (the database is down) is a `503`.
async fn queue(jobs: &Jobs, job: Job) -> ApiResult<()> {
    jobs.push(job).await.map_err(|e| {
        tracing::warn!(error = %e, "a job could not be queued");
        ApiError::ServiceUnavailable(
            "The request could not be queued; try again shortly".to_owned(),
        )
    })
}

fn token_refused() -> ApiError {
    let mut report = FieldReport::default();
    report.add("token", TOKEN_REFUSED);
    match report.finish() {
        Err(e) => e,
        Ok(()) => unreachable!("a report with a field error is an error"),
    }
}

impl From<ConsumeError> for ApiError {
    fn from(e: ConsumeError) -> Self {
        match e {
            ConsumeError::Refused => token_refused(),
            ConsumeError::Database(e) => e.into(),
        }
    }
}

/// `POST /auth/password-reset`: `202` for every address. The request only queues a job
/// (the same single write whether or not the address has an account); the job looks the
/// account up, applies the per-address cap and sends.
#[utoipa::path(post, path = "/auth/password-reset", tag = "auth",
    description = "Sends a password-reset link to the address if an account uses it. The answer is the same, in about the same time, for every address; at most 3 emails an hour go to one address.",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "Accepted; an email is sent if an account uses the address", body = Accepted),
        (status = 429, description = "Rate limit hit (per client IP)", body = crate::error::ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "This server sends no email", body = crate::error::ErrorBody),
    ))]
pub async fn request_password_reset(
    _: AuthRateLimit,
    State(state): State<AppState>,
    ValidJson(request): ValidJson<PasswordResetRequest>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let jobs = email_queue(&state)?;
    queue(
        jobs,
        Job::PasswordReset {
            email: request.email.into_inner(),
        },
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            message: ON_ITS_WAY,
        }),
    ))
}

/// `POST /auth/password-reset/confirm`: sets the new password, ends every session, logs
/// nobody in.
#[utoipa::path(post, path = "/auth/password-reset/confirm", tag = "auth",
    description = "Sets a new password with the token from a reset email. Every session of the account ends; the caller is not logged in. A token that is unknown, used, expired or meant for something else is `400` with `fields.token`.",
    request_body = PasswordResetConfirmation,
    responses(
        (status = 204, description = "Password changed; every session ended"),
        (status = 429, description = "Rate limit hit (per client IP)", body = crate::error::ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn confirm_password_reset(
    _: AuthRateLimit,
    State(state): State<AppState>,
    ValidJson(confirmation): ValidJson<PasswordResetConfirmation>,
) -> ApiResult<StatusCode> {
    let new_hash = state.passwords.hash(&confirmation.new_password).await?;
    let token = confirmation.token.as_str();
    let user =
        retry_transient(|| set_password_by_token(&state.db, token, new_hash.clone())).await?;
    tracing::info!(user_id = user.id, "password reset; every session ended");
    state
        .queue_email(Job::PasswordChanged {
            user_id: user.id,
            email: user.email,
        })
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Uses `token` for `purpose` in `tx` and returns the user it was sent to, locked. The user
/// is locked before the token, the order every writer of both follows (a reset being sent
/// locks the user, then voids older tokens). A link sent to an address the account no
/// longer has is refused like any other.
async fn use_token(
    tx: &DatabaseTransaction,
    token: &str,
    purpose: Purpose,
) -> ApiResult<crate::users::model::Model> {
    let owner = email_tokens::owner_of(tx, token, purpose)
        .await?
        .ok_or_else(token_refused)?;
    let user = users::find_by_id_for_update(tx, owner)
        .await?
        .ok_or_else(token_refused)?;
    let used = email_tokens::consume(tx, token, purpose).await?;
    if used.user_id != user.id || used.email != user.email {
        return Err(token_refused());
    }
    Ok(user)
}

/// The transaction of a confirmed reset. Locks the user before the token, the order every
/// writer of both follows (a reset being sent locks the user, then voids older tokens).
async fn set_password_by_token(
    db: &DatabaseConnection,
    token: &str,
    new_hash: String,
) -> ApiResult<crate::users::model::Model> {
    let tx = begin_write(db).await?;
    let user = use_token(&tx, token, Purpose::PasswordReset).await?;
    if !users::replace_password_hash(&tx, user.id, &user.password_hash, new_hash).await? {
        return Err(token_refused());
    }
    sessions::end(&tx, user.id, Which::All).await?;
    tx.commit().await?;
    Ok(user)
}

/// `POST /auth/verify-email`: marks the address the link was sent to as verified.
#[utoipa::path(post, path = "/auth/verify-email", tag = "auth",
    description = "Verifies the address with the token from a verification email. A token that is unknown, used, expired, meant for something else, or sent to an address the account no longer has is `400` with `fields.token`.",
    request_body = VerifyEmailRequest,
    responses(
        (status = 204, description = "The address is verified"),
        (status = 429, description = "Rate limit hit (per client IP)", body = crate::error::ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn verify_email(
    _: AuthRateLimit,
    State(state): State<AppState>,
    ValidJson(request): ValidJson<VerifyEmailRequest>,
) -> ApiResult<StatusCode> {
    let token = request.token.as_str();
    let user = retry_transient(|| verify_by_token(&state.db, token)).await?;
    tracing::info!(user_id = user.id, "email address verified");
    Ok(StatusCode::NO_CONTENT)
}

/// The transaction of a verification: the user locked before the token, as for a reset.
async fn verify_by_token(
    db: &DatabaseConnection,
    token: &str,
) -> ApiResult<crate::users::model::Model> {
    let tx = begin_write(db).await?;
    let user = use_token(&tx, token, Purpose::VerifyEmail).await?;
    users::mark_email_verified(&tx, user.id, &user.email).await?;
    tx.commit().await?;
    Ok(user)
}

/// `POST /auth/verify-email/resend`: with a bearer token, for the caller (`204` if already
/// verified); without, for the address in the body, answering `202` alike for every address.
#[utoipa::path(post, path = "/auth/verify-email/resend", tag = "auth",
    description = "Sends the verification email again. With a bearer token: to the caller (`204` when already verified), and no body is needed. Without: to the `email` in the body, answering `202` alike whether or not an unverified account uses it. At most 3 emails an hour go to one address.",
    security((), ("bearer" = [])),
    request_body(content = Option<ResendVerificationRequest>, description = "Needed without a bearer token"),
    responses(
        (status = 202, description = "Accepted; an email is sent if an unverified account uses the address", body = Accepted),
        (status = 204, description = "The caller's address is already verified"),
        (status = 429, description = "Rate limit hit (per client IP)", body = crate::error::ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "This server sends no email", body = crate::error::ErrorBody),
    ))]
pub async fn resend_verification(
    _: AuthRateLimit,
    State(state): State<AppState>,
    MaybeAuthUser(caller): MaybeAuthUser,
    MaybeJsonObject(body): MaybeJsonObject,
) -> ApiResult<Response> {
    let job = match (caller, body) {
        // The caller is who to verify; a body is not needed and not read.
        (Some(caller), _) => {
            if caller.0.email_verified {
                return Ok(StatusCode::NO_CONTENT.into_response());
            }
            Job::VerifyEmail {
                user_id: caller.id(),
            }
        }
        (None, Some(body)) => {
            let request = ResendVerificationRequest::from_object(body, &state.parse_context())?;
            Job::ResendVerification {
                email: request.email.into_inner(),
            }
        }
        (None, None) => {
            let mut report = FieldReport::default();
            report.add("email", "is required without a bearer token");
            report.finish()?;
            unreachable!("a report with a field error is an error")
        }
    };
    queue(email_queue(&state)?, job).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            message: ON_ITS_WAY,
        }),
    )
        .into_response())
}

/// `POST /users/{id}/password-reset` (admin): mails the user a reset link. Nobody can set
/// another user's password.
#[utoipa::path(post, path = "/users/{id}/password-reset", tag = "users",
    description = "Admins only: sends the user a password-reset link (the per-address cap applies). The admin never chooses or sees the password.",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, description = "User id")),
    responses(
        (status = 202, description = "Accepted; the email is on its way", body = Accepted),
        (status = 503, description = "This server sends no email", body = crate::error::ErrorBody),
    ))]
pub async fn admin_password_reset(
    State(state): State<AppState>,
    PathId(id): PathId,
    caller: AuthUser,
    _: NoBody,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    if !caller.is_admin() {
        return Err(forbidden(
            "Only admins can start a password reset for a user",
        ));
    }
    if users::find_by_id(&state.db, id).await?.is_none() {
        return Err(not_found(format!("User {id} not found")));
    }
    queue(
        email_queue(&state)?,
        Job::AdminPasswordReset { user_id: id },
    )
    .await?;
    tracing::info!(
        user_id = id,
        admin_id = caller.id(),
        "password reset started by an admin"
    );
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            message: "A password-reset email is on its way to the user.",
        }),
    ))
}

/// The page a reset link opens by default.
#[utoipa::path(get, path = "/reset-password", tag = "pages",
    params(("token" = Option<String>, Query, description = "The token from the email")),
    responses((status = 200, description = "A page with a form that sets a new password", content_type = "text/html", body = String)))]
pub async fn reset_password_page() -> Response {
    page(include_str!("../pages/reset_password.html"))
}

/// The page a verification link opens by default.
#[utoipa::path(get, path = "/verify-email", tag = "pages",
    params(("token" = Option<String>, Query, description = "The token from the email")),
    responses((status = 200, description = "A page with a button that verifies the address", content_type = "text/html", body = String)))]
pub async fn verify_email_page() -> Response {
    page(include_str!("../pages/verify_email.html"))
}

/// A page from the binary. The token is in its URL, so: no referrer, no caching, and
/// nothing loaded from anywhere else.
fn page(html: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                     connect-src 'self'; img-src 'self' data:; form-action 'none'; base-uri 'none'; \
                     frame-ancestors 'none'",
                ),
            ),
        ],
        html,
    )
        .into_response()
}
