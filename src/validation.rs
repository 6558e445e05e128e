//! Reading a JSON object body field by field, so that every bad field is reported at once
//! (missing, wrong type, NUL, too long, bad format) and fields the endpoint does not take
//! are refused. Typed deserialisation would stop at the first error; this does not.

use serde_json::{Map, Value};

use crate::error::{ApiError, FieldErrors};

pub struct FieldReader {
    body: Map<String, Value>,
    taken: Vec<&'static str>,
    errors: FieldErrors,
}

impl FieldReader {
    pub fn new(body: Map<String, Value>) -> Self {
        FieldReader {
            body,
            taken: Vec::new(),
            errors: FieldErrors::new(),
        }
    }

    /// A string field that must be present, checked by `parse`.
    pub fn required<T>(
        &mut self,
        field: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        self.taken.push(field);
        match self.body.get(field) {
            None => {
                self.add(field, "is required");
                None
            }
            Some(value) => self.parse_string(field, value.clone(), parse),
        }
    }

    /// A string field that may be absent (`None`); present, it must be valid.
    pub fn optional<T>(
        &mut self,
        field: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        self.taken.push(field);
        let value = self.body.get(field)?.clone();
        self.parse_string(field, value, parse)
    }

    /// A field of any JSON type that must be present, checked by `parse` (strings in it have
    /// already been checked for NUL).
    pub fn required_value<T>(
        &mut self,
        field: &'static str,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        self.taken.push(field);
        match self.body.get(field).cloned() {
            None => {
                self.add(field, "is required");
                None
            }
            Some(value) => self.parse_value(field, &value, parse),
        }
    }

    /// A field of any JSON type that may be absent.
    pub fn optional_value<T>(
        &mut self,
        field: &'static str,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        self.taken.push(field);
        let value = self.body.get(field)?.clone();
        self.parse_value(field, &value, parse)
    }

    fn parse_value<T>(
        &mut self,
        field: &'static str,
        value: &Value,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        if matches!(value, Value::String(text) if text.contains('\0')) {
            self.add(field, "must not contain NUL characters");
            return None;
        }
        match parse(value) {
            Ok(parsed) => Some(parsed),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.errors
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }

    /// Ends the reading: fields neither taken nor listed in `ignored` (read-only fields of the
    /// resource) are refused, and any error found so far is returned.
    pub fn finish(mut self, ignored: &[&str]) -> Result<(), ApiError> {
        let unknown: Vec<String> = self
            .body
            .keys()
            .filter(|k| !self.taken.contains(&k.as_str()) && !ignored.contains(&k.as_str()))
            .cloned()
            .collect();
        for field in unknown {
            let shown: String = field.chars().take(64).collect();
            self.add(&shown, "is not a field this endpoint takes");
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }

    fn parse_string<T>(
        &mut self,
        field: &'static str,
        value: Value,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let Value::String(text) = value else {
            self.add(field, "must be a string");
            return None;
        };
        if text.contains('\0') {
            self.add(field, "must not contain NUL characters");
            return None;
        }
        match parse(&text) {
            Ok(parsed) => Some(parsed),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }
}

/// For values `finish` has already vouched for: an absent one here is a bug, reported as a
/// 500 rather than a panic.
pub fn checked<T>(value: Option<T>) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("validated field missing")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reader(value: Value) -> FieldReader {
        FieldReader::new(value.as_object().unwrap().clone())
    }

    #[test]
    fn reports_every_bad_field_at_once() {
        let mut r = reader(json!({"a": 1, "b": "x\u{0}y", "extra": true, "id": 5}));
        r.required("a", |s| Ok(s.to_owned()));
        r.required("b", |s| Ok(s.to_owned()));
        r.required("c", |s| Ok(s.to_owned()));
        let Err(ApiError::Validation(fields)) = r.finish(&["id"]) else {
            panic!()
        };
        assert_eq!(fields["a"], vec!["must be a string"]);
        assert_eq!(fields["b"], vec!["must not contain NUL characters"]);
        assert_eq!(fields["c"], vec!["is required"]);
        assert_eq!(fields["extra"], vec!["is not a field this endpoint takes"]);
        assert!(!fields.contains_key("id"));
    }

    #[test]
    fn null_is_a_wrong_type() {
        let mut r = reader(json!({"a": null}));
        assert!(r.optional("a", |s| Ok(s.to_owned())).is_none());
        assert!(r.finish(&[]).is_err());
    }
}
