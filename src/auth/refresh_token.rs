//! The refresh token a request presents as its bearer token (`/auth/refresh`,
//! `/auth/logout`): signature, expiry and type checked here; whether it is still live is
//! the database's to say (`refresh_tokens`).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::extract::bearer_token;
use crate::sessions::refresh_tokens::Presented;
use crate::state::AppState;
use crate::tokens::{TokenError, TokenType};

pub struct RefreshToken {
    pub token: String,
    pub user_id: i64,
}

impl RefreshToken {
    pub fn presented(&self) -> Presented<'_> {
        Presented {
            token: &self.token,
            user_id: self.user_id,
        }
    }
}

impl FromRequestParts<AppState> for RefreshToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(&parts.headers)?;
        let claims = state.tokens.verify(token, TokenType::Refresh)?;
        Ok(RefreshToken {
            token: token.to_owned(),
            user_id: claims.user_id().ok_or(TokenError::Invalid)?,
        })
    }
}
