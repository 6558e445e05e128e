//! The OpenAPI 3.1 document. Every route is registered through `utoipa_axum`'s
//! `OpenApiRouter`, which takes its path and methods from the handler's `#[utoipa::path]`, so
//! a route cannot exist without being described, nor be described without existing. The
//! error responses every operation can give (and `401`/`403` for those that need a token,
//! `413`/`415` for those that take a body) are added here, from the operation itself, so each
//! handler lists only the responses particular to it.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as OpenApiDocument, Ref, RefOr};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// The security scheme name handlers refer to in `security(("bearer" = []))`.
pub const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "larch",
        description = "The JSON REST API of the Flask REST tutorial, and more: JWT auth with rotating refresh tokens, users, posts, products, conditional requests and idempotent creation. Errors always have the shape of `ErrorBody`.",
        license(name = "MIT"),
    ),
    components(schemas(crate::error::ErrorBody)),
    tags(
        (name = "auth", description = "Register, log in, refresh, log out"),
        (name = "users", description = "Users; a user has many posts"),
        (name = "posts", description = "Posts"),
        (name = "products", description = "Products, written by admins"),
        (name = "operations", description = "Health and readiness"),
    ),
)]
struct ApiDoc;

/// Every route of the API and the document that describes exactly those routes.
pub fn routes() -> (Router<AppState>, OpenApiDocument) {
    let (router, mut document) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::health::router())
        .merge(crate::auth::router())
        .merge(crate::users::router())
        .merge(crate::posts::router())
        .merge(crate::products::router())
        .merge(operations_router())
        .split_for_parts();
    add_conventions(&mut document);
    DOCUMENT_JSON.get_or_init(|| {
        document
            .to_pretty_json()
            .unwrap_or_else(|_| "{}".to_owned())
    });
    (router, document)
}

/// The document alone, for `larch openapi`.
pub fn document() -> OpenApiDocument {
    routes().1
}

/// The document as served, computed once.
static DOCUMENT_JSON: OnceLock<String> = OnceLock::new();

/// The operational routes that describe the API rather than being it: `/openapi.json`, the
/// Swagger UI at `/docs` (its scripts and styles are compiled into the binary by
/// `utoipa-swagger-ui`'s `vendored` feature, so the page works with no internet) and
/// `/metrics`. Served by hand rather than by `SwaggerUi`'s router, whose `/docs` → `/docs/`
/// redirect would loop behind the trailing-slash normalisation.
fn operations_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(openapi_json))
        .routes(routes!(docs_page))
        .routes(routes!(crate::metrics::metrics))
        // The page's assets (`/docs/swagger-ui.css`, …): part of `/docs`, not of the API.
        .route("/docs/{file}", get(docs_asset))
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object)))]
async fn openapi_json() -> Response {
    let json = DOCUMENT_JSON.get().map_or("{}", String::as_str);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json.to_owned(),
    )
        .into_response()
}

/// Interactive API documentation (Swagger UI), served from the binary.
#[utoipa::path(get, path = "/docs", tag = "operations",
    responses((status = 200, description = "An HTML page", content_type = "text/html", body = String)))]
async fn docs_page() -> Response {
    docs_file("index.html")
}

async fn docs_asset(Path(file): Path<String>) -> Response {
    docs_file(&file)
}

fn swagger_config() -> Arc<utoipa_swagger_ui::Config<'static>> {
    static CONFIG: OnceLock<Arc<utoipa_swagger_ui::Config<'static>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            // No "online validator" badge: it would load an image from validator.swagger.io.
            Arc::new(utoipa_swagger_ui::Config::new(["/openapi.json"]).validator_url("none"))
        })
        .clone()
}

/// The page may load its own scripts, styles and images and call this origin; nothing else.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

fn docs_file(name: &str) -> Response {
    let file = match utoipa_swagger_ui::serve(name, swagger_config()) {
        Ok(Some(file)) => file,
        Ok(None) => {
            return crate::error::not_found(crate::extract::NOT_FOUND_MESSAGE).into_response();
        }
        Err(error) => {
            return crate::error::ApiError::Internal(anyhow::anyhow!("docs: {error}"))
                .into_response();
        }
    };
    let mut bytes = file.bytes.into_owned();
    if name == "index.html" && !file.gzpipped {
        // Asset links are relative (`./swagger-ui.css`); make them absolute so that the page
        // works at `/docs` as well as `/docs/`.
        bytes = String::from_utf8_lossy(&bytes)
            .replace("\"./", "\"/docs/")
            .replace("href=\"index.css\"", "href=\"/docs/index.css\"")
            .into_bytes();
    }
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    if let Ok(content_type) = HeaderValue::from_str(&file.content_type) {
        headers.insert(header::CONTENT_TYPE, content_type);
    }
    if file.gzpipped {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CSP),
    );
    response
}

