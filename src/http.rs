//! Cross-cutting HTTP behaviour: request ids and the per-request log line, the JSON shape
//! for errors the framework makes itself (404, 405, 413, timeouts, panics), and security
//! headers.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use tower::ServiceExt;

use crate::error::{ErrorBody, INTERNAL_MESSAGE, bad_request, error_response, not_found};
use crate::extract::{NOT_FOUND_MESSAGE, UNSUPPORTED_MEDIA_TYPE_MESSAGE, parse_id};

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A client's own id is kept if it is 1–128 of letters, digits, `.`, `_`, `:`, `-`
/// (safe to log and echo); otherwise one is generated.
fn acceptable_request_id(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let ok = (1..=128).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    ok.then(|| text.to_owned())
}

/// Assigns the request id, runs the request inside a span that carries it, writes one log
/// line per request (never headers or bodies: they hold tokens and passwords) and echoes
/// the id on the response.
pub async fn request_context(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(acceptable_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %id);
    let started = Instant::now();

    let mut response = next.run(request).instrument(span.clone()).await;

    let route = response
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    crate::metrics::record_request(&method, route.as_deref(), status, elapsed);
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        tracing::info!(
            %method,
            path = %path,
            route = route.as_deref().unwrap_or("-"),
            status,
            latency_ms = format_args!("{latency_ms:.2}"),
            "request"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    response
}

/// Copies the matched route template (`/users/{id}`) onto the response, where the outer
/// middleware can log it. Installed with `route_layer`, which runs after routing.
pub async fn record_route(request: Request, next: Next) -> Response {
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    if let Some(matched) = matched {
        response.extensions_mut().insert(matched);
    }
    response
}

/// Answers `404` before any other check (authentication, method) when a path segment that
/// names an id is not a positive 64-bit integer: `/users/abc` does not exist, as with
/// Flask's `int` converter. Installed with `route_layer`, so it runs after routing.
pub async fn reject_bad_ids(request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let valid = match RawPathParams::from_request_parts(&mut parts, &()).await {
        Ok(params) => params
            .iter()
            .filter(|(name, _)| *name == "id" || name.ends_with("_id"))
            .all(|(_, value)| parse_id(value).is_some()),
        Err(_) => false,
    };
    if !valid {
        return not_found(NOT_FOUND_MESSAGE).into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Gives every error response the API's JSON error shape. Handlers already answer in it;
/// this catches what the framework and its layers answer on their own (a 405 from the
/// router, a 413 from the body limit, a timeout), keeping their headers (`Allow`).
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let message = match status {
        StatusCode::NOT_FOUND => NOT_FOUND_MESSAGE,
        StatusCode::METHOD_NOT_ALLOWED => "The method is not allowed for the requested URL.",
        StatusCode::PAYLOAD_TOO_LARGE => "The request body is larger than the server accepts.",
        StatusCode::REQUEST_TIMEOUT
        | StatusCode::SERVICE_UNAVAILABLE
        | StatusCode::GATEWAY_TIMEOUT => "The request took too long to process; try again shortly.",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => UNSUPPORTED_MEDIA_TYPE_MESSAGE,
        s if s.is_server_error() => INTERNAL_MESSAGE,
        _ => "The request could not be processed.",
    };
    let (mut parts, _) = response.into_parts();
    let rendered = error_response(status, ErrorBody::new(status, message));
    parts.headers.remove(CONTENT_LENGTH);
    let (rendered_parts, body) = rendered.into_parts();
    parts.headers.extend(rendered_parts.headers);
    Response::from_parts(parts, body)
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// A request with more than one `Authorization` header is `400` on every route: which one
/// counts would otherwise depend on who reads it (the first, the last, a proxy's choice).
pub async fn refuse_repeated_authorization(request: Request, next: Next) -> Response {
    if request
        .headers()
        .get_all(AUTHORIZATION)
        .iter()
        .nth(1)
        .is_some()
    {
        return bad_request("The request has more than one Authorization header").into_response();
    }
    next.run(request).await
}

/// With CORS on, the CORS layer answers every `OPTIONS` itself; this sends an `OPTIONS` for
/// a path no route serves to `404` first, as any other method gets. `routes` is the router
/// itself, asked with an `OPTIONS` of its own: no route has an `OPTIONS` handler, so it
/// says `405` for a known path and `404` for an unknown one (or a bad id), running no
/// handler.
pub async fn options_need_a_route(
    State(routes): State<axum::Router>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() == Method::OPTIONS {
        let probe = Request::builder()
            .method(Method::OPTIONS)
            .uri(request.uri().clone())
            .body(Body::empty())
            .expect("a method and a URI already parsed make a request");
        let Ok(answer) = routes.oneshot(probe).await;
        if answer.status() == StatusCode::NOT_FOUND {
            return route_not_found().await;
        }
    }
    next.run(request).await
}

/// The router's fallback: no route matches.
pub async fn route_not_found() -> Response {
    not_found(NOT_FOUND_MESSAGE).into_response()
}

/// A panic in a handler becomes a plain `500` (its message is logged, never sent).
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = detail, "handler panicked");
    let status = StatusCode::INTERNAL_SERVER_ERROR;
    error_response(status, ErrorBody::new(status, INTERNAL_MESSAGE))
}
