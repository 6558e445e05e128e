//! A user's constrained values, valid by construction: each `parse` returns the value or the
//! message a client sees in `fields`.

use icu_normalizer::ComposingNormalizerBorrowed;
use serde_json::Value;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::text::{char_count, fold_case, is_invisible};
use crate::validation::{FieldValue, ParseContext, json_string, text_schema};

pub const USERNAME_MIN_LENGTH: usize = 3;
pub const USERNAME_MAX_LENGTH: usize = 80;
pub const EMAIL_MAX_LENGTH: usize = 120;

/// 3–80 of ASCII letters, digits, `_`, `.`, `-`. Unique case-insensitively: `key()` is the
/// folded form the database's unique index is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let length = char_count(raw);
        if !(USERNAME_MIN_LENGTH..=USERNAME_MAX_LENGTH).contains(&length) {
            return Err(format!(
                "must be {USERNAME_MIN_LENGTH} to {USERNAME_MAX_LENGTH} characters long"
            ));
        }
        if !raw.chars().all(is_username_char) {
            return Err("may contain only letters, digits, '_', '.' and '-'".into());
        }
        Ok(Username(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form (ASCII only, so as long as the name).
    pub fn key(&self) -> String {
        fold_case(&self.0)
    }
}

fn is_username_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

impl FieldValue for Username {
    fn from_json(value: &Value, _: &ParseContext) -> Result<Self, String> {
        Username::parse(json_string(value)?)
    }
}

impl PartialSchema for Username {
    fn schema() -> RefOr<Schema> {
        text_schema(
            format!(
                "{USERNAME_MIN_LENGTH}–{USERNAME_MAX_LENGTH} of ASCII letters, digits, `_`, `.`, `-`; unique ignoring case"
            ),
            Some(USERNAME_MIN_LENGTH),
            Some(USERNAME_MAX_LENGTH),
            Some(format!(
                "^[A-Za-z0-9_.-]{{{USERNAME_MIN_LENGTH},{USERNAME_MAX_LENGTH}}}$"
            )),
        )
    }
}

impl ToSchema for Username {}

/// An email address in its one canonical form: the local part lower-cased and in Unicode
/// NFC, the domain in IDNA ASCII (so `ｅｘａｍｐｌｅ.com`, `example。com` and `EXAMPLE.com` are
/// all `example.com`). Two spellings of one mailbox are one address: uniqueness and login
/// use this form. At most 120 characters, counted on the canonical form, which is what is
/// stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

const INVALID_EMAIL: &str = "must be a valid email address";

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || is_invisible(c))
        {
            return Err(INVALID_EMAIL.into());
        }
        let (local, domain) = raw.rsplit_once('@').ok_or(INVALID_EMAIL)?;
        let local = ComposingNormalizerBorrowed::new_nfc()
            .normalize(&local.to_lowercase())
            .into_owned();
        // UTS 46 mapping: full-width letters, ideographic full stops and case all map to
        // the one ASCII (punycode) form; a domain that has none is invalid.
        let domain = idna::domain_to_ascii(domain).map_err(|_| INVALID_EMAIL)?;
        let email = format!("{local}@{domain}");
        if char_count(&email) > EMAIL_MAX_LENGTH {
            return Err(format!(
                "must be at most {EMAIL_MAX_LENGTH} characters long"
            ));
        }
        if local.is_empty()
            || domain.is_empty()
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
            || !validator::ValidateEmail::validate_email(&email)
        {
            return Err(INVALID_EMAIL.into());
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl FieldValue for Email {
    fn from_json(value: &Value, _: &ParseContext) -> Result<Self, String> {
        Email::parse(json_string(value)?)
    }
}

impl PartialSchema for Email {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
            .max_length(Some(EMAIL_MAX_LENGTH))
            .description(Some(format!(
                "A valid address (no spaces, control or invisible characters; no leading, trailing \
                 or doubled dot before the `@`), at most {EMAIL_MAX_LENGTH} characters in its \
                 canonical form: the part before the `@` lower-cased in Unicode NFC, the domain \
                 in IDNA ASCII. Unique in that form."
            )))
            .examples(["alice@example.com"])
            .into()
    }
}

impl ToSchema for Email {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            _ => Err("must be \"user\" or \"admin\"".into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

impl FieldValue for Role {
    fn from_json(value: &Value, _: &ParseContext) -> Result<Self, String> {
        Role::parse(json_string(value)?)
    }
}

impl PartialSchema for Role {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["user", "admin"]))
            .description(Some("`user` or `admin`"))
            .into()
    }
}

