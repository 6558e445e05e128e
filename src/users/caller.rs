//! The authenticated caller: a user in a live session, both named by an access token and
//! read from the database on every request (one query), so that a deleted user's tokens stop
//! working, a demoted admin loses admin rights at once, and an ended session's access tokens
//! are refused at once, on every instance.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::Utc;

use super::model::Model as User;
use super::queries;
use crate::error::{ApiError, unauthorized};
use crate::extract::bearer_token;
use crate::session_lifetime::{SessionLifetime, SessionTimes};
use crate::state::AppState;

pub struct AuthUser(pub User, pub SessionId);

/// The session the caller's access token belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionId(pub i64);

impl AuthUser {
    pub fn id(&self) -> i64 {
        self.0.id
    }

    pub fn session_id(&self) -> i64 {
        self.1.0
    }

    pub fn is_admin(&self) -> bool {
        self.0.is_admin()
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        AccessClaims::from_request_parts(parts, state)
            .await?
            .caller(state)
            .await
    }
}

/// What a valid access token says: its user and session, not yet checked against the
/// database. For a handler that reads the caller together with something else in one
/// query (`caller_and_user`); others take `AuthUser`.
pub struct AccessClaims {
    user_id: i64,
    session_id: i64,
}

impl FromRequestParts<AppState> for AccessClaims {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(&parts.headers)?;
        let grant = state.tokens.verify_access(token)?;
        Ok(AccessClaims {
            user_id: grant.user_id,
            session_id: grant.session_id,
        })
    }
}

impl AccessClaims {
    /// The caller, if the token's user and session are still there and the session live.
    pub async fn caller(self, state: &AppState) -> Result<AuthUser, ApiError> {
        let found = queries::find_caller(&state.db, self.user_id, self.session_id).await?;
        self.admit(state, found.map(|(user, session)| (user, session, None)))
            .map(|(caller, _)| caller)
    }

    /// The caller and user `id` (`None` if there is none), in one query.
    pub async fn caller_and_user(
        self,
        state: &AppState,
        id: i64,
    ) -> Result<(AuthUser, Option<User>), ApiError> {
        let found =
            queries::find_caller_and_user(&state.db, self.user_id, self.session_id, id).await?;
        self.admit(state, found)
    }

    fn admit(
        &self,
        state: &AppState,
        found: Option<(User, SessionTimes, Option<User>)>,
    ) -> Result<(AuthUser, Option<User>), ApiError> {
        let (user, session, other) =
            found.ok_or_else(|| unauthorized("The session of this token has ended"))?;
        if !SessionLifetime::from_config(&state.config).is_live(&session, Utc::now()) {
            return Err(unauthorized("The session of this token has ended"));
        }
        Ok((AuthUser(user, SessionId(self.session_id)), other))
    }
}

/// The caller when the request carries a bearer token (which must then be valid: `401`
/// otherwise), `None` when it carries none.
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl FromRequestParts<AppState> for MaybeAuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if !parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            return Ok(MaybeAuthUser(None));
        }
        AuthUser::from_request_parts(parts, state)
            .await
            .map(|caller| MaybeAuthUser(Some(caller)))
    }
}
