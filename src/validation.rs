//! Request bodies and query strings read into typed values, every bad field reported at
//! once (typed deserialisation would stop at the first error).
//!
//! A request type is declared once, with `json_body!` or `query_params!`: its fields' types
//! are the domain's newtypes, which know how to parse themselves (`FieldValue`,
//! `QueryValue`) and how to describe themselves in the OpenAPI document. The macro writes
//! the struct, its parser and its schema from that one declaration, so the document and the
//! server cannot disagree about a rule.

use std::borrow::Cow;

use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{Ref, RefOr};

use crate::error::{ApiError, FieldErrors};

/// What parsing may depend on besides the input: the configured rules.
#[derive(Clone, Copy, Debug)]
pub struct ParseContext {
    pub password_min_length: usize,
}

/// A value one field of a JSON body can hold: parsed from the JSON value and described by
/// its named schema (a component of the OpenAPI document).
pub trait FieldValue: Sized + ToSchema {
    fn from_json(value: &Value, cx: &ParseContext) -> Result<Self, String>;
}

/// How a field's presence is judged: a `T` must be present, an `Option<T>` may be absent.
/// Present, it must be valid: `null` is a wrong type unless the value itself takes it.
pub trait BodyField: Sized {
    type Value: FieldValue;
    const REQUIRED: bool;
    fn read(value: Option<&Value>, cx: &ParseContext) -> Result<Self, String>;
}

impl<T: FieldValue> BodyField for T {
    type Value = T;
    const REQUIRED: bool = true;
    fn read(value: Option<&Value>, cx: &ParseContext) -> Result<Self, String> {
        match value {
            None => Err("is required".into()),
            Some(value) => T::from_json(value, cx),
        }
    }
}

impl<T: FieldValue> BodyField for Option<T> {
    type Value = T;
    const REQUIRED: bool = false;
    fn read(value: Option<&Value>, cx: &ParseContext) -> Result<Self, String> {
        value.map(|value| T::from_json(value, cx)).transpose()
    }
}

/// A JSON string without U+0000, or the message for what was sent instead.
pub fn json_string(value: &Value) -> Result<&str, String> {
    match value {
        Value::String(text) if text.contains('\0') => Err(NUL_MESSAGE.into()),
        Value::String(text) => Ok(text),
        _ => Err("must be a string".into()),
    }
}

pub const NUL_MESSAGE: &str = "must not contain NUL characters";

/// A field that takes `null` as a value of its own (`"sku": null` clears the sku).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Nullable<T> {
    Null,
    Value(T),
}

impl<T> Nullable<T> {
    pub fn into_option(self) -> Option<T> {
        match self {
            Nullable::Null => None,
            Nullable::Value(value) => Some(value),
        }
    }
}

impl<T: FieldValue> FieldValue for Nullable<T> {
    fn from_json(value: &Value, cx: &ParseContext) -> Result<Self, String> {
        match value {
            Value::Null => Ok(Nullable::Null),
            value => T::from_json(value, cx).map(Nullable::Value),
        }
    }
}

impl<T: ToSchema> utoipa::PartialSchema for Nullable<T> {
    fn schema() -> RefOr<Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(Ref::from_schema_name(T::name()))
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .into()
    }
}

impl<T: ToSchema> ToSchema for Nullable<T> {
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("Nullable{}", T::name()))
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(schemas);
    }
}

/// The schema of a text value: its length bounds (in characters), pattern and rules.
pub fn text_schema(
    description: impl Into<String>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    pattern: Option<String>,
) -> RefOr<Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description.into()))
        .min_length(min_length)
        .max_length(max_length)
        .pattern(pattern)
        .into()
}

/// Text of 1 to `max_length` characters that is not blank (see `text::is_blank`).
pub fn parse_not_blank(raw: &str, max_length: usize) -> Result<String, String> {
    if crate::text::is_blank(raw) {
        return Err("must not be blank".into());
    }
    parse_at_most(raw, max_length)
}

/// Text of at most `max_length` characters.
pub fn parse_at_most(raw: &str, max_length: usize) -> Result<String, String> {
    if crate::text::char_count(raw) > max_length {
        return Err(format!("must be at most {max_length} characters long"));
    }
    Ok(raw.to_owned())
}

