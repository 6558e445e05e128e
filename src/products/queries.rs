//! Every query on `products`.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::domain::{Description, ProductName, ProductSort, Sku, Stock};
use super::model::{self as product, Entity as Products};
use crate::money::Money;
use crate::pagination::{PageRequest, contains, count, fetch_page, read_counted_page};
use crate::row_counts::cache::CachedCounts;

pub async fn find_by_id(db: &DatabaseConnection, id: i64) -> Result<Option<product::Model>, DbErr> {
    let row = crate::reads::fetch_optional_by_id(
        db,
        "SELECT id, name, name_key, description, price_cents, sku, stock, created_at, updated_at \
         FROM products WHERE id = ?",
        id,
    )
    .await?;
    row.map(|row| <product::Model as crate::reads::FromRow>::from_row(&row))
        .transpose()
}

pub async fn find_by_id_for_update(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<product::Model>, DbErr> {
    Products::find_by_id(id).lock_exclusive().one(db).await
}

pub struct NewProduct {
    pub name: ProductName,
    pub description: Description,
    pub price: Money,
    pub sku: Option<Sku>,
    pub stock: Stock,
}

/// A taken `sku` fails on the unique index (→ `409`).
pub async fn insert(db: &impl ConnectionTrait, new: NewProduct) -> Result<product::Model, DbErr> {
    let now = crate::time::now();
    product::ActiveModel {
        name_key: Set(new.name.key()),
        name: Set(new.name.as_str().to_owned()),
        description: Set(new.description.as_str().to_owned()),
        price_cents: Set(new.price.cents()),
        sku: Set(new.sku.map(|sku| sku.as_str().to_owned())),
        stock: Set(new.stock.value()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
}

#[derive(Default)]
pub struct ProductChanges {
    pub name: Option<ProductName>,
    pub description: Option<Description>,
    pub price: Option<Money>,
    /// `Some(None)` clears the sku.
    pub sku: Option<Option<Sku>>,
    pub stock: Option<Stock>,
}

pub async fn update(
    db: &impl ConnectionTrait,
    current: product::Model,
    changes: ProductChanges,
) -> Result<product::Model, DbErr> {
    let mut active: product::ActiveModel = current.clone().into();
    // Values equal to the stored ones are no change: `updated_at` (and the ETag) stay.
    let mut changed = false;
    if let Some(name) = changes.name.filter(|name| name.as_str() != current.name) {
        active.name_key = Set(name.key());
        active.name = Set(name.as_str().to_owned());
        changed = true;
    }
    if let Some(description) = changes
        .description
        .filter(|description| description.as_str() != current.description)
    {
        active.description = Set(description.as_str().to_owned());
        changed = true;
    }
    if let Some(price) = changes
        .price
        .filter(|price| price.cents() != current.price_cents)
    {
        active.price_cents = Set(price.cents());
        changed = true;
    }
    let sku = changes
        .sku
        .map(|sku| sku.map(|sku| sku.as_str().to_owned()));
    if let Some(sku) = sku.filter(|sku| *sku != current.sku) {
        active.sku = Set(sku);
        changed = true;
    }
    if let Some(stock) = changes.stock.filter(|stock| stock.value() != current.stock) {
        active.stock = Set(stock.value());
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

pub struct ProductFilter {
    pub search: Option<String>,
    pub min_price: Option<Money>,
    pub max_price: Option<Money>,
    pub sort: ProductSort,
}

impl ProductFilter {
    /// Which products it selects, as a cache key: a different term or bound is a
    /// different key (the order is not part of it).
    pub fn key(&self) -> String {
        format!(
            "{:?}/{:?}/{:?}",
            self.search,
            self.min_price.map(Money::cents),
            self.max_price.map(Money::cents)
        )
    }
}

/// One page of products in the requested order; ties are always broken by id, descending.
/// A filtered list's total is kept in `counts` at `version` (the product-changes counter,
/// read before this): a search repeated over other pages counts once.
pub async fn list(
    db: &DatabaseConnection,
    counts: &CachedCounts,
    version: Option<u64>,
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
    let filtered = query.clone();
    query = match filter.sort {
        ProductSort::Name => query.order_by_asc(product::Column::NameKey),
        ProductSort::NameDesc => query.order_by_desc(product::Column::NameKey),
        ProductSort::Price => query.order_by_asc(product::Column::PriceCents),
        ProductSort::PriceDesc => query.order_by_desc(product::Column::PriceCents),
        ProductSort::CreatedAt => query.order_by_asc(product::Column::CreatedAt),
        ProductSort::CreatedAtDesc => query.order_by_desc(product::Column::CreatedAt),
    };
    let ordered = query.order_by_desc(product::Column::Id);
    if unfiltered {
        let (rows, total) =
            read_counted_page(db, ordered, crate::row_counts::PRODUCTS, page, None).await?;
        return Ok((crate::reads::models(&rows)?, total));
    }
    // The total first, so that a page past the end is not looked for.
    let total = filtered_total(db, counts, filter.key(), version, filtered).await?;
    let products = fetch_page(db, ordered, total, page).await?;
    Ok((products, total))
}

/// The number of products `filtered` selects: cached under `key` while the product-changes
/// counter stays at `version` (read before this), else counted (and cached).
async fn filtered_total(
    db: &DatabaseConnection,
    counts: &CachedCounts,
    key: String,
    version: Option<u64>,
    filtered: sea_orm::Select<Products>,
) -> Result<u64, DbErr> {
    if let Some(total) = version.and_then(|v| counts.get(&key, v)) {
        return Ok(total);
    }
    let total = count(db, filtered).await?;
    if let Some(version) = version {
        counts.put(key, version, total);
    }
    Ok(total)
}
