//! The one route table: every route of the API, the only module that knows every domain,
//! and the layers every request passes. A route's handler is named here by its domain's
//! path (`posts::routes::update_post`); its request and response types sit beside it in
//! that domain's `types.rs`, its queries in `queries.rs`.

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::routing::get;
use axum::{Extension, Router, middleware};
use tower::{Layer, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::normalize_path::{NormalizePath, NormalizePathLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;
use utoipa::openapi::OpenApi as OpenApiDocument;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::openapi::{self, ApiDoc, ServedDocument};
use crate::state::AppState;
use crate::{auth, health, http, idempotency, metrics, posts, products, recovery, sessions, users};

/// Every route, and the document that describes exactly those routes.
pub fn routes() -> (Router<AppState>, OpenApiDocument) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        // Operations
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(metrics::metrics))
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(openapi::docs_page))
        .route("/docs/{file}", get(openapi::docs_asset))
        // The pages the default links in emails open
        .routes(routes!(recovery::routes::reset_password_page))
        .routes(routes!(recovery::routes::verify_email_page))
        // /auth
        .routes(routes!(auth::routes::register))
        .routes(routes!(auth::routes::login))
        .routes(routes!(auth::routes::refresh))
        .routes(routes!(auth::routes::me))
        .routes(routes!(auth::routes::logout))
        .routes(routes!(auth::routes::logout_all))
        .routes(routes!(auth::routes::change_password))
        .routes(routes!(recovery::routes::request_password_reset))
        .routes(routes!(recovery::routes::confirm_password_reset))
        .routes(routes!(recovery::routes::verify_email))
        .routes(routes!(recovery::routes::resend_verification))
        .routes(routes!(
            sessions::routes::list_own_sessions,
            sessions::routes::end_other_sessions
        ))
        .routes(routes!(sessions::routes::end_own_session))
        // /users
        .routes(routes!(users::routes::list_users))
        .routes(routes!(users::routes::profile))
        .routes(routes!(
            users::routes::get_user,
            users::routes::update_user,
            users::routes::delete_user
        ))
        .routes(routes!(
            sessions::routes::list_user_sessions,
            sessions::routes::end_user_sessions
        ))
        .routes(routes!(recovery::routes::admin_password_reset))
        .routes(routes!(posts::routes::list_user_posts))
        .routes(routes!(posts::routes::get_user_post))
        // /posts
        .routes(routes!(
            posts::routes::list_posts,
            posts::routes::create_post
        ))
        .routes(routes!(
            posts::routes::get_post,
            posts::routes::update_post,
            posts::routes::delete_post
        ))
        // /products
        .routes(routes!(
            products::routes::list_products,
            products::routes::create_product
        ))
        .routes(routes!(
            products::routes::get_product,
            products::routes::update_product,
            products::routes::delete_product
        ))
        .split_for_parts()
}

/// The OpenAPI document of `routes`, with the configured rules (`larch openapi` prints it).
pub fn document(password_min_length: usize) -> OpenApiDocument {
    let mut document = routes().1;
    openapi::finish(&mut document, password_min_length);
    document
}

fn document_json(mut document: OpenApiDocument, password_min_length: usize) -> String {
    openapi::finish(&mut document, password_min_length);
    document
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_owned())
}

/// The whole HTTP application for `state`: routes, then the layers every request passes.
pub fn app(state: AppState) -> Router {
    let config = state.config.clone();
    crate::metrics::init();
    let (api, document) = routes();
    let served = document_json(document, config.password_min_length);
    let routes: Router = api
        .layer(Extension(ServedDocument(served.into())))
        .fallback(http::route_not_found)
        // The later `route_layer` runs first: a bad id's 404 still carries its route.
        .route_layer(middleware::from_fn(http::reject_bad_ids))
        .route_layer(middleware::from_fn(http::record_route))
        .layer(DefaultBodyLimit::max(config.body_limit))
        .with_state(state);

    let cors = cors_layer(&config.cors_origins);
    // With CORS on, an OPTIONS on an unknown path must still be 404 (see the middleware).
    let known_routes = cors
        .as_ref()
        .map(|_| middleware::from_fn_with_state(routes.clone(), http::options_need_a_route));

    // Outermost first: every response, errors included, gets the request id and headers.
    let layers = ServiceBuilder::new()
        .layer(middleware::from_fn(http::request_context))
        .layer(security_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(security_header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(security_header(header::REFERRER_POLICY, "no-referrer"))
        .layer(security_header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ))
        .layer(security_header(header::CACHE_CONTROL, "no-store"))
        .option_layer(known_routes)
        .option_layer(cors)
        .layer(middleware::from_fn(http::json_errors))
        .layer(middleware::from_fn(http::refuse_repeated_authorization))
        .layer(CatchPanicLayer::custom(http::panic_response))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.request_timeout,
        ))
        .layer(RequestBodyLimitLayer::new(config.body_limit));
    routes.layer(layers)
}

/// The router behind trailing-slash normalisation (`/users/` is `/users`, no redirect),
/// which must run before routing and so wraps the router from outside.
pub fn service(state: AppState) -> NormalizePath<Router> {
    NormalizePathLayer::trim_trailing_slash().layer(app(state))
}

fn security_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// CORS is off unless origins are configured; then exactly those origins are allowed.
fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        // Checked by the configuration: every entry is a valid header value.
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_MATCH,
                header::IF_NONE_MATCH,
                HeaderName::from_static("idempotency-key"),
                http::REQUEST_ID.clone(),
            ])
            .expose_headers([
                header::ETAG,
                header::RETRY_AFTER,
                header::LOCATION,
                HeaderName::from_static(idempotency::REPLAYED_HEADER),
                http::REQUEST_ID.clone(),
            ])
            .max_age(Duration::from_secs(600)),
    )
}
