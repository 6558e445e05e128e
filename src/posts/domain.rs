//! A post's constrained values, valid by construction.

use serde_json::Value;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use utoipa::{PartialSchema, ToSchema};

use crate::text::fold_case;
use crate::validation::{FieldValue, ParseContext, json_string, not_blank_schema, parse_not_blank};

pub const TITLE_MAX_LENGTH: usize = 200;
pub const BODY_MAX_LENGTH: usize = 100_000;

/// 1–200 characters, not blank.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub fn parse(raw: &str) -> Result<Self, String> {
        parse_not_blank(raw, TITLE_MAX_LENGTH).map(Title)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded title `?q=` searches (up to three times as long).
    pub fn key(&self) -> String {
        fold_case(&self.0)
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl FieldValue for Title {
    fn from_json(value: &Value, _: &ParseContext) -> Result<Self, String> {
        Title::parse(json_string(value)?)
    }
}

impl PartialSchema for Title {
    fn schema() -> RefOr<Schema> {
        not_blank_schema(TITLE_MAX_LENGTH)
    }
}

impl ToSchema for Title {}

/// 1–100,000 characters, not blank.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostBody(String);

impl PostBody {
    pub fn parse(raw: &str) -> Result<Self, String> {
        parse_not_blank(raw, BODY_MAX_LENGTH).map(PostBody)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl FieldValue for PostBody {
    fn from_json(value: &Value, _: &ParseContext) -> Result<Self, String> {
        PostBody::parse(json_string(value)?)
    }
}

impl PartialSchema for PostBody {
    fn schema() -> RefOr<Schema> {
        not_blank_schema(BODY_MAX_LENGTH)
    }
}

impl ToSchema for PostBody {}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTEXT: ParseContext = ParseContext {
        password_min_length: 8,
    };

    #[test]
    fn titles() {
        // Kept as typed: an update compares it with the stored title.
        assert_eq!(Title::parse("Hello").unwrap().as_str(), "Hello");
        assert_eq!(Title::parse("Hello").unwrap().into_inner(), "Hello");
        let json = Title::from_json(&Value::from("From JSON"), &CONTEXT);
        assert_eq!(json.map(Title::into_inner), Ok("From JSON".to_owned()));
        assert!(Title::from_json(&Value::from(" "), &CONTEXT).is_err());
        assert!(Title::parse(&"İ".repeat(200)).is_ok());
        assert!(Title::parse(&"x".repeat(201)).is_err());
        for blank in ["", "   ", "\u{200B}\u{200B}", "\u{2800}", "\u{FEFF}\t"] {
            assert!(Title::parse(blank).is_err(), "{blank:?}");
        }
        assert_eq!(Title::parse("ΟΔΟΣ").unwrap().key(), fold_case("οδοσ"));
    }

    #[test]
    fn bodies() {
        assert!(PostBody::parse(&"x".repeat(100_000)).is_ok());
        let body = PostBody::parse("Some text.").unwrap();
        assert_eq!(body.as_str(), "Some text.");
        assert_eq!(body.into_inner(), "Some text.");
        let json = PostBody::from_json(&Value::from("From JSON"), &CONTEXT);
        assert_eq!(json.map(PostBody::into_inner), Ok("From JSON".to_owned()));
        assert!(PostBody::parse(&"x".repeat(100_001)).is_err());
        assert!(PostBody::parse("\u{200B}").is_err());
    }
}
