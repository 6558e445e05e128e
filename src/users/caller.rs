//! The authenticated caller: a user, named by an access token and read from the database on
//! every request, so that a deleted user's tokens stop working and a demoted admin loses
//! admin rights at once.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::model::Model as User;
use super::queries;
use crate::error::{ApiError, unauthorized};
use crate::extract::bearer_token;
use crate::state::AppState;
use crate::tokens::{TokenError, TokenType};

pub struct AuthUser(pub User);

impl AuthUser {
    pub fn id(&self) -> i64 {
        self.0.id
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
        let user = queries::find_by_id(&state.db, id)
            .await?
            .ok_or_else(|| unauthorized("The user of this token no longer exists"))?;
        Ok(AuthUser(user))
    }
}
