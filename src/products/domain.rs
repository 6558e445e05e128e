//! A product's constrained values, valid by construction. The price is `crate::money::Money`.

use serde_json::Value;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::text::fold_case;
use crate::validation::{
    FieldValue, ParseContext, QueryValue, at_most_schema, json_string, not_blank_schema,
    parse_at_most, parse_not_blank, text_schema,
};

pub const NAME_MAX_LENGTH: usize = 200;
pub const DESCRIPTION_MAX_LENGTH: usize = 10_000;
pub const SKU_MAX_LENGTH: usize = 64;
/// The largest stock: 2^53 - 1, the largest integer every JSON client reads exactly.
pub const STOCK_MAX: i64 = 9_007_199_254_740_991;

/// 1–200 characters, not blank.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductName(String);

impl ProductName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        parse_not_blank(raw, NAME_MAX_LENGTH).map(ProductName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded name: `?q=` and the name sort use it.
    pub fn key(&self) -> String {
        fold_case(&self.0)
    }
}

impl FieldValue for ProductName {
    fn from_json(value: &Value, _: &ParseContext) -> Result<Self, String> {
        ProductName::parse(json_string(value)?)
    }
}

impl PartialSchema for ProductName {
    fn schema() -> RefOr<Schema> {
        not_blank_schema(NAME_MAX_LENGTH)
    }
}

impl ToSchema for ProductName {}

/// Up to 10,000 characters; may be empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub fn parse(raw: &str) -> Result<Self, String> {
        parse_at_most(raw, DESCRIPTION_MAX_LENGTH).map(Description)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FieldValue for Description {
    fn from_json(value: &Value, _: &ParseContext) -> Result<Self, String> {
        Description::parse(json_string(value)?)
    }
}

impl PartialSchema for Description {
    fn schema() -> RefOr<Schema> {
        at_most_schema(DESCRIPTION_MAX_LENGTH)
    }
}

impl ToSchema for Description {}

/// 1–64 of ASCII letters, digits, `-`, `_`; unique.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sku(String);

impl Sku {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let length = raw.chars().count();
        if !(1..=SKU_MAX_LENGTH).contains(&length) {
            return Err(format!("must be 1 to {SKU_MAX_LENGTH} characters long"));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err("may contain only letters, digits, '-' and '_'".into());
        }
        Ok(Sku(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FieldValue for Sku {
    fn from_json(value: &Value, _: &ParseContext) -> Result<Self, String> {
        match value {
            Value::String(_) => Sku::parse(json_string(value)?),
            _ => Err("must be a string or null".into()),
        }
    }
}

impl PartialSchema for Sku {
    fn schema() -> RefOr<Schema> {
        text_schema(
            format!("1–{SKU_MAX_LENGTH} of ASCII letters, digits, `-`, `_`; unique"),
            Some(1),
            Some(SKU_MAX_LENGTH),
            Some(format!("^[A-Za-z0-9_-]{{1,{SKU_MAX_LENGTH}}}$")),
        )
    }
}

impl ToSchema for Sku {}

/// A whole number of items, 0 to 2^53 - 1 (a JSON integer: `3.0` and `"3"` are refused).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stock(i64);

impl Stock {
    pub fn value(self) -> i64 {
        self.0
    }
}

impl FieldValue for Stock {
    fn from_json(value: &Value, _: &ParseContext) -> Result<Self, String> {
        match value.as_i64() {
            Some(n) if (0..=STOCK_MAX).contains(&n) => Ok(Stock(n)),
            Some(_) => Err(format!("must be an integer from 0 to {STOCK_MAX}")),
            None if value.as_u64().is_some() => {
                Err(format!("must be an integer from 0 to {STOCK_MAX}"))
            }
            None => Err("must be an integer".into()),
        }
    }
}

impl PartialSchema for Stock {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            .maximum(Some(STOCK_MAX))
            .description(Some("Items in stock, a whole number (default 0)"))
            .into()
    }
}

impl ToSchema for Stock {}

/// The order of `GET /products`; ties are always broken by id, descending.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProductSort {
    Name,
    NameDesc,
    Price,
    PriceDesc,
    CreatedAt,
    #[default]
    CreatedAtDesc,
}

impl ProductSort {
    const CHOICES: [(&'static str, ProductSort); 6] = [
        ("name", ProductSort::Name),
        ("-name", ProductSort::NameDesc),
        ("price", ProductSort::Price),
        ("-price", ProductSort::PriceDesc),
        ("created_at", ProductSort::CreatedAt),
        ("-created_at", ProductSort::CreatedAtDesc),
    ];

    fn names() -> Vec<&'static str> {
        Self::CHOICES.iter().map(|(name, _)| *name).collect()
    }
}

impl QueryValue for ProductSort {
    fn from_query(raw: &str) -> Result<Self, String> {
        Self::CHOICES
            .iter()
            .find(|(name, _)| *name == raw)
            .map(|(_, sort)| *sort)
            .ok_or_else(|| format!("must be one of {}", Self::names().join(", ")))
    }

