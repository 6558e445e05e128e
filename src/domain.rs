//! Domain values that are valid by construction: each has a `parse` that returns the value
//! or the message a client sees in `fields`.

use std::fmt;

pub const USERNAME_MIN_LENGTH: usize = 3;
pub const USERNAME_MAX_LENGTH: usize = 80;
pub const EMAIL_MAX_LENGTH: usize = 120;
pub const PASSWORD_MAX_LENGTH: usize = 1024;

/// 3–80 of ASCII letters, digits, `_`, `.`, `-`. Unique case-insensitively: `key()` is the
/// lower-cased form the database's unique index is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let length = raw.chars().count();
        if !(USERNAME_MIN_LENGTH..=USERNAME_MAX_LENGTH).contains(&length) {
            return Err(format!(
                "must be {USERNAME_MIN_LENGTH} to {USERNAME_MAX_LENGTH} characters long"
            ));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err("may contain only letters, digits, '_', '.' and '-'".into());
        }
        Ok(Username(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// A valid address of at most 120 characters, stored lower-cased so that uniqueness and
/// login are case-insensitive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        // Lower-cased first: lower-casing can lengthen a string ('İ' becomes two
        // characters), and the stored form is what must fit.
        let email = raw.trim().to_lowercase();
        if email.chars().count() > EMAIL_MAX_LENGTH {
            return Err(format!(
                "must be at most {EMAIL_MAX_LENGTH} characters long"
            ));
        }
        let local = email.rsplit_once('@').map_or("", |(local, _)| local);
        if email
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || is_invisible(c))
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
            || !validator::ValidateEmail::validate_email(&email)
        {
            return Err("must be a valid email address".into());
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

/// Characters that render as nothing (format characters, joiners, variation selectors,
/// tags). In an address they only serve to make a look-alike of another account's.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// A password that meets the length rules. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str, min_length: usize) -> Result<Self, String> {
        let length = raw.chars().count();
        if length < min_length {
            return Err(format!("must be at least {min_length} characters long"));
        }
        if length > PASSWORD_MAX_LENGTH {
            return Err(format!(
                "must be at most {PASSWORD_MAX_LENGTH} characters long"
            ));
        }
        Ok(Password(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

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
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse("Alice@Example.COM").unwrap().as_str(),
            "alice@example.com"
        );
        assert!(Email::parse("not-an-email").is_err());
        assert!(Email::parse("").is_err());
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
        ] {
            assert!(Email::parse(lookalike).is_err(), "{lookalike:?}");
        }
        assert!(Email::parse("a.b+tag@example.com").is_ok());
        let long = format!("{}@example.com", "a".repeat(120));
        assert!(Email::parse(&long).is_err());
        // 115 characters as sent, more than 120 once lower-cased.
        let growing = format!("a@{}com", "İİİİİİİİİ.".repeat(11));
        assert!(growing.chars().count() <= 120);
        assert!(
            Email::parse(&growing)
                .map(|e| e.as_str().chars().count() <= 120)
                .unwrap_or(true)
        );
    }

    #[test]
    fn passwords() {
        assert!(Password::parse("1234567", 8).is_err());
        assert!(Password::parse("12345678", 8).is_ok());
        assert!(
            Password::parse("ééééééé", 8).is_err(),
            "length counts characters"
        );
        assert!(Password::parse(&"x".repeat(1025), 8).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("hunter22", 8).unwrap()),
            "Password(<redacted>)"
        );
    }
}
