//! `/auth` handlers.

use axum::Json;
use axum::extract::State;
use axum::http::header::USER_AGENT;
use axum::http::{HeaderMap, StatusCode};

use super::refresh_token::RefreshToken;
use super::types::{LoginRequest, PasswordChangeRequest, RegisterRequest, TokenPair};
use crate::client_ip::ClientIp;
use crate::conditional::{JsonWithEtag, Preconditions};
use crate::db::begin_write;
use crate::email_tokens::{self, Purpose};
use crate::error::{ApiError, ApiResult, conflict, forbidden, unauthorized};
use crate::extract::{NoBody, ValidJson};
use crate::jobs::Job;
use crate::passwords::{PASSWORD_MAX_LENGTH, needs_rehash};
use crate::rate_limit::AuthRateLimit;
use crate::session_lifetime::SessionLifetime;
use crate::sessions::queries::{self as sessions, LoginOrigin, Which};
use crate::sessions::refresh_tokens::{self, RefreshError};
use crate::state::AppState;
use crate::tokens::TokenType;
use crate::users::AuthUser;
use crate::users::domain::{Email, Role};
use crate::users::model::Model as User;
use crate::users::queries::{self as users, NewUser};
use crate::users::types::UserResponse;

/// `POST /auth/register`: `201` with the new user. Uniqueness is the database's to enforce
/// (so concurrent registrations of one email give one `201`); the check before it only
/// saves a password hash when the answer is already known.
#[utoipa::path(post, path = "/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered; the new user", body = UserResponse),
        (status = 409, description = "Email or username already taken", body = crate::error::ErrorBody),
        (status = 429, description = "Rate limit hit (per client IP)", body = crate::error::ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn register(
    _: AuthRateLimit,
    State(state): State<AppState>,
    ValidJson(registration): ValidJson<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<UserResponse>)> {
    if users::find_by_email(&state.db, &registration.email)
        .await?
        .is_some()
    {
        return Err(conflict("Email already registered"));
    }
    let password_hash = state.passwords.hash(&registration.password).await?;
    let user = users::insert(
        &state.db,
        NewUser {
            username: registration.username,
            email: registration.email,
            password_hash,
            role: Role::User,
        },
    )
    .await?;
    tracing::info!(user_id = user.id, "user registered");
    // Registration never fails because of email: a queue that cannot take the job is logged.
    state
        .queue_email(Job::VerifyEmail { user_id: user.id })
        .await;
    Ok((StatusCode::CREATED, Json(UserResponse::full(&user))))
}

/// `POST /auth/login`: a new token pair. An unknown email costs the same hash as a wrong
/// password, and both answer the same `401`.
#[utoipa::path(post, path = "/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "A new access and refresh token", body = TokenPair),
        (status = 401, description = "Bad credentials", body = crate::error::ErrorBody),
        (status = 403, description = "Right password, but the address is not verified and REQUIRE_EMAIL_VERIFICATION is on", body = crate::error::ErrorBody),
        (status = 429, description = "Rate limit hit (per client IP)", body = crate::error::ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn login(
    _: AuthRateLimit,
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ValidJson(credentials): ValidJson<LoginRequest>,
) -> ApiResult<Json<TokenPair>> {
    // An address that is not valid is one no account has: it still costs a hash below.
    let user = match Email::parse(credentials.email.as_str()) {
        Ok(email) => users::find_by_email(&state.db, &email).await?,
        Err(_) => None,
    };
    let password = credentials.password.as_str();
    // No stored password is this long; refusing it unhashed leaks nothing about the account.
    if password.chars().count() > PASSWORD_MAX_LENGTH {
        return Err(invalid_credentials());
    }
    let stored = user.as_ref().map(|u| u.password_hash.as_str());
    if !state.passwords.verify(password, stored).await? {
        return Err(invalid_credentials());
    }
    let user = user.ok_or_else(invalid_credentials)?;
    // Only after the password is known to be right: a wrong one stays the same 401.
    if state.config.mail.require_verification && !user.email_verified {
        return Err(forbidden(
            "Email address not verified: follow the link in the verification email, or ask for a new one",
        ));
    }
    if needs_rehash(&user.password_hash) {
        upgrade_password_hash(&state, &user, password).await;
    }
    let origin = LoginOrigin {
        ip: ip.map(|ip| ip.to_string()),
        user_agent: headers
            .get(USER_AGENT)
            .map(|ua| String::from_utf8_lossy(ua.as_bytes()).into_owned()),
    };
    let (session, refresh_token) =
        match refresh_tokens::start(&state.db, &state.tokens, user.id, origin).await {
            Ok(started) => started,
            // The account was deleted between the password check and now.
            Err(RefreshError::UserGone) => return Err(invalid_credentials()),
            Err(other) => return Err(other.into()),
        };
    Ok(Json(token_pair(
        &state,
        user.id,
        session.id,
        refresh_token,
    )?))
}

/// Replaces an older hash (werkzeug's, brought over from a Flask app) by Argon2id now that
/// the password is known. A failure here only means the next login tries again.
async fn upgrade_password_hash(state: &AppState, user: &User, password: &str) {
    let upgraded = async {
        let hash = state.passwords.rehash(password).await?;
        let done =
            users::upgrade_password_hash(&state.db, user.id, &user.password_hash, hash).await?;
        anyhow::Ok(done)
    }
    .await;
    match upgraded {
        Ok(true) => tracing::info!(user_id = user.id, "password hash upgraded to Argon2id"),
        // Changed by a concurrent request (another login, a password change): theirs stands.
        Ok(false) => {}
        Err(e) => tracing::warn!(user_id = user.id, error = %e, "password hash not upgraded"),
    }
}

fn invalid_credentials() -> ApiError {
    unauthorized("Invalid credentials")
}

fn token_pair(
    state: &AppState,
    user_id: i64,
    session_id: i64,
    refresh_token: String,
) -> ApiResult<TokenPair> {
    Ok(TokenPair {
        access_token: state
            .tokens
            .issue(user_id, session_id, TokenType::Access)?
            .token,
        refresh_token,
        token_type: "Bearer",
        expires_in: state.tokens.access_ttl.as_secs(),
    })
}

/// `POST /auth/refresh`: rotates the refresh token and returns a new pair.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth",
    description = "Send the refresh token as the bearer token. It is rotated: the one sent stops working, and sending it again ends its session (every token of its login). A session that has been idle too long or reached its maximum lifetime cannot be refreshed.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A new pair", body = TokenPair),
        (status = 429, description = "Rate limit hit (per client IP)", body = crate::error::ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn refresh(
    _: AuthRateLimit,
    State(state): State<AppState>,
    presented: RefreshToken,
    _: NoBody,
) -> ApiResult<Json<TokenPair>> {
    let lifetime = SessionLifetime::from_config(&state.config);
    let (session, refresh_token) =
        refresh_tokens::rotate(&state.db, &state.tokens, &presented.presented(), &lifetime).await?;
    Ok(Json(token_pair(
        &state,
        session.user_id,
        session.id,
        refresh_token,
    )?))
}

/// `GET /auth/me`.
#[utoipa::path(get, path = "/auth/me", tag = "auth",
    security(("bearer" = [])),
    params(("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier response: `304` if it is still current")),
    responses(
        (status = 200, description = "The caller", body = UserResponse,
            headers(("ETag" = String, description = "Version of this representation"))),
        (status = 304, description = "Not modified: `If-None-Match` names the current version",
            headers(("ETag" = String))),
    ))]
