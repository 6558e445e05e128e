//! `/products` handlers. Reading is public; writing is for admins.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::queries::{self, ProductFilter, ProductSort};
use super::types::{ProductResponse, parse_new_product, parse_product_changes};
use crate::conditional::{Preconditions, Tagged, etag_of_value};
use crate::db::begin_write;
use crate::error::{ApiError, ApiResult, forbidden, not_found};
use crate::extract::{AuthUser, JsonObject, PathId};
use crate::idempotency::{self, Claim, IdempotencyKey};
use crate::money::Money;
use crate::pagination::{Page, PageRequest, QueryErrors, QueryParams, parse_search};
use crate::row_counts;
use crate::state::AppState;

/// `GET /products`: `?q=` (name), `?min_price=`, `?max_price=` (inclusive), `?sort=`.
#[utoipa::path(get, path = "/products", tag = "products",
    params(("page" = Option<i64>, Query, minimum = 1, description = "Page number, from 1 (default 1)"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Items per page, 1-100 (default 20)"),
        ("q" = Option<String>, Query, pattern = r"^[^\u0000]*$", description = "Case-insensitive substring of the name; `%` and `_` are literal"),
        ("min_price" = Option<String>, Query, pattern = r"^0*([0-9]{1,9}(\.[0-9]{1,2})?|1000000000(\.00?)?)$", description = "Inclusive lower bound, at most two decimals"),
        ("max_price" = Option<String>, Query, pattern = r"^0*([0-9]{1,9}(\.[0-9]{1,2})?|1000000000(\.00?)?)$", description = "Inclusive upper bound, at most two decimals"),
        ("sort" = Option<String>, Query, pattern = "^-?(name|price|created_at)$", description = "`name`, `-name`, `price`, `-price`, `created_at`, `-created_at` (default `-created_at`); ties by id, descending")),
    responses((status = 200, description = "Products in the requested order", body = super::types::ProductsPage)))]
pub async fn list_products(
    State(state): State<AppState>,
    params: QueryParams,
) -> ApiResult<Json<Page<ProductResponse>>> {
    let mut errors = QueryErrors::default();
    let page = PageRequest::parse(&params, &mut errors);
    let search = parse_search(&params, &mut errors, "q");
    let mut price = |name: &str| {
        let raw = params.get(name)?;
        Money::parse_str(raw)
            .map_err(|message| errors.add(name, message))
            .ok()
    };
    let (min_price, max_price) = (price("min_price"), price("max_price"));
    let sort = match params.get("sort") {
        None => ProductSort::CreatedAtDesc,
        Some(raw) => ProductSort::parse(raw).unwrap_or_else(|| {
            errors.add("sort", format!("must be one of {}", ProductSort::CHOICES));
            ProductSort::CreatedAtDesc
        }),
    };
    errors.finish()?;
    let filter = ProductFilter {
        search,
        min_price,
        max_price,
        sort,
    };
    let (products, total) = queries::list(&state.db, &state.product_counts, &filter, page).await?;
    let items = products.into_iter().map(ProductResponse::from).collect();
    Ok(Json(Page {
        key: "products",
        items,
        total,
        request: page,
    }))
}

/// `GET /products/{id}`.
#[utoipa::path(get, path = "/products/{id}", tag = "products",
    params(("id" = i64, Path, minimum = 1, description = "Product id"), ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier response: `304` if it is still current")),
    responses(
        (status = 200, description = "The product", body = ProductResponse, headers(("ETag" = String, description = "Version of this representation"))),
        (status = 304, description = "Not modified: `If-None-Match` names the current version",
            headers(("ETag" = String))),
    ))]
pub async fn get_product(
    State(state): State<AppState>,
    PathId(id): PathId,
    preconditions: Preconditions,
) -> ApiResult<Tagged> {
    let product = queries::find_by_id(&state.db, id)
        .await?
        .ok_or_else(|| product_not_found(id))?;
    Ok(Tagged::ok(&ProductResponse::from(product))?.unless_current(&preconditions))
}

/// `POST /products`: admins only.
#[utoipa::path(post, path = "/products", tag = "products",
    description = "Admins only. With an `Idempotency-Key`, a retry with the same body returns the first response and creates nothing.",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "1-255 visible ASCII characters; scoped to the caller; remembered 24 hours")),
    request_body = crate::openapi::bodies::NewProductRequest,
    responses(
        (status = 201, description = "Created (or, with `Idempotent-Replayed: true`, the first response to this key)", body = ProductResponse,
            headers(("ETag" = String), ("Idempotent-Replayed" = Option<String>, description = "`true` on a replayed response"))),
        (status = 409, description = "The sku is taken", body = crate::error::ErrorBody),
        (status = 422, description = "This `Idempotency-Key` was used with a different request", body = crate::error::ErrorBody),
    ))]
