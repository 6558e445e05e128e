//! What `/auth` sends and takes.

use serde::Serialize;

use crate::passwords::Password;
use crate::users::domain::{Email, Username};
use crate::users::types::READ_ONLY_FIELDS;
use crate::validation::AnyText;

/// The answer to login and refresh.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    #[schema(value_type = String, example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds the access token lives.
    pub expires_in: u64,
}

crate::json_body! {
    /// `POST /auth/register`. `role` is not a field: every new account is a user.
    pub struct RegisterRequest {
        pub username: Username,
        pub email: Email,
        pub password: Password,
    }
    ignores: READ_ONLY_FIELDS;
}

crate::json_body! {
    /// `POST /auth/login`. Any text is taken: a malformed address is simply one no account
    /// has, and answers as any unknown one does.
    pub struct LoginRequest {
        /// Matched in its canonical form (case, Unicode and IDNA spellings of one address are
        /// one address).
        pub email: AnyText,
        pub password: AnyText,
    }
    ignores: &[];
}

crate::json_body! {
    /// `PUT /auth/password`.
    pub struct PasswordChangeRequest {
        pub current_password: AnyText,
        pub new_password: Password,
    }
    ignores: &[];
}