/// The schema of `parse_not_blank`'s values.
pub fn not_blank_schema(max_length: usize) -> RefOr<Schema> {
    text_schema(
        format!(
            "1 to {max_length} characters, not only white space or invisible characters, no U+0000"
        ),
        Some(1),
        Some(max_length),
        Some(crate::text::not_blank_pattern()),
    )
}

/// The schema of `parse_at_most`'s values.
pub fn at_most_schema(max_length: usize) -> RefOr<Schema> {
    text_schema(
        format!("At most {max_length} characters, no U+0000"),
        None,
        Some(max_length),
        Some(crate::text::NO_NUL_PATTERN.into()),
    )
}

/// Any text without U+0000: what login takes for an email and a password (a malformed
/// address is simply one no account has).
#[derive(Clone)]
pub struct AnyText(String);

impl AnyText {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// Never shows the text: it may be a password.
impl std::fmt::Debug for AnyText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnyText(<redacted>)")
    }
}

impl FieldValue for AnyText {
    fn from_json(value: &Value, _: &ParseContext) -> Result<Self, String> {
        json_string(value).map(|text| AnyText(text.to_owned()))
    }
}

impl utoipa::PartialSchema for AnyText {
    fn schema() -> RefOr<Schema> {
        text_schema(
            "Any text without U+0000",
            None,
            None,
            Some(crate::text::NO_NUL_PATTERN.into()),
        )
    }
}

impl ToSchema for AnyText {}

/// A request body type: parses a JSON object, reporting every bad field at once.
pub trait FromJsonObject: Sized {
    fn from_object(body: Map<String, Value>, cx: &ParseContext) -> Result<Self, ApiError>;
}

/// Field errors collected while reading a body or a query string.
#[derive(Default)]
pub struct FieldReport(FieldErrors);

impl FieldReport {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }

    /// Notes `result`'s error under `field`; the value, if it was valid.
    pub fn take<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|message| self.add(field, message)).ok()
    }

    /// Fields of `body` that are neither `taken` nor `ignored` are refused.
    pub fn refuse_unknown(&mut self, body: &Map<String, Value>, taken: &[&str], ignored: &[&str]) {
        for field in body.keys() {
            if !taken.contains(&field.as_str()) && !ignored.contains(&field.as_str()) {
                let shown: String = field.chars().take(64).collect();
                self.add(&shown, "is not a field this endpoint takes");
            }
        }
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

/// The schema of one body field: its value's named schema, described by the field's doc.
pub fn field_schema<F: BodyField>(description: &str) -> RefOr<Schema> {
    let mut reference = Ref::from_schema_name(F::Value::name());
    reference.description = description.trim().to_owned();
    RefOr::Ref(reference)
}

/// The schema of a read-only field a body may carry back: accepted, ignored.
pub fn ignored_field_schema() -> RefOr<Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType};
    ObjectBuilder::new()
        .schema_type(SchemaType::AnyValue)
        .description(Some("Read-only: ignored in writes"))
        .read_only(true)
        .into()
}