/// Adds what every operation shares, once the routes are merged into `document`: the bearer
/// scheme, and the standard error responses.
fn add_conventions(document: &mut OpenApiDocument) {
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "An access token from `POST /auth/login` (a refresh token for `/auth/refresh` and `/auth/logout`)",
                ))
                .build(),
        ),
    );
    for item in document.paths.paths.values_mut() {
        for operation in operations(item) {
            add_error_responses(operation);
        }
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> Vec<&mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn add_error_responses(operation: &mut Operation) {
    let secured = operation
        .security
        .as_ref()
        .is_some_and(|requirements| !requirements.is_empty());
    let has_body = operation.request_body.is_some();
    let mut add = |status: &str, description: &str| {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(error_response(status, description)));
    };
    add(
        "400",
        "Malformed request: bad JSON, wrong types, bad query parameters; `fields` names every bad field",
    );
    if secured {
        add(
            "401",
            "Missing, malformed, expired, revoked or wrong-type token (with `WWW-Authenticate: Bearer`)",
        );
        add("403", "Authenticated but not allowed");
    }
    add("404", "No such resource");
    if has_body {
        add("413", "Request body too large");
        add("415", "Body is not `application/json`");
    }
    add("500", "Unexpected failure; reveals nothing");
    add(
        "503",
        "The database is unavailable or busy, or the request timed out (with `Retry-After`)",
    );
}

/// An error response with the `ErrorBody` schema and an example for its status.
fn error_response(status: &str, description: &str) -> utoipa::openapi::Response {
    let code = status.parse::<u16>().unwrap_or(500);
    let reason = axum::http::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let example = match code {
        400 => serde_json::json!({"error": reason, "message": "Validation failed", "status": code,
            "fields": {"email": ["must be a valid email address"]}}),
        404 => serde_json::json!({"error": reason, "message": "User 42 not found", "status": code}),
        500 => {
            serde_json::json!({"error": reason, "message": "An unexpected error occurred.", "status": code})
        }
        _ => serde_json::json!({"error": reason, "message": description, "status": code}),
    };
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            utoipa::openapi::content::ContentBuilder::new()
                .schema(Some(RefOr::Ref(Ref::from_schema_name("ErrorBody"))))
                .example(Some(example))
                .build(),
        )
        .build()
}

/// Documentation-only bodies: requests are read field by field (`validation::FieldReader`),
/// so that every bad field is reported at once; these describe what that reading accepts.
/// Optional fields may be left out but are never `null` (except `sku`); fields the endpoint
/// does not take are `400`, apart from the read-only ones it ignores. Strings never contain
/// U+0000. What a pattern cannot say exactly (the email grammar) is in the descriptions.
pub mod bodies {
    use serde_json::Value;

    use super::*;

    // Patterns: `^[^\u0000]*$` is any text without U+0000; the longer one also needs a
    // character that is not white space (the characters Rust's `trim` removes).