    fn query_schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Self::names()))
            .default(Some("-created_at".into()))
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CX: ParseContext = ParseContext {
        password_min_length: 8,
    };

    #[test]
    fn names_and_descriptions() {
        assert!(ProductName::parse(&"İ".repeat(200)).is_ok());
        assert!(ProductName::parse(&"x".repeat(201)).is_err());
        assert!(ProductName::parse("\u{200B}").is_err());
        assert!(Description::parse("").is_ok());
        assert!(Description::parse(&"x".repeat(10_001)).is_err());
    }

    #[test]
    fn values_keep_what_was_sent() {
        let name = ProductName::from_json(&json!("Desk LAMP"), &CX).unwrap();
        assert_eq!(name.as_str(), "Desk LAMP");
        assert_eq!(name.key(), "desk lamp");
        let description = Description::from_json(&json!("Oak, 40 cm"), &CX).unwrap();
        assert_eq!(description.as_str(), "Oak, 40 cm");
        let sku = Sku::from_json(&json!("LAMP-01"), &CX).unwrap();
        assert_eq!(sku.as_str(), "LAMP-01");
        assert_eq!(Stock::from_json(&json!(3), &CX).unwrap().value(), 3);
    }

    #[test]
    fn skus() {
        assert!(Sku::parse("LAMP-01_a").is_ok());
        assert!(Sku::parse("").is_err());
        assert!(Sku::parse(&"x".repeat(65)).is_err());
        assert!(Sku::parse("lamp 01").is_err());
        assert!(Sku::from_json(&json!(5), &CX).is_err());
    }

    #[test]
    fn stock_is_a_json_integer() {
        assert_eq!(Stock::from_json(&json!(3), &CX), Ok(Stock(3)));
        assert_eq!(
            Stock::from_json(&json!(STOCK_MAX), &CX),
            Ok(Stock(STOCK_MAX))
        );
        for bad in [
            json!(-1),
            json!(3.0),
            json!("3"),
            json!(STOCK_MAX + 1),
            json!(u64::MAX),
        ] {
            assert!(Stock::from_json(&bad, &CX).is_err(), "{bad}");
        }
        // A number out of range says so; anything else is not an integer at all.
        let out_of_range = Err(format!("must be an integer from 0 to {STOCK_MAX}"));
        assert_eq!(Stock::from_json(&json!(u64::MAX), &CX), out_of_range);
        assert_eq!(Stock::from_json(&json!(-1), &CX), out_of_range);
        for not_an_integer in [json!(3.0), json!("3"), json!(null)] {
            assert_eq!(
                Stock::from_json(&not_an_integer, &CX),
                Err("must be an integer".into()),
                "{not_an_integer}"
            );
        }
    }

    #[test]
    fn sorts() {
        assert_eq!(
            ProductSort::from_query("-price"),
            Ok(ProductSort::PriceDesc)
        );
        let message = ProductSort::from_query("cost").unwrap_err();
        assert_eq!(
            message,
            "must be one of name, -name, price, -price, created_at, -created_at"
        );
    }
}
