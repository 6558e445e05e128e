//! What `/products` sends and takes.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::model as product;
use super::queries::{NewProduct, ProductChanges};
use crate::error::ApiError;
use crate::money::Money;
use crate::validation::{FieldReader, checked};

pub const NAME_MAX_LENGTH: usize = 200;
pub const DESCRIPTION_MAX_LENGTH: usize = 10_000;
pub const SKU_MAX_LENGTH: usize = 64;
/// The largest stock: 2^53 - 1, the largest integer every JSON client reads exactly.
pub const STOCK_MAX: i64 = 9_007_199_254_740_991;

pub const READ_ONLY_FIELDS: &[&str] = &["id", "created_at", "updated_at"];

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProductResponse {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// Exactly two decimals.
    #[schema(value_type = String, pattern = r"^[0-9]+\.[0-9]{2}$", example = "19.99")]
    pub price: Money,
    pub sku: Option<String>,
    pub stock: i64,
    #[serde(serialize_with = "crate::time::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-05-28T10:15:30.123Z")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-05-28T10:15:30.123Z")]
    pub updated_at: DateTime<Utc>,
}

/// A page of products, as `GET /products` sends it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ProductsPage {
    pub products: Vec<ProductResponse>,
    pub total: u64,
    pub page: u64,
    /// `ceil(total / limit)`: `0` when nothing matches.
    pub pages: u64,
}

impl From<product::Model> for ProductResponse {
    fn from(p: product::Model) -> Self {
        ProductResponse {
            id: p.id,
            name: p.name,
            description: p.description,
            price: Money::from_cents(p.price_cents),
            sku: p.sku,
            stock: p.stock,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

fn parse_name(raw: &str) -> Result<String, String> {
    if raw.trim().is_empty() {
        return Err("must not be blank".into());
    }
    if raw.chars().count() > NAME_MAX_LENGTH {
        return Err(format!("must be at most {NAME_MAX_LENGTH} characters long"));
    }
    Ok(raw.to_owned())
}

fn parse_description(raw: &str) -> Result<String, String> {
    if raw.chars().count() > DESCRIPTION_MAX_LENGTH {
        return Err(format!(
            "must be at most {DESCRIPTION_MAX_LENGTH} characters long"
        ));
    }
    Ok(raw.to_owned())
}

/// `sku`: 1–64 of letters, digits, `-`, `_`; `null` means none.
fn parse_sku(value: &Value) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(raw) => {
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
            Ok(Some(raw.clone()))
        }
        _ => Err("must be a string or null".into()),
    }
}

/// `stock`: a whole number, 0 or more (a JSON integer: `3.0` and `"3"` are refused).
fn parse_stock(value: &Value) -> Result<i64, String> {
    match value.as_i64() {
        Some(n) if (0..=STOCK_MAX).contains(&n) => Ok(n),
        Some(_) => Err(format!("must be an integer from 0 to {STOCK_MAX}")),
        None if value.as_u64().is_some() => {
            Err(format!("must be an integer from 0 to {STOCK_MAX}"))
        }
        None => Err("must be an integer".into()),
    }
}

pub fn parse_new_product(body: Map<String, Value>) -> Result<NewProduct, ApiError> {
    let mut reader = FieldReader::new(body);
    let name = reader.required("name", parse_name);
    let description = reader.optional("description", parse_description);
    let price = reader.required_value("price", Money::parse_json);
    let sku = reader.optional_value("sku", parse_sku);
    let stock = reader.optional_value("stock", parse_stock);
    reader.finish(READ_ONLY_FIELDS)?;
    Ok(NewProduct {
        name: checked(name)?,
        description: description.unwrap_or_default(),
        price: checked(price)?,
        sku: sku.flatten(),
        stock: stock.unwrap_or(0),
    })
}

pub fn parse_product_changes(body: Map<String, Value>) -> Result<ProductChanges, ApiError> {
    let mut reader = FieldReader::new(body);
    let changes = ProductChanges {
        name: reader.optional("name", parse_name),
        description: reader.optional("description", parse_description),
        price: reader.optional_value("price", Money::parse_json),
        sku: reader.optional_value("sku", parse_sku),
        stock: reader.optional_value("stock", parse_stock),
    };
    reader.finish(READ_ONLY_FIELDS)?;
    Ok(changes)
}
