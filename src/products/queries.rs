//! Every query on `products`.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::model::{self as product, Entity as Products};
use super::search_counts::{CountKey, SearchCounts};
use crate::money::Money;
use crate::pagination::{PageRequest, contains, fetch_page};

pub async fn find_by_id(db: &DatabaseConnection, id: i64) -> Result<Option<product::Model>, DbErr> {
    let row = crate::db::fetch_optional_by_id(
        db,
        "SELECT id, name, name_key, description, price_cents, sku, stock, created_at, updated_at \
         FROM products WHERE id = ?",
        id,
    )
    .await?;
    row.map(|row| product::Model::from_query_result(&row, ""))
        .transpose()
}

pub async fn find_by_id_for_update(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<product::Model>, DbErr> {
    Products::find_by_id(id).lock_exclusive().one(db).await
}

pub struct NewProduct {
    pub name: String,
    pub description: String,
    pub price: Money,
    pub sku: Option<String>,
    pub stock: i64,
}

/// A taken `sku` fails on the unique index (→ `409`).
pub async fn insert(db: &impl ConnectionTrait, new: NewProduct) -> Result<product::Model, DbErr> {
    let now = crate::time::now();
    product::ActiveModel {
        name_key: Set(new.name.to_lowercase()),
        name: Set(new.name),
        description: Set(new.description),
        price_cents: Set(new.price.cents()),
        sku: Set(new.sku),
        stock: Set(new.stock),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
}

#[derive(Default)]
pub struct ProductChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub price: Option<Money>,
    /// `Some(None)` clears the sku.
    pub sku: Option<Option<String>>,
    pub stock: Option<i64>,
}

pub async fn update(
    db: &impl ConnectionTrait,
    current: product::Model,
    changes: ProductChanges,
) -> Result<product::Model, DbErr> {
    let mut active: product::ActiveModel = current.clone().into();
    // Values equal to the stored ones are no change: `updated_at` (and the ETag) stay.
    let mut changed = false;
    if let Some(name) = changes.name.filter(|name| *name != current.name) {
        active.name_key = Set(name.to_lowercase());
        active.name = Set(name);
        changed = true;
    }
    if let Some(description) = changes
        .description
        .filter(|description| *description != current.description)
    {
        active.description = Set(description);
        changed = true;
    }
    if let Some(price) = changes
        .price
        .filter(|price| price.cents() != current.price_cents)
    {
        active.price_cents = Set(price.cents());
        changed = true;
    }
    if let Some(sku) = changes.sku.filter(|sku| *sku != current.sku) {
        active.sku = Set(sku);
        changed = true;
    }
    if let Some(stock) = changes.stock.filter(|stock| *stock != current.stock) {
        active.stock = Set(stock);
        changed = true;
    }
    if !changed {
        return Ok(current);
    }
    active.updated_at = Set(crate::time::now());
    active.update(db).await
}

pub async fn delete(db: &impl ConnectionTrait, id: i64) -> Result<bool, DbErr> {
    Ok(Products::delete_by_id(id).exec(db).await?.rows_affected > 0)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProductSort {
    Name,
    NameDesc,
    Price,
    PriceDesc,
    CreatedAt,
    CreatedAtDesc,
}

impl ProductSort {
    pub const CHOICES: &'static str = "name, -name, price, -price, created_at, -created_at";

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "name" => ProductSort::Name,
            "-name" => ProductSort::NameDesc,
            "price" => ProductSort::Price,
            "-price" => ProductSort::PriceDesc,
            "created_at" => ProductSort::CreatedAt,
            "-created_at" => ProductSort::CreatedAtDesc,
            _ => return None,
        })
    }
}

pub struct ProductFilter {
    pub search: Option<String>,
    pub min_price: Option<Money>,
    pub max_price: Option<Money>,
    pub sort: ProductSort,
}

/// One page of products in the requested order; ties are always broken by id, descending.
pub async fn list(
    db: &DatabaseConnection,
    counts: &SearchCounts,
    filter: &ProductFilter,
    page: PageRequest,
) -> Result<(Vec<product::Model>, u64), DbErr> {
    let mut query = Products::find();
    if let Some(term) = &filter.search {
        query = query.filter(contains(product::Column::NameKey, term));
    }
    if let Some(min) = filter.min_price {
        query = query.filter(product::Column::PriceCents.gte(min.cents()));
    }
    if let Some(max) = filter.max_price {
        query = query.filter(product::Column::PriceCents.lte(max.cents()));
    }
    let unfiltered =
        filter.search.is_none() && filter.min_price.is_none() && filter.max_price.is_none();
    let total = if unfiltered {
        crate::row_counts::get(db, crate::row_counts::PRODUCTS).await?
    } else {
        let key = CountKey {
            search: filter.search.clone(),
            min_cents: filter.min_price.map(Money::cents),
            max_cents: filter.max_price.map(Money::cents),
        };
        // Read before counting: a write that lands in between bumps it past this version.
        // Without the counter (its migration rolled back) nothing is cached.
        let version = crate::row_counts::find(db, crate::row_counts::PRODUCT_CHANGES).await?;
        match version.and_then(|v| counts.get(&key, v)) {
            Some(total) => total,
            None => {
                let total = query.clone().count(db).await?;
                if let Some(version) = version {
                    counts.put(key, version, total);
                }
                total
            }
        }
    };
    query = match filter.sort {
        ProductSort::Name => query.order_by_asc(product::Column::NameKey),
        ProductSort::NameDesc => query.order_by_desc(product::Column::NameKey),
        ProductSort::Price => query.order_by_asc(product::Column::PriceCents),
        ProductSort::PriceDesc => query.order_by_desc(product::Column::PriceCents),
        ProductSort::CreatedAt => query.order_by_asc(product::Column::CreatedAt),
        ProductSort::CreatedAtDesc => query.order_by_desc(product::Column::CreatedAt),
    };
    let products = fetch_page(db, query.order_by_desc(product::Column::Id), total, page).await?;
    Ok((products, total))
}
