//! What `/products` sends and takes.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::domain::{Description, ProductName, ProductSort, Sku, Stock};
use super::model as product;
use crate::money::Money;
use crate::pagination::{PageLimit, PageNumber, SearchTerm};
use crate::validation::Nullable;

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

crate::json_body! {
    /// `POST /products`.
    pub struct NewProductRequest {
        pub name: ProductName,
        /// Default `""`.
        pub description: Option<Description>,
        pub price: Money,
        /// Unique; `null` or absent for none.
        pub sku: Option<Nullable<Sku>>,
        /// Default 0.
        pub stock: Option<Stock>,
    }
    ignores: READ_ONLY_FIELDS;
}

crate::json_body! {
    /// `PUT`/`PATCH /products/{id}`: any of the fields.
    pub struct ProductUpdateRequest {
        pub name: Option<ProductName>,
        pub description: Option<Description>,
        pub price: Option<Money>,
        /// `null` clears it.
        pub sku: Option<Nullable<Sku>>,
        pub stock: Option<Stock>,
    }
    ignores: READ_ONLY_FIELDS;
}

crate::query_params! {
    /// `GET /products`.
    pub struct ProductListQuery {
        /// Page number, from 1 (default 1)
        pub page: PageNumber,
        /// Items per page, 1–100 (default 20)
        pub limit: PageLimit,
        /// Case-insensitive substring of the name; `%` and `_` are literal
        pub q: SearchTerm,
        /// Inclusive lower bound, at most two decimals
        pub min_price: Money,
        /// Inclusive upper bound, at most two decimals
        pub max_price: Money,
        /// The order; ties by id, descending
        pub sort: ProductSort,
    }
}
