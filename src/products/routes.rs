//! `/products` handlers. Reading is public; writing is for admins.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::queries::{self, NewProduct, ProductChanges, ProductFilter};
use super::types::{NewProductRequest, ProductListQuery, ProductResponse, ProductUpdateRequest};
use crate::conditional::{JsonWithEtag, Preconditions, etag_of_value};
use crate::db::begin_write;
use crate::error::{ApiError, ApiResult, forbidden, not_found};
use crate::extract::{JsonObject, PathId, ValidQuery};
use crate::idempotency::{self, IdempotencyKey, IdempotentRequest};
use crate::pagination::{Page, PageRequest, cached_page};
use crate::row_counts;
use crate::state::AppState;
use crate::users::AuthUser;
use crate::validation::FromJsonObject;

/// `GET /products`: `?q=` (name), `?min_price=`, `?max_price=` (inclusive), `?sort=`.
#[utoipa::path(get, path = "/products", tag = "products",
    params(ProductListQuery, ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier response: `304` if it is still current")),
    responses(
        (status = 200, description = "Products in the requested order", body = super::types::ProductsPage, headers(("ETag" = String, description = "Version of this representation"))),
        (status = 304, description = "Not modified: `If-None-Match` names the current version",
            headers(("ETag" = String))),
    ))]
pub async fn list_products(
    State(state): State<AppState>,
    ValidQuery(query): ValidQuery<ProductListQuery>,
    preconditions: Preconditions,
) -> ApiResult<JsonWithEtag> {
    let page = PageRequest::new(query.page, query.limit);
    let filter = ProductFilter {
        search: query.q.as_ref().and_then(|q| q.term()).map(str::to_owned),
        min_price: query.min_price,
        max_price: query.max_price,
        sort: query.sort.unwrap_or_default(),
    };
    let key = format!(
        "{}/{:?}/{}/{}",
        filter.key(),
        filter.sort,
        page.page,
        page.limit
    );
    // Filtered totals are kept at the same version as the pages.
    let (db, counts) = (&state.db, &state.list_cache.counts);
    let products = row_counts::PRODUCTS;
    cached_page(
        &state,
        products,
        key,
        None,
        &preconditions,
        |version| async move {
            let (products, total) = queries::list(db, counts, version, &filter, page).await?;
            let items = products.into_iter().map(ProductResponse::from).collect();
            let page = Page {
                key: "products",
                items,
                total,
                request: page,
            };
            Ok((page, Box::default()))
        },
    )
    .await
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
) -> ApiResult<JsonWithEtag> {
    let product = queries::find_by_id(&state.db, id)
        .await?
        .ok_or_else(|| product_not_found(id))?;
    Ok(JsonWithEtag::ok(&ProductResponse::from(product))?.or_not_modified(&preconditions))
}

/// `POST /products`: admins only.
#[utoipa::path(post, path = "/products", tag = "products",
    description = "Admins only. With an `Idempotency-Key`, a retry with the same body returns the first response and creates nothing.",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "1-255 visible ASCII characters; scoped to the caller; remembered 24 hours")),
    request_body = NewProductRequest,
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
    let claim = IdempotentRequest::new(key, caller.id(), "POST /products", &body);
    if let Some(first) = idempotency::replay_stored_response(&state.db, claim.as_ref()).await? {
        return Ok(first);
    }
    let body = NewProductRequest::from_object(body, &state.parse_context())?;
    let new = NewProduct {
        name: body.name,
        description: body.description.unwrap_or_default(),
        price: body.price,
        sku: body.sku.and_then(|sku| sku.into_option()),
        stock: body.stock.unwrap_or_default(),
    };
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
    let response = JsonWithEtag::new(StatusCode::CREATED, &ProductResponse::from(product))?;
    let ttl = state.config.idempotency_key_ttl;
    idempotency::commit_created(&state.db, tx, claim.as_ref(), response, ttl).await
}

/// `PUT`/`PATCH /products/{id}`: admins only.
#[utoipa::path(method(put, patch), path = "/products/{id}", tag = "products",
    description = "Admins only. Both methods take partial bodies.",
    security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1, description = "Product id"), ("If-Match" = Option<String>, Header, description = "The ETag the change is based on: `412` if the resource has changed since; `*` for any version")),
    request_body = ProductUpdateRequest,
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
) -> ApiResult<JsonWithEtag> {
    require_admin(&caller)?;
    let body = ProductUpdateRequest::from_object(body, &state.parse_context())?;
    let changes = ProductChanges {
        name: body.name,
        description: body.description,
        price: body.price,
        sku: body.sku.map(|sku| sku.into_option()),
        stock: body.stock,
    };
    let tx = begin_write(&state.db).await?;
    let product = queries::find_by_id_for_update(&tx, id)
        .await?
        .ok_or_else(|| product_not_found(id))?;
    preconditions.check_if_match(&etag_of_value(&ProductResponse::from(product.clone()))?)?;
    let updated = queries::update(&tx, product, changes).await?;
    tx.commit().await?;
    JsonWithEtag::ok(&ProductResponse::from(updated))
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
