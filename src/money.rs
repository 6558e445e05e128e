//! Money: exact, in cents, never a float. Accepted as a JSON number or a decimal string with
//! at most two decimals, judged by its decimal text (so `19.999` and `0.30000000000000004`
//! are refused rather than rounded); stored as an integer number of cents; shown as a
//! string with exactly two decimals.

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::validation::{FieldValue, ParseContext, QueryValue};

/// 1,000,000,000.00 in cents: the largest price.
pub const MAX_CENTS: i64 = 100_000_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Money(i64);

const MESSAGE: &str = "must be a number from 0 to 1000000000 with at most 2 decimals";

impl Money {
    pub fn from_cents(cents: i64) -> Self {
        Money(cents)
    }

    pub fn cents(self) -> i64 {
        self.0
    }

    /// From a request body: a JSON number (judged by its decimal text, exponent allowed)
    /// or a decimal string (no exponent).
    pub fn parse_json(value: &Value) -> Result<Self, String> {
        match value {
            Value::Number(number) => Self::parse_text(&number.to_string(), true),
            Value::String(text) => Self::parse_text(text, false),
            _ => Err(MESSAGE.into()),
        }
    }

    /// From a query parameter such as `min_price=10.5`.
    pub fn parse_str(text: &str) -> Result<Self, String> {
        Self::parse_text(text, false)
    }

    fn parse_text(text: &str, allow_exponent: bool) -> Result<Self, String> {
        let err = || MESSAGE.to_owned();
        let (mantissa, exponent) = match text.find(['e', 'E']) {
            Some(at) if allow_exponent => {
                let exponent: i32 = text[at + 1..].parse().map_err(|_| err())?;
                (&text[..at], exponent)
            }
            Some(_) => return Err(err()),
            None => (text, 0),
        };
        if let Some(magnitude) = mantissa.strip_prefix('-') {
            // Zero written as "-0" is still zero; anything else negative is out of range.
            if !magnitude.is_empty() && magnitude.bytes().all(|b| b == b'0' || b == b'.') {
                return Self::parse_text(magnitude, false).map(|_| Money(0));
            }
            return Err(err());
        }
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
            || (mantissa.contains('.') && fraction.is_empty())
        {
            return Err(err());
        }
        // Decimals as written: "12.500" has three (so it is refused, like "19.999"); an
        // exponent moves the point ("1.5e1" has none, "1e-3" has three).
        let decimals = fraction.len() as i64 - i64::from(exponent);
        if decimals > 2 {
            return Err(err());
        }
        // value = digits × 10^-decimals, so cents = digits × 10^(2 - decimals).
        let digits = format!("{whole}{fraction}");
        let digits = digits.trim_start_matches('0');
        if digits.is_empty() {
            return Ok(Money(0));
        }
        let cents_scale = 2 - decimals;
        if digits.len() as i64 + cents_scale > 12 {
            return Err(err());
        }
        let cents = digits.parse::<i64>().map_err(|_| err())? * 10i64.pow(cents_scale as u32);
        if cents > MAX_CENTS {
            return Err(err());
        }
        Ok(Money(cents))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl FieldValue for Money {
    fn from_json(value: &Value, _: &ParseContext) -> Result<Self, String> {
        Money::parse_json(value)
    }
}

/// In a query string (`?min_price=10.5`): the decimal-string form only.
impl QueryValue for Money {
    fn from_query(raw: &str) -> Result<Self, String> {
        Money::parse_str(raw)
    }

    fn query_schema() -> RefOr<Schema> {
        decimal_text_schema().into()
    }
}

/// A price as a decimal string with at most two decimals, from 0 to 1,000,000,000.
fn decimal_text_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(r"^0*([0-9]{1,9}(\.[0-9]{1,2})?|1000000000(\.00?)?)$"))
        .examples(["19.99"])
}

impl PartialSchema for Money {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(decimal_text_schema())
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .minimum(Some(0))
                    .maximum(Some(MAX_CENTS / 100)),
            )
            .description(Some(
                "A price from 0 to 1,000,000,000.00: a JSON number or a decimal string with at \
                 most two decimals, judged by its decimal text (`19.999`, `1e3` as a string \
                 refused)",
            ))
            .into()
    }
}

impl ToSchema for Money {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Price")
    }
}

impl serde::Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cents(value: Value) -> Result<i64, String> {
        Money::parse_json(&value).map(Money::cents)
    }

    #[test]
    fn accepted_values_are_exact() {
        assert_eq!(cents(json!(0)), Ok(0));
        assert_eq!(cents(json!(0.1)), Ok(10));
        assert_eq!(cents(json!(19.99)), Ok(1999));
        assert_eq!(cents(json!(1e3)), Ok(100_000));
        assert_eq!(cents(json!(1.5e2)), Ok(15_000));
        assert_eq!(cents(json!("12.5")), Ok(1250));
        assert_eq!(cents(json!("12.50")), Ok(1250));
        assert_eq!(cents(json!("007")), Ok(700));
        assert_eq!(cents(json!(1_000_000_000)), Ok(MAX_CENTS));
        assert_eq!(cents(json!("1000000000.00")), Ok(MAX_CENTS));
        assert_eq!(cents(json!(-0.0)), Ok(0));
        assert_eq!(cents(json!("0.10")), Ok(10));
        assert_eq!(cents(json!("0000000001.23")), Ok(123));
        assert_eq!(Money::from_cents(1250).to_string(), "12.50");
        assert_eq!(Money::from_cents(5).to_string(), "0.05");
    }

    #[test]
    fn refused_values() {
        for bad in [
            json!(19.999),
            json!(0.30000000000000004),
            json!(-1),
            json!(-0.01),
            json!(1_000_000_000.01),
            json!(1e10),
            json!(1e300),
            json!(u64::MAX),
            json!("1e3"),
            json!("12.345"),
            json!("abc"),
            json!(""),
            json!(" 12"),
            json!("12."),
            json!(".5"),
            json!("+5"),
            json!("1,5"),
            json!("NaN"),
            json!("Infinity"),
            json!(null),
            json!(true),
            json!([1]),
            json!({"amount": 1}),
            json!("99999999999999999999999999999"),
            json!("12.500"),
            json!("0.1000000000000000000000000"),
        ] {
            assert!(cents(bad.clone()).is_err(), "{bad}");
        }
        // Number literals judged by their text, not by the float they round to.
        for literal in [
            "1000000000.00000001",
            "999999999.999999999999",
            "19.990000000000000000001",
            "0.1000000000000000001",
            "1e-400",
            "1e400",
            "12.500",
            "-1e400",
        ] {
            let value: Value = serde_json::from_str(literal).unwrap();
            assert!(cents(value).is_err(), "{literal}");
        }
        for (literal, expected) in [
            ("1.5e1", 1500),
            ("12.5", 1250),
            ("-0", 0),
            ("1e3", 100_000),
            ("0.00", 0),
        ] {
            let value: Value = serde_json::from_str(literal).unwrap();
            assert_eq!(cents(value), Ok(expected), "{literal}");
        }
        assert!(cents(json!(null)).is_err());
    }
}