pub async fn create_product(
    State(state): State<AppState>,
    caller: AuthUser,
    key: IdempotencyKey,
    JsonObject(body): JsonObject,
) -> ApiResult<Response> {
    require_admin(&caller)?;
    let claim = Claim::new(key, caller.id(), "POST /products", &body);
    if let Some(first) = idempotency::replay_if_seen(&state.db, claim.as_ref()).await? {
        return Ok(first);
    }
    let new = parse_new_product(body)?;
    let tx = begin_write(&state.db).await?;
    let product = match queries::insert(&tx, new).await {
        Ok(product) => product,
        // A retry racing its first attempt collides on the sku: answer as the first did.
        Err(error) => {
            tx.rollback().await?;
            return idempotency::replay_or(&state.db, claim.as_ref(), error.into()).await;
        }
    };
    row_counts::adjust(&tx, row_counts::PRODUCTS, 1).await?;
    row_counts::adjust(&tx, row_counts::PRODUCT_CHANGES, 1).await?;
    let response = Tagged::new(StatusCode::CREATED, &ProductResponse::from(product))?;
    let ttl = state.config.idempotency_key_ttl;
    idempotency::commit_created(&state.db, tx, claim.as_ref(), response, ttl).await
}

/// `PUT`/`PATCH /products/{id}`: admins only.
#[utoipa::path(method(put, patch), path = "/products/{id}", tag = "products",
    description = "Admins only. Both methods take partial bodies.",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, description = "Product id"), ("If-Match" = Option<String>, Header, description = "The ETag the change is based on: `412` if the resource has changed since; `*` for any version")),
    request_body = crate::openapi::bodies::ProductUpdateRequest,
    responses(
        (status = 200, description = "The updated product", body = ProductResponse, headers(("ETag" = String, description = "Version of this representation"))),
        (status = 409, description = "The sku is taken", body = crate::error::ErrorBody),
        (status = 412, description = "`If-Match` names a version that is no longer current; nothing changed", body = crate::error::ErrorBody),
    ))]
pub async fn update_product(
    State(state): State<AppState>,
    PathId(id): PathId,
    caller: AuthUser,
    preconditions: Preconditions,
    JsonObject(body): JsonObject,
) -> ApiResult<Tagged> {
    require_admin(&caller)?;
    let changes = parse_product_changes(body)?;
    let tx = begin_write(&state.db).await?;
    let product = queries::find_by_id_for_update(&tx, id)
        .await?
        .ok_or_else(|| product_not_found(id))?;
    preconditions.check_if_match(&etag_of_value(&ProductResponse::from(product.clone()))?)?;
    let updated = queries::update(&tx, product, changes).await?;
    row_counts::adjust(&tx, row_counts::PRODUCT_CHANGES, 1).await?;
    tx.commit().await?;
    Tagged::ok(&ProductResponse::from(updated))
}

/// `DELETE /products/{id}`: admins only.
#[utoipa::path(delete, path = "/products/{id}", tag = "products",
    description = "Admins only.",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, description = "Product id"), ("If-Match" = Option<String>, Header, description = "The ETag the change is based on: `412` if the resource has changed since; `*` for any version")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 412, description = "`If-Match` names a version that is no longer current; nothing changed", body = crate::error::ErrorBody),
    ))]
pub async fn delete_product(
    State(state): State<AppState>,
    PathId(id): PathId,
    caller: AuthUser,
    preconditions: Preconditions,
) -> ApiResult<StatusCode> {
    require_admin(&caller)?;
    let tx = begin_write(&state.db).await?;
    let product = queries::find_by_id_for_update(&tx, id)
        .await?
        .ok_or_else(|| product_not_found(id))?;
    preconditions.check_if_match(&etag_of_value(&ProductResponse::from(product))?)?;
    if !queries::delete(&tx, id).await? {
        return Err(product_not_found(id));
    }
    row_counts::adjust(&tx, row_counts::PRODUCTS, -1).await?;
    row_counts::adjust(&tx, row_counts::PRODUCT_CHANGES, 1).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

fn require_admin(caller: &AuthUser) -> ApiResult<()> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(forbidden("Only admins may change products"))
    }
}

fn product_not_found(id: i64) -> ApiError {
    not_found(format!("Product {id} not found"))
}
