//! Conventions that hold for every route: JSON with security headers and a request id,
//! trailing slashes, ids in paths, unknown routes and methods, request bodies (content
//! type, size limit, timeout), timestamps, CORS.

use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::{TestApp, assert_error, json_of, spawn_app, spawn_app_with};
use crate::runner::{Test, trials};

async fn spawn_app_with_limit() -> TestApp {
    spawn_app_with(&[("BODY_LIMIT_BYTES", "256")]).await
}

async fn responses_are_json_with_security_headers_and_a_request_id() {
    let app = spawn_app().await;
    let res = app.get("/healthz", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let headers = res.headers();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    let id = headers["x-request-id"].to_str().unwrap();
    assert!(!id.is_empty() && id.len() <= 128);
    assert!(
        headers.get("access-control-allow-origin").is_none(),
        "CORS is off by default"
    );
}

async fn a_clients_request_id_is_echoed_when_well_formed() {
    let app = spawn_app().await;
    for good in ["abc-123", "a", "trace:1.2_3-x", &"x".repeat(128)] {
        let res = app
            .client
            .get(app.url("/healthz"))
            .header("x-request-id", good)
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["x-request-id"], good);
    }
    for bad in ["", "has space", "semi;colon", &"x".repeat(129), "ünïcode"] {
        let res = app
            .client
            .get(app.url("/healthz"))
            .header("x-request-id", bad)
            .send()
            .await
            .unwrap();
        let echoed = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(echoed, bad);
        assert!(!echoed.is_empty() && echoed.len() <= 128);
    }
    // Errors carry it too.
    let res = app
        .client
        .get(app.url("/nowhere"))
        .header("x-request-id", "err-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "err-1");
}

async fn paths_work_with_and_without_a_trailing_slash() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    for path in ["/users", "/users/", "/auth/me/", "/users/profile/"] {
        let res = app.get(path, Some(&user.access)).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
    let res = app
        .get(&format!("/users/{}/", user.id), Some(&user.access))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .post(
            "/auth/login/",
            None,
            &json!({"email": user.email, "password": user.password}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

async fn ids_that_are_not_positive_64_bit_integers_are_404() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    for id in [
        "abc",
        "0",
        "-1",
        "99999999999999999999",
        "1.0",
        "%20",
        "1e3",
        "9223372036854775808",
        "%F0%9F%98%80",
        "%FF",
    ] {
        let res = app.get(&format!("/users/{id}"), Some(&user.access)).await;
        assert_error(res, StatusCode::NOT_FOUND).await;
        let res = app
            .delete(&format!("/users/{id}"), Some(&user.access))
            .await;
        assert_error(res, StatusCode::NOT_FOUND).await;
    }
    let res = app
        .get("/users/9223372036854775807", Some(&user.access))
        .await;
    let body = assert_error(res, StatusCode::NOT_FOUND).await;
    assert_eq!(body["message"], "User 9223372036854775807 not found");
}

async fn unknown_routes_are_404_and_wrong_methods_405_with_allow() {
    let app = spawn_app().await;
    for path in ["/", "/nope", "/users/1/nothing", "/auth", "/auth/unknown"] {
        assert_error(app.get(path, None).await, StatusCode::NOT_FOUND).await;
    }
    let res = app.request(Method::DELETE, "/auth/login", None, None).await;
    let allow = res.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("POST"), "{allow}");
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED).await;

    let res = app
        .request(Method::POST, "/users/1", None, Some(&json!({})))
        .await;
    let allow = res.headers()["allow"].to_str().unwrap().to_owned();
    for method in ["GET", "PUT", "PATCH", "DELETE"] {
        assert!(allow.contains(method), "{allow}");
    }
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED).await;

    let res = app.request(Method::GET, "/auth/login", None, None).await;
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED).await;
}