impl ToSchema for Role {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(Username::parse("alice").is_ok());
        assert!(Username::parse("a.b-c_9").is_ok());
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse(&"a".repeat(80)).is_ok());
        assert!(Username::parse(&"a".repeat(81)).is_err());
        assert!(Username::parse("al ice").is_err());
        assert!(Username::parse("alice\0").is_err());
        assert!(Username::parse("al%ce").is_err());
        assert!(Username::parse("ålice").is_err());
        assert_eq!(Username::parse("AlIcE").unwrap().key(), "alice");
        assert_eq!(Username::parse("AlIcE").unwrap().as_str(), "AlIcE");
    }

    #[test]
    fn roles() {
        for role in [Role::User, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Ok(role));
        }
        assert_eq!(Role::User.as_str(), "user");
        assert_eq!(Role::Admin.as_str(), "admin");
        assert!(Role::parse("Admin").is_err());
        assert!(Role::parse("root").is_err());
    }

    #[test]
    fn emails_are_canonical() {
        let canonical = |raw: &str| Email::parse(raw).map(Email::into_inner);
        assert_eq!(
            canonical("Alice@Example.COM").as_deref(),
            Ok("alice@example.com")
        );
        for spelling in [
            "admin@ｅｘａｍｐｌｅ.com",
            "admin@example。com",
            "admin@example．com",
            "admin@EXAMPLE.com",
            " admin@example.com ",
        ] {
            assert_eq!(
                canonical(spelling).as_deref(),
                Ok("admin@example.com"),
                "{spelling}"
            );
        }
        // NFD and NFC spellings of one domain.
        assert_eq!(
            canonical("user@bu\u{308}cher.example"),
            canonical("user@b\u{fc}cher.example")
        );
        // The part before the `@` is ASCII (as the address grammar larch checks has it).
        assert!(Email::parse("\u{e9}lise@example.com").is_err());
        assert_eq!(
            canonical("user@bücher.example").as_deref(),
            Ok("user@xn--bcher-kva.example")
        );
    }

    #[test]
    fn invalid_emails() {
        assert!(Email::parse("not-an-email").is_err());
        assert!(Email::parse("").is_err());
        assert!(Email::parse("@example.com").is_err());
        assert!(Email::parse("a@").is_err());
        assert!(Email::parse("a@b\0c.com").is_err());
        for lookalike in [
            "alice@example.com\u{200B}",
            "alice@exam\u{00AD}ple.com",
            "\u{FEFF}alice@example.com",
            "ali\u{2060}ce@example.com",
            "ali ce@example.com",
            "a..b@example.com",
            ".a@example.com",
            "a.@example.com",
            // Control characters, on either side of the `@`.
            "a\u{1}b@example.com",
            "ab@exa\u{7f}mple.com",
            "a\u{80}b@example.com",
            "ab@exa\u{9f}mple.com",
        ] {
            assert!(Email::parse(lookalike).is_err(), "{lookalike:?}");
        }
        assert!(Email::parse("a.b+tag@example.com").is_ok());
        let long = format!("{}@example.com", "a".repeat(120));
        assert!(Email::parse(&long).is_err());
        // 120 characters are taken, 121 are not (the part before the `@` is at most 64).
        let at_most = format!("{}@{}.example", "a".repeat(64), "b".repeat(47));
        assert_eq!(char_count(&at_most), EMAIL_MAX_LENGTH);
        assert_eq!(Email::parse(&at_most).map(Email::into_inner), Ok(at_most));
        let over = format!("{}@{}.example", "a".repeat(64), "b".repeat(48));
        assert_eq!(
            Email::parse(&over),
            Err(format!(
                "must be at most {EMAIL_MAX_LENGTH} characters long"
            ))
        );
    }

    #[test]
    fn the_length_limit_is_on_the_stored_form() {
        // 119 characters as sent, more than 120 once lower-cased ('İ' becomes two).
        let growing = format!("{}@example.com", "İ".repeat(53));
        assert!(char_count(&growing) <= 120);
        assert!(Email::parse(&growing).is_err());
        for n in 0..60 {
            let raw = format!("{}@example.com", "İ".repeat(n));
            if let Ok(email) = Email::parse(&raw) {
                assert!(char_count(email.as_str()) <= EMAIL_MAX_LENGTH);
            }
        }
    }
}