/// Declares a JSON request body: the struct, `FromJsonObject` and its OpenAPI schema.
/// Field types are `T: FieldValue` (required) or `Option<T>` (may be absent); `ignores`
/// names the read-only fields of the resource, which a client may send back.
#[macro_export]
macro_rules! json_body {
    (
        $(#[doc = $doc:literal])*
        pub struct $name:ident {
            $( $(#[doc = $field_doc:literal])* pub $field:ident : $ty:ty ),* $(,)?
        }
        ignores: $ignored:expr;
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug)]
        pub struct $name {
            $( $(#[doc = $field_doc])* pub $field: $ty ),*
        }

        impl $crate::validation::FromJsonObject for $name {
            fn from_object(
                body: ::serde_json::Map<String, ::serde_json::Value>,
                cx: &$crate::validation::ParseContext,
            ) -> Result<Self, $crate::error::ApiError> {
                let mut report = $crate::validation::FieldReport::default();
                $(
                    let $field = report.take(
                        stringify!($field),
                        <$ty as $crate::validation::BodyField>::read(body.get(stringify!($field)), cx),
                    );
                )*
                let ignored: &[&str] = $ignored;
                report.refuse_unknown(&body, &[$(stringify!($field)),*], ignored);
                report.finish()?;
                match ($($field,)*) {
                    ($(Some($field),)*) => Ok($name { $($field),* }),
                    // `finish` has vouched for every field.
                    _ => Err($crate::error::ApiError::Internal(::anyhow::anyhow!(
                        "validated field missing"
                    ))),
                }
            }
        }

        impl ::utoipa::PartialSchema for $name {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                use ::utoipa::openapi::schema::{ObjectBuilder, Type, AdditionalProperties};
                let mut object = ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .description(Some(concat!($($doc, "\n"),*).trim()));
                $(
                    object = object.property(
                        stringify!($field),
                        $crate::validation::field_schema::<$ty>(concat!($($field_doc, "\n"),*)),
                    );
                    if <$ty as $crate::validation::BodyField>::REQUIRED {
                        object = object.required(stringify!($field));
                    }
                )*
                let ignored: &[&str] = $ignored;
                for ignored in ignored {
                    object = object.property(*ignored, $crate::validation::ignored_field_schema());
                }
                object
                    .additional_properties(Some(AdditionalProperties::FreeForm(false)))
                    .into()
            }
        }

        impl ::utoipa::ToSchema for $name {
            fn name() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed(stringify!($name))
            }

            fn schemas(
                schemas: &mut Vec<(String, ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema>)>,
            ) {
                $({
                    type Value = <$ty as $crate::validation::BodyField>::Value;
                    schemas.push((
                        <Value as ::utoipa::ToSchema>::name().into_owned(),
                        <Value as ::utoipa::PartialSchema>::schema(),
                    ));
                    <Value as ::utoipa::ToSchema>::schemas(schemas);
                })*
            }
        }
    };
}

/// A value one query parameter can hold.
pub trait QueryValue: Sized {
    fn from_query(raw: &str) -> Result<Self, String>;
    /// The parameter's schema (inline: parameters are not components).
    fn query_schema() -> RefOr<Schema>;
}

/// The query string's parameters. A name given twice counts once: its first value.
pub struct QueryString(Vec<(String, String)>);

impl QueryString {
    pub fn parse(query: &str) -> Self {
        QueryString(
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A query-string type: every parameter optional, every bad one reported at once.
/// Parameters it does not know are ignored (as the tutorial's Flask app does).
pub trait FromQueryString: Sized {
    fn from_query_string(query: &QueryString) -> Result<Self, ApiError>;
}

/// A query parameter's documentation.
pub fn query_parameter(
    name: &str,
    description: &str,
    schema: RefOr<Schema>,
) -> utoipa::openapi::path::Parameter {
    use utoipa::openapi::Required;
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description.trim()))
        .schema(Some(schema))
        .build()
}

/// Declares a query string: the struct (every field an `Option`), `FromQueryString` and
/// `IntoParams`.
#[macro_export]
macro_rules! query_params {
    (
        $(#[doc = $doc:literal])*
        pub struct $name:ident {
            $( $(#[doc = $field_doc:literal])* pub $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Default)]
        pub struct $name {
            $( $(#[doc = $field_doc])* pub $field: Option<$ty> ),*
        }

        impl $crate::validation::FromQueryString for $name {
            fn from_query_string(
                query: &$crate::validation::QueryString,
            ) -> Result<Self, $crate::error::ApiError> {
                let mut report = $crate::validation::FieldReport::default();
                let parsed = $name {
                    $(
                        $field: query.get(stringify!($field)).and_then(|raw| {
                            report.take(
                                stringify!($field),
                                <$ty as $crate::validation::QueryValue>::from_query(raw),
                            )
                        }),
                    )*
                };
                report.finish()?;
                Ok(parsed)
            }
        }

        impl ::utoipa::IntoParams for $name {
            fn into_params(
                _: impl Fn() -> Option<::utoipa::openapi::path::ParameterIn>,
            ) -> Vec<::utoipa::openapi::path::Parameter> {
                vec![$(
                    $crate::validation::query_parameter(
                        stringify!($field),
                        concat!($($field_doc, "\n"),*),
                        <$ty as $crate::validation::QueryValue>::query_schema(),
                    )
                ),*]
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use utoipa::openapi::schema::{ObjectBuilder, Type};

    /// A test value: any string but "bad".
    #[derive(Debug, PartialEq)]
    pub struct Word(String);

    impl FieldValue for Word {
        fn from_json(value: &Value, _: &ParseContext) -> Result<Self, String> {
            match json_string(value)? {
                "bad" => Err("is bad".into()),
                word => Ok(Word(word.to_owned())),
            }
        }
    }

    impl utoipa::PartialSchema for Word {
        fn schema() -> RefOr<Schema> {
            ObjectBuilder::new().schema_type(Type::String).into()
        }
    }

    impl ToSchema for Word {}

    crate::json_body! {
        /// A test body.
        pub struct TestBody {
            pub a: Word,
            pub b: Word,
            pub c: Word,
            pub d: Option<Word>,
            pub e: Option<Nullable<Word>>,
        }
        ignores: &["id"];
    }

    const CX: ParseContext = ParseContext {
        password_min_length: 8,
    };

    fn parse(value: Value) -> Result<TestBody, ApiError> {
        TestBody::from_object(value.as_object().unwrap().clone(), &CX)
    }

    #[test]
    fn reports_every_bad_field_at_once() {
        let Err(ApiError::Validation(fields)) =
            parse(json!({"a": 1, "b": "x\u{0}y", "extra": true, "id": 5, "d": "bad"}))
        else {
            panic!()
        };
        assert_eq!(fields["a"], vec!["must be a string"]);
        assert_eq!(fields["b"], vec![NUL_MESSAGE]);
        assert_eq!(fields["c"], vec!["is required"]);
        assert_eq!(fields["d"], vec!["is bad"]);
        assert_eq!(fields["extra"], vec!["is not a field this endpoint takes"]);
        assert!(!fields.contains_key("id"));
    }

    #[test]
    fn optional_fields_may_be_absent_but_not_null() {
        let body = parse(json!({"a": "x", "b": "y", "c": "z", "e": null})).unwrap();
        assert_eq!(
            (body.a, body.b, body.c),
            (Word("x".into()), Word("y".into()), Word("z".into()))
        );
        assert!(body.d.is_none());
        assert_eq!(body.e, Some(Nullable::Null));
        let Err(ApiError::Validation(fields)) =
            parse(json!({"a": "x", "b": "y", "c": "z", "d": null}))
        else {
            panic!()
        };
        assert_eq!(fields["d"], vec!["must be a string"]);
    }

    #[test]
    fn a_query_parameter_is_its_first_value_decoded() {
        let query = QueryString::parse("q=desk%20lamp&page=2&q=other&empty=");
        assert_eq!(query.get("q"), Some("desk lamp"));
        assert_eq!(query.get("page"), Some("2"));
        assert_eq!(query.get("empty"), Some(""));
        assert_eq!(query.get("limit"), None);
    }

    #[test]
    fn null_clears_and_a_value_sets() {
        let body = parse(json!({"a": "x", "b": "y", "c": "z", "e": "w"})).unwrap();
        assert_eq!(body.e.unwrap().into_option(), Some(Word("w".into())));
        assert_eq!(Nullable::<Word>::Null.into_option(), None);
    }

    #[test]
    fn any_text_is_kept_as_sent_and_never_shown() {
        let text = AnyText::from_json(&json!(" p@ss word "), &CX).unwrap();
        assert_eq!(text.as_str(), " p@ss word ");
        assert_eq!(format!("{text:?}"), "AnyText(<redacted>)");
        assert!(AnyText::from_json(&json!("a\u{0}b"), &CX).is_err());
    }

    #[test]
    fn the_schema_is_the_declaration() {
        let schema = serde_json::to_value(<TestBody as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(schema["required"], json!(["a", "b", "c"]));
        assert_eq!(schema["additionalProperties"], json!(false));
        assert_eq!(schema["properties"]["id"]["readOnly"], json!(true));
        assert_eq!(
            schema["properties"]["a"]["$ref"],
            json!("#/components/schemas/Word")
        );
    }
}
