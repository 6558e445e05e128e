//! The OpenAPI 3.1 document's conventions and how it is served. The routes are registered
//! in `router`, through `utoipa_axum`'s `OpenApiRouter`, which takes each route's path and
//! methods from its handler's `#[utoipa::path]`: a route cannot exist without being
//! described, nor be described without existing. Request bodies and query strings document
//! themselves (`validation`). The error responses every operation can give (and `401`/`403`
//! for those that need a token, `413`/`415` for those that take a body) are added here, from
//! the operation itself, so each handler lists only the responses particular to it.

use std::sync::{Arc, OnceLock};

use axum::Extension;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as OpenApiDocument, Ref, RefOr};

/// The security scheme name handlers refer to in `security(("bearer" = []))`.
pub const BEARER: &str = "bearer";

/// The document's description, before the routes are merged into it.
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
        (name = "sessions", description = "The logins of a user: see and end them"),
        (name = "users", description = "Users; a user has many posts"),
        (name = "posts", description = "Posts"),
        (name = "products", description = "Products, written by admins"),
        (name = "operations", description = "Health and readiness"),
    ),
)]
pub struct ApiDoc;

/// The document as served at `/openapi.json` (a request extension set by the router).
#[derive(Clone)]
pub struct ServedDocument(pub Arc<str>);

/// Adds what every operation shares to the document of the merged routes, and the rules
/// that depend on configuration (the password's minimum length).
pub fn finish(document: &mut OpenApiDocument, password_min_length: usize) {
    add_conventions(document);
    let components = document.components.get_or_insert_with(Default::default);
    if let Some(RefOr::T(Schema::Object(password))) = components.schemas.get_mut("Password") {
        password.min_length = Some(password_min_length);
        password.description = Some(format!(
            "At least {password_min_length} (`PASSWORD_MIN_LENGTH`) and at most {} characters",
            crate::passwords::PASSWORD_MAX_LENGTH
        ));
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object)))]
pub async fn openapi_json(Extension(ServedDocument(json)): Extension<ServedDocument>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json.to_string(),
    )
        .into_response()
}

/// Interactive API documentation (Swagger UI), served from the binary.
#[utoipa::path(get, path = "/docs", tag = "operations",
    responses((status = 200, description = "An HTML page", content_type = "text/html", body = String)))]
pub async fn docs_page() -> Response {
    docs_file("index.html")
}

/// The page's assets (`/docs/swagger-ui.css`, …): part of `/docs`, not of the API. Served
/// by hand rather than by `SwaggerUi`'s router, whose `/docs` → `/docs/` redirect would loop
/// behind the trailing-slash normalisation. The assets are compiled into the binary
/// (`utoipa-swagger-ui`'s `vendored` feature), so the page works with no internet.
pub async fn docs_asset(Path(file): Path<String>) -> Response {
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

/// The bearer scheme, and the standard error responses of every operation.
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
