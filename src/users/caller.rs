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
use crate::session_lifetime::SessionLifetime;
use crate::state::AppState;
use crate::tokens::{TokenError, TokenType};

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
        let token = bearer_token(&parts.headers)?;
        let claims = state.tokens.verify(token, TokenType::Access)?;
        let id = claims.user_id().ok_or(TokenError::Invalid)?;
        let session_id = claims.session_id().ok_or(TokenError::Invalid)?;
        let (user, session) = queries::find_caller(&state.db, id, session_id)
            .await?
            .ok_or_else(|| unauthorized("The session of this token has ended"))?;
        if !SessionLifetime::from_config(&state.config).is_live(&session, Utc::now()) {
            return Err(unauthorized("The session of this token has ended"));
        }
        Ok(AuthUser(user, SessionId(session_id)))
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