    /// `POST /auth/register`. Unknown fields (`role` among them) are `400`.
    #[derive(ToSchema, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    pub struct RegisterRequest {
        /// 3–80 of ASCII letters, digits, `_`, `.`, `-`; unique ignoring case.
        #[schema(
            min_length = 3,
            max_length = 80,
            pattern = r"^[A-Za-z0-9_.-]{3,80}$",
            example = "alice"
        )]
        pub username: String,
        /// A valid address (no spaces, control or invisible characters; no leading, trailing
        /// or doubled dot before the `@`), at most 120 characters; unique ignoring case;
        /// stored lower-cased.
        #[schema(format = Email, max_length = 120, example = "alice@example.com")]
        pub email: String,
        /// At least `PASSWORD_MIN_LENGTH` (default 8) characters, at most 1024.
        #[schema(
            min_length = 8,
            max_length = 1024,
            pattern = r"^[^\u0000]*$",
            example = "correct-horse-battery"
        )]
        pub password: String,
    }

    /// `POST /auth/login`.
    #[derive(ToSchema, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    pub struct LoginRequest {
        #[schema(pattern = r"^[^\u0000]*$", example = "alice@example.com")]
        pub email: String,
        #[schema(pattern = r"^[^\u0000]*$", example = "correct-horse-battery")]
        pub password: String,
    }

    /// `PUT /auth/password`.
    #[derive(ToSchema, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    pub struct PasswordChangeRequest {
        #[schema(pattern = r"^[^\u0000]*$")]
        pub current_password: String,
        #[schema(min_length = 8, max_length = 1024, pattern = r"^[^\u0000]*$")]
        pub new_password: String,
    }

    /// `PUT`/`PATCH /users/{id}`: any of the fields; `role` only by admins.
    #[derive(ToSchema, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    pub struct UserUpdateRequest {
        #[schema(
            min_length = 3,
            max_length = 80,
            pattern = r"^[A-Za-z0-9_.-]{3,80}$",
            nullable = false
        )]
        pub username: Option<String>,
        /// As in registration.
        #[schema(format = Email, max_length = 120, nullable = false)]
        pub email: Option<String>,
        #[schema(pattern = "^(user|admin)$", nullable = false)]
        pub role: Option<String>,
        /// Read-only: ignored.
        pub id: Option<Value>,
        /// Read-only: ignored.
        pub created_at: Option<Value>,
        /// Read-only: ignored.
        pub updated_at: Option<Value>,
    }

    /// `POST /posts`.
    #[derive(ToSchema, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    pub struct NewPostRequest {
        /// Up to 200 characters, not blank.
        #[schema(
            min_length = 1,
            max_length = 200,
            pattern = r"^[^\u0000]*[^\u0000\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000]*$",
            example = "Hello"
        )]
        pub title: String,
        /// Up to 100,000 characters, not blank.
        #[schema(
            min_length = 1,
            max_length = 100000,
            pattern = r"^[^\u0000]*[^\u0000\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000]*$",
            example = "My first post."
        )]
        pub body: String,
        /// Read-only: ignored.
        pub id: Option<Value>,
        /// Read-only: ignored.
        pub user_id: Option<Value>,
        /// Read-only: ignored.
        pub author: Option<Value>,
        /// Read-only: ignored.
        pub created_at: Option<Value>,
        /// Read-only: ignored.
        pub updated_at: Option<Value>,
    }

    /// `PUT`/`PATCH /posts/{id}`: any of the fields.
    #[derive(ToSchema, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    pub struct PostUpdateRequest {
        #[schema(
            min_length = 1,
            max_length = 200,
            pattern = r"^[^\u0000]*[^\u0000\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000]*$",
            nullable = false
        )]
        pub title: Option<String>,
        #[schema(
            min_length = 1,
            max_length = 100000,
            pattern = r"^[^\u0000]*[^\u0000\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000]*$",
            nullable = false
        )]
        pub body: Option<String>,
        /// Read-only: ignored.
        pub id: Option<Value>,
        /// Read-only: ignored.
        pub user_id: Option<Value>,
        /// Read-only: ignored.
        pub author: Option<Value>,
        /// Read-only: ignored.
        pub created_at: Option<Value>,
        /// Read-only: ignored.
        pub updated_at: Option<Value>,
    }

    /// `POST /products`.
    #[derive(ToSchema, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    pub struct NewProductRequest {
        /// Up to 200 characters, not blank.
        #[schema(
            min_length = 1,
            max_length = 200,
            pattern = r"^[^\u0000]*[^\u0000\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000]*$",
            example = "Desk lamp"
        )]
        pub name: String,
        #[schema(max_length = 10000, pattern = r"^[^\u0000]*$", nullable = false)]
        pub description: Option<String>,
        pub price: Price,
        /// Unique; `null` or absent for none.
        #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_-]{1,64}$")]
        pub sku: Option<String>,
        /// Default 0.
        #[schema(minimum = 0, maximum = 9007199254740991_i64, nullable = false)]
        pub stock: Option<i64>,
        /// Read-only: ignored.
        pub id: Option<Value>,
        /// Read-only: ignored.
        pub created_at: Option<Value>,
        /// Read-only: ignored.
        pub updated_at: Option<Value>,
    }

    /// `PUT`/`PATCH /products/{id}`: any of the fields.
    #[derive(ToSchema, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    pub struct ProductUpdateRequest {
        #[schema(
            min_length = 1,
            max_length = 200,
            pattern = r"^[^\u0000]*[^\u0000\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000]*$",
            nullable = false
        )]
        pub name: Option<String>,
        #[schema(max_length = 10000, pattern = r"^[^\u0000]*$", nullable = false)]
        pub description: Option<String>,
        #[schema(nullable = false)]
        pub price: Option<Price>,
        /// `null` clears it.
        #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_-]{1,64}$")]
        pub sku: Option<String>,
        #[schema(minimum = 0, maximum = 9007199254740991_i64, nullable = false)]
        pub stock: Option<i64>,
        /// Read-only: ignored.
        pub id: Option<Value>,
        /// Read-only: ignored.
        pub created_at: Option<Value>,
        /// Read-only: ignored.
        pub updated_at: Option<Value>,
    }

    /// A price from 0 to 1,000,000,000.00: a JSON number or a decimal string with at most two
    /// decimals, judged by its decimal text (`19.999` and `1e3` are refused).
    #[derive(serde::Deserialize)]
    pub struct Price;

    impl utoipa::PartialSchema for Price {
        fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
            use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
            OneOfBuilder::new()
                .item(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some(r"^0*([0-9]{1,9}(\.[0-9]{1,2})?|1000000000(\.00?)?)$"))
                        .examples(["19.99"]),
                )
                .item(
                    ObjectBuilder::new()
                        .schema_type(Type::Number)
                        .minimum(Some(0))
                        .maximum(Some(1_000_000_000)),
                )
                .description(Some(
                    "A price from 0 to 1,000,000,000.00: a JSON number or a decimal string with \
                     at most two decimals, judged by its decimal text (`19.999`, `1e3` refused)",
                ))
                .into()
        }
    }

    impl ToSchema for Price {}
}
