//! One error shape for every error; malformed input of every kind is a `4xx`, never a
//! `500`, and changes nothing stored; server errors reveal nothing of the internals.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::client::{assert_error, assert_fields, json_of, spawn_app};
use crate::runner::{Test, trials};

async fn malformed_bodies_are_400_in_the_error_shape() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"not json".to_vec(),
        b"[]".to_vec(),
        b"null".to_vec(),
        b"42".to_vec(),
        b"\"string\"".to_vec(),
        b"true".to_vec(),
        b"{\"username\": }".to_vec(),
        b"{\"a\":1}{\"b\":2}".to_vec(),
        vec![0xff, 0xfe, b'{', b'}'],
        b"{\"username\": \"\\ud800\"}".to_vec(),
        deep.into_bytes(),
        b"\x00".to_vec(),
    ];
    for path in ["/auth/register", "/auth/login"] {
        for body in &bodies {
            let res = app
                .send_raw(Method::POST, path, Some("application/json"), body.clone())
                .await;
            assert_error(res, StatusCode::BAD_REQUEST).await;
        }
    }
    for body in &bodies {
        let res = app
            .client
            .patch(app.url(&format!("/users/{}", user.id)))
            .bearer_auth(&user.access)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_error(res, StatusCode::BAD_REQUEST).await;
    }
    // The account is unchanged.
    let me = json_of(
        app.get("/auth/me", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["username"], user.username.as_str());
}

async fn every_bad_field_is_named_at_once() {
    let app = spawn_app().await;
    let res = app.post("/auth/register", None, &json!({})).await;
    let body = assert_fields(res, &["email", "password", "username"]).await;
    assert_eq!(body["message"], "Validation failed");
    assert_eq!(body["fields"]["email"], json!(["is required"]));

    let res = app
        .post(
            "/auth/register",
            None,
            &json!({
                "username": "ab",
                "email": "nope",
                "password": "short",
                "role": "admin",
                "is_admin": true,
            }),
        )
        .await;
    assert_fields(res, &["email", "is_admin", "password", "role", "username"]).await;
}

async fn server_errors_never_reveal_internals() {
    // A 500 can only be provoked from inside: close the pool under a running app.
    let app = spawn_app().await;
    let user = app.create_user().await;
    app.state.db.clone().close().await.unwrap();
    let res = app.get("/auth/me", Some(&user.access)).await;
    assert!(res.status().is_server_error());
    let body = assert_error(res, StatusCode::SERVICE_UNAVAILABLE).await;
    let text = body.to_string().to_lowercase();
    let leaks = [
        "sqlx", "sea_orm", "sqlite", "postgres", "mysql", "pool", "panicked", "src/",
    ];
    for leak in leaks {
        assert!(!text.contains(leak), "{leak} in {text}");
    }
}

async fn ambiguous_bodies_are_refused() {
    let app = spawn_app().await;
    // A repeated key means different things to different parsers.
    let res = app
        .send_raw(
            Method::POST,
            "/auth/register",
            Some("application/json"),
            concat!(
                r#"{"username":"dup","email":"dup@example.com","#,
                r#""password":"long-enough","password":"other-one"}"#,
            ),
        )
        .await;
    let body = assert_error(res, StatusCode::BAD_REQUEST).await;
    assert!(
        body["message"].as_str().unwrap().contains("duplicate key"),
        "{body}"
    );
    // Compressed bodies are not accepted.
    let res = app
        .client
        .post(app.url("/auth/login"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(r#"{"email":"a@example.com","password":"whatever-pass"}"#)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    // Two Content-Type headers.
    let res = app
        .client
        .post(app.url("/auth/login"))
        .header("content-type", "application/json")
        .header("content-type", "text/plain")
        .body(r#"{"email":"a@example.com","password":"whatever-pass"}"#)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST).await;
    // Invisible characters make look-alike addresses.
    let res = app
        .register("lookalike", "alice@example.com\u{200B}", "long-enough")
        .await;
    assert_fields(res, &["email"]).await;
}

pub fn tests() -> Vec<Test> {
    trials![
        malformed_bodies_are_400_in_the_error_shape,
        every_bad_field_is_named_at_once,
        server_errors_never_reveal_internals,
        ambiguous_bodies_are_refused
    ]
}
