//! What `/auth` sends and takes.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::{Email, Password, Username};
use crate::error::ApiError;
use crate::users::types::READ_ONLY_FIELDS;
use crate::validation::{FieldReader, checked};

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

pub struct Registration {
    pub username: Username,
    pub email: Email,
    pub password: Password,
}

pub fn parse_registration(
    body: Map<String, Value>,
    password_min_length: usize,
) -> Result<Registration, ApiError> {
    let mut reader = FieldReader::new(body);
    let username = reader.required("username", Username::parse);
    let email = reader.required("email", Email::parse);
    let password = reader.required("password", |p| Password::parse(p, password_min_length));
    reader.finish(READ_ONLY_FIELDS)?;
    Ok(Registration {
        username: checked(username)?,
        email: checked(email)?,
        password: checked(password)?,
    })
}

pub struct Credentials {
    pub email: String,
    pub password: String,
}

/// Login takes any strings: a malformed email is simply one no account has.
pub fn parse_credentials(body: Map<String, Value>) -> Result<Credentials, ApiError> {
    let mut reader = FieldReader::new(body);
    let email = reader.required("email", |e| Ok(e.trim().to_owned()));
    let password = reader.required("password", |p| Ok(p.to_owned()));
    reader.finish(&[])?;
    Ok(Credentials {
        email: checked(email)?,
        password: checked(password)?,
    })
}

pub struct PasswordChange {
    pub current_password: String,
    pub new_password: Password,
}

pub fn parse_password_change(
    body: Map<String, Value>,
    password_min_length: usize,
) -> Result<PasswordChange, ApiError> {
    let mut reader = FieldReader::new(body);
    let current_password = reader.required("current_password", |p| Ok(p.to_owned()));
    let new_password = reader.required("new_password", |p| Password::parse(p, password_min_length));
    reader.finish(&[])?;
    Ok(PasswordChange {
        current_password: checked(current_password)?,
        new_password: checked(new_password)?,
    })
}