pub async fn me(caller: AuthUser, preconditions: Preconditions) -> ApiResult<JsonWithEtag> {
    Ok(JsonWithEtag::ok(&UserResponse::full(&caller.0))?.or_not_modified(&preconditions))
}

/// `POST /auth/logout`: revokes the presented refresh token and its family.
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    description = "Send the refresh token as the bearer token: its session ends, and with it every refresh and access token of the same login.",
    security(("bearer" = [])),
    responses((status = 204, description = "Logged out")))]
pub async fn logout(
    State(state): State<AppState>,
    presented: RefreshToken,
    _: NoBody,
) -> ApiResult<StatusCode> {
    let lifetime = SessionLifetime::from_config(&state.config);
    refresh_tokens::end_presented(&state.db, &presented.presented(), &lifetime).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /auth/logout-all`: ends every session of the caller.
#[utoipa::path(post, path = "/auth/logout-all", tag = "auth",
    description = "Ends every session of the caller, this one included: every refresh and access token stops working.",
    security(("bearer" = [])),
    responses((status = 204, description = "Every session ended")))]
pub async fn logout_all(
    State(state): State<AppState>,
    caller: AuthUser,
    _: NoBody,
) -> ApiResult<StatusCode> {
    let tx = begin_write(&state.db).await?;
    sessions::end(&tx, caller.id(), Which::All).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /auth/password`: needs the current password (`403` if wrong, nothing changed);
/// ends every session of the caller.
#[utoipa::path(put, path = "/auth/password", tag = "auth",
    security(("bearer" = [])),
    request_body = PasswordChangeRequest,
    responses((status = 204, description = "Changed; every session of the caller ends, this one included")))]
pub async fn change_password(
    State(state): State<AppState>,
    caller: AuthUser,
    ValidJson(change): ValidJson<PasswordChangeRequest>,
) -> ApiResult<StatusCode> {
    let current = change.current_password.as_str();
    let current_ok = current.chars().count() <= PASSWORD_MAX_LENGTH
        && state
            .passwords
            .verify(current, Some(&caller.0.password_hash))
            .await?;
    if !current_ok {
        return Err(forbidden("Current password is incorrect"));
    }
    let new_hash = state.passwords.hash(&change.new_password).await?;
    let tx = begin_write(&state.db).await?;
    if !users::replace_password_hash(&tx, caller.id(), &caller.0.password_hash, new_hash).await? {
        // Changed by a concurrent request since this one was authenticated.
        return Err(forbidden("Current password is incorrect"));
    }
    sessions::end(&tx, caller.id(), Which::All).await?;
    // Reset links already sent would undo this change: they stop working.
    email_tokens::void_all(&tx, caller.id(), Purpose::PasswordReset).await?;
    tx.commit().await?;
    tracing::info!(
        user_id = caller.id(),
        "password changed; refresh tokens revoked"
    );
    state
        .queue_email(Job::PasswordChanged {
            user_id: caller.id(),
            email: caller.0.email.clone(),
        })
        .await;
    Ok(StatusCode::NO_CONTENT)
}
