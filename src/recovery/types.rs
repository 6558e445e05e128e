//! What the account-recovery endpoints take and answer.

use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::passwords::Password;
use crate::users::domain::Email;
use crate::validation::{FieldValue, ParseContext, json_string, text_schema};

/// A token from an email link. Every token that cannot be used, malformed ones included,
/// gets this one message, so a client cannot tell unknown, used, expired and other-purpose
/// tokens apart.
#[derive(Clone)]
pub struct EmailToken(String);

pub const TOKEN_REFUSED: &str = "is invalid or has expired";

/// Longer than any token larch makes (43 characters); a longer one is refused unread.
const TOKEN_MAX_LENGTH: usize = 256;

impl EmailToken {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let well_formed = !raw.is_empty()
            && raw.len() <= TOKEN_MAX_LENGTH
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if well_formed {
            Ok(EmailToken(raw.to_owned()))
        } else {
            Err(TOKEN_REFUSED.to_owned())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// Never shows the token: it is a secret until used.
impl std::fmt::Debug for EmailToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmailToken(<redacted>)")
    }
}

impl FieldValue for EmailToken {
    fn from_json(value: &Value, _: &ParseContext) -> Result<Self, String> {
        // A token that is not even a string is as unusable as any other.
        json_string(value)
            .map_err(|_| TOKEN_REFUSED.to_owned())
            .and_then(EmailToken::parse)
    }
}

impl PartialSchema for EmailToken {
    fn schema() -> RefOr<Schema> {
        text_schema(
            "The token from the link in the email",
            Some(1),
            Some(TOKEN_MAX_LENGTH),
            Some("^[A-Za-z0-9_-]+$".into()),
        )
    }
}

impl ToSchema for EmailToken {}

crate::json_body! {
    /// `POST /auth/password-reset`.
    pub struct PasswordResetRequest {
        /// The account's address; the answer is the same whether or not it has one.
        pub email: Email,
    }
    ignores: &[];
}

crate::json_body! {
    /// `POST /auth/password-reset/confirm`.
    pub struct PasswordResetConfirmation {
        pub token: EmailToken,
        pub new_password: Password,
    }
    ignores: &[];
}

crate::json_body! {
    /// `POST /auth/verify-email`.
    pub struct VerifyEmailRequest {
        pub token: EmailToken,
    }
    ignores: &[];
}

crate::json_body! {
    /// `POST /auth/verify-email/resend` without a bearer token.
    pub struct ResendVerificationRequest {
        /// The account's address; the answer is the same whether or not it has one.
        pub email: Email,
    }
    ignores: &[];
}

/// The answer to a request whose email is sent in the background.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    #[schema(example = "If an account uses this address, an email is on its way.")]
    pub message: &'static str,
}
