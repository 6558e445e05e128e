//! The tutorial's `tests/test_auth.py`, ported (with an 8+ character password where it
//! used "pass", which larch's password rule refuses).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::client::spawn_app;
use crate::runner::{Test, trials};

async fn test_register_success() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/auth/register",
            None,
            &json!({
                "username": "alice",
                "email": "alice@example.com",
                "password": "securepass123",
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let data: Value = res.json().await.unwrap();
    assert_eq!(data["email"], "alice@example.com");
    assert!(data.get("password").is_none(), "never leak hashed password");
}

async fn test_register_duplicate_email() {
    let app = spawn_app().await;
    let payload = json!({"username": "bob", "email": "bob@test.com", "password": "password"});
    app.post("/auth/register", None, &payload).await;
    let res = app.post("/auth/register", None, &payload).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
}

async fn test_login_returns_tokens() {
    let app = spawn_app().await;
    app.post(
        "/auth/register",
        None,
        &json!({"username": "carol", "email": "carol@test.com", "password": "mypassword"}),
    )
    .await;
    let res = app
        .post(
            "/auth/login",
            None,
            &json!({"email": "carol@test.com", "password": "mypassword"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let data: Value = res.json().await.unwrap();
    assert!(data.get("access_token").is_some());
    assert!(data.get("refresh_token").is_some());
}

async fn test_protected_route_without_token() {
    let app = spawn_app().await;
    let res = app.get("/auth/me", None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

pub fn tests() -> Vec<Test> {
    trials![
        test_register_success,
        test_register_duplicate_email,
        test_login_returns_tokens,
        test_protected_route_without_token
    ]
}