async fn bodies_must_be_json() {
    let app = spawn_app().await;
    let valid = r#"{"username":"dave","email":"dave@example.com","password":"long-enough"}"#;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
        Some("multipart/form-data; boundary=x"),
    ] {
        let res = app
            .send_raw(Method::POST, "/auth/register", content_type, valid)
            .await;
        assert_error(res, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    }
    // JSON in any charset but UTF-8 is refused rather than misread.
    for content_type in [
        "application/json; charset=latin1",
        "application/json; charset=ISO-8859-1",
        "application/json;charset=\"utf-16\"",
    ] {
        let res = app
            .send_raw(Method::POST, "/auth/register", Some(content_type), valid)
            .await;
        let body = assert_error(res, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
        assert!(
            body["message"].as_str().unwrap().contains("UTF-8"),
            "{body}"
        );
    }
    let res = app
        .send_raw(
            Method::POST,
            "/auth/register",
            Some("application/json; charset=UTF-8"),
            valid,
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

async fn two_authorization_headers_are_400() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let bearer = format!("Bearer {}", user.access);
    for (path, second) in [
        ("/auth/me", bearer.as_str()),
        ("/auth/me", "Bearer not-a-token"),
        ("/users/profile", "Basic dXNlcjpwYXNz"),
        ("/posts", bearer.as_str()),
    ] {
        let res = app
            .client
            .get(app.url(path))
            .header("authorization", &bearer)
            .header("authorization", second)
            .send()
            .await
            .unwrap();
        let body = assert_error(res, StatusCode::BAD_REQUEST).await;
        assert!(
            body["message"].as_str().unwrap().contains("Authorization"),
            "{body}"
        );
    }
    // One is fine.
    let res = app.get("/auth/me", Some(&user.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
}

async fn bodies_over_the_limit_are_413() {
    let app = spawn_app().await;
    let big = format!(
        r#"{{"username":"x","email":"{}","password":"p"}}"#,
        "a".repeat(1_100_000)
    );
    let res = app
        .send_raw(
            Method::POST,
            "/auth/register",
            Some("application/json"),
            big,
        )
        .await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE).await;

    // Configurable.
    let small = spawn_app_with_limit().await;
    let body =
        json!({"username": "someone", "email": "someone@example.com", "password": "x".repeat(300)});
    let res = small.post("/auth/register", None, &body).await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE).await;
}

async fn timestamps_are_rfc3339_utc_with_z() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let me = json_of(
        app.get("/auth/me", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    for key in ["created_at", "updated_at"] {
        let text = me[key].as_str().unwrap();
        assert!(text.ends_with('Z'), "{text}");
        assert_eq!(text.len(), "2026-05-28T10:15:30.123Z".len(), "{text}");
        chrono::DateTime::parse_from_rfc3339(text).unwrap();
    }
}

async fn cors_allows_exactly_the_configured_origins() {
    let app = spawn_app_with(&[(
        "CORS_ORIGINS",
        "https://app.example.com, https://admin.example.com",
    )])
    .await;
    let allowed = app
        .client
        .request(Method::OPTIONS, app.url("/auth/login"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,authorization",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let other = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());

    // A preflight needs a route like any request: an unknown path (or a bad id) is 404.
    let preflight = |path: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url(path))
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "GET")
            .send()
    };
    for path in ["/nowhere", "/users/abc", "/posts/1/comments", "/"] {
        assert_error(preflight(path).await.unwrap(), StatusCode::NOT_FOUND).await;
    }
    for path in ["/posts", "/posts/1", "/users/1/posts/", "/docs"] {
        let res = preflight(path).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(
            res.headers()["access-control-allow-origin"],
            "https://app.example.com"
        );
    }
}

async fn bad_ids_are_404_before_authentication_and_method_checks() {
    let app = spawn_app().await;
    for path in [
        "/users/abc",
        "/users/0",
        "/users/-1",
        "/users/99999999999999999999",
    ] {
        assert_error(app.get(path, None).await, StatusCode::NOT_FOUND).await;
        assert_error(app.delete(path, None).await, StatusCode::NOT_FOUND).await;
        assert_error(
            app.post(path, None, &json!({})).await,
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    // A valid id on a known route still gets 401 without a token, and 405 for POST.
    assert_error(app.get("/users/1", None).await, StatusCode::UNAUTHORIZED).await;
    assert_error(
        app.post("/users/1", None, &json!({})).await,
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
}

async fn a_slow_request_times_out_in_the_error_shape() {
    // A client that sends half its body and stalls is cut off after REQUEST_TIMEOUT_SECONDS.
    let app = spawn_app_with(&[("REQUEST_TIMEOUT_SECONDS", "1")]).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let started = std::time::Instant::now();
    let half = concat!(
        "POST /auth/login HTTP/1.1\r\n",
        "Host: x\r\n",
        "Content-Type: application/json\r\n",
        "Content-Length: 100\r\n",
        "\r\n",
        r#"{"email":"#,
    );
    stream.write_all(half.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut response),
    )
    .await;
    let response = String::from_utf8_lossy(&response);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(response.contains(r#""status":503"#), "{response}");
}

pub fn tests() -> Vec<Test> {
    trials![
        responses_are_json_with_security_headers_and_a_request_id,
        a_clients_request_id_is_echoed_when_well_formed,
        paths_work_with_and_without_a_trailing_slash,
        ids_that_are_not_positive_64_bit_integers_are_404,
        unknown_routes_are_404_and_wrong_methods_405_with_allow,
        bodies_must_be_json,
        two_authorization_headers_are_400,
        bodies_over_the_limit_are_413,
        timestamps_are_rfc3339_utc_with_z,
        cors_allows_exactly_the_configured_origins,
        bad_ids_are_404_before_authentication_and_method_checks,
        a_slow_request_times_out_in_the_error_shape
    ]
}
