//! Contract section 2 and 8: one error shape; malformed input of every kind is a `4xx`,
//! never a `500`, and nothing stored is changed by it.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{assert_error, assert_fields, json_of, spawn_app};

crate::tests! {
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
            .post("/auth/register", None, &json!({"username": "ab", "email": "nope", "password": "short", "role": "admin", "is_admin": true}))
            .await;
        assert_fields(res, &["email", "is_admin", "password", "role", "username"]).await;
    }

    async fn the_worst_value_of_each_field_is_a_400() {
        let app = spawn_app().await;
        let worst: Vec<Value> = vec![
            Value::Null,
            json!(12345678),
            json!(1.5),
            json!(true),
            json!([]),
            json!({}),
            json!(["a"]),
            json!(""),
            json!("a\u{0}bc-def-ghi"),
            json!("x".repeat(100_000)),
        ];
        let valid = json!({"username": "valid_user", "email": "valid@example.com", "password": "a-fine-password"});
        for field in ["username", "email", "password"] {
            for value in &worst {
                let mut body = valid.clone();
                body[field] = value.clone();
                let res = app.post("/auth/register", None, &body).await;
                assert_fields(res, &[field]).await;
            }
        }
        for (field, value) in [
            ("username", json!("has space")),
            ("username", json!("semi;colon")),
            ("username", json!("per%cent")),
            ("username", json!("under_score' OR 1=1 --")),
            ("username", json!("émile")),
            ("username", json!("😀😀😀")),
            ("email", json!("no-at-sign")),
            ("email", json!("a@")),
            ("email", json!(format!("{}@example.com", "a".repeat(120)))),
            ("password", json!("1234567")),
            ("password", json!("x".repeat(1025))),
        ] {
            let mut body = valid.clone();
            body[field] = value;
            let res = app.post("/auth/register", None, &body).await;
            assert_fields(res, &[field]).await;
        }
        // Nothing was created by any of it.
        let admin = app.create_admin().await;
        let list = json_of(app.get("/users", Some(&admin.access)).await, StatusCode::OK).await;
        assert_eq!(list["total"], 1);
    }

    async fn sql_and_wildcard_characters_are_just_data() {
        let app = spawn_app().await;
        let user = app.create_user().await;
        for q in [
            "'",
            "\"",
            "' OR '1'='1",
            "%",
            "_",
            "\\",
            "%_%",
            "; DROP TABLE users; --",
            "😀",
            "\u{202e}",
        ] {
            let res = app
                .client
                .get(app.url("/users"))
                .query(&[("q", q)])
                .bearer_auth(&user.access)
                .send()
                .await
                .unwrap();
            let body = json_of(res, StatusCode::OK).await;
            assert_eq!(body["total"], 0, "q={q}");
        }
        let res = app
            .client
            .get(app.url("/users"))
            .query(&[("q", "a\u{0}b")])
            .bearer_auth(&user.access)
            .send()
            .await
            .unwrap();
        assert_fields(res, &["q"]).await;
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
        for leak in ["sqlx", "sqlite", "pool", "panicked", "src/"] {
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
                r#"{"username":"dup","email":"dup@example.com","password":"long-enough","password":"other-one"}"#,
            )
            .await;
        let body = assert_error(res, StatusCode::BAD_REQUEST).await;
        assert!(body["message"].as_str().unwrap().contains("duplicate key"), "{body}");
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
        let res = app.register("lookalike", "alice@example.com\u{200B}", "long-enough").await;
        assert_fields(res, &["email"]).await;
    }

    async fn endpoints_without_a_body_refuse_one() {
        let app = spawn_app().await;
        let user = app.create_user().await;
        for (path, token) in [("/auth/refresh", &user.refresh), ("/auth/logout", &user.refresh), ("/auth/logout-all", &user.access)] {
            let res = app.client.post(app.url(path)).bearer_auth(token).header("content-type", "text/plain").body("garbage").send().await.unwrap();
            assert_error(res, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
            let res = app.send_raw(Method::POST, path, Some("application/json"), "[1]").await;
            assert!(res.status().is_client_error());
            let res = app.client.post(app.url(path)).bearer_auth(token).json(&json!({"x": 1})).send().await.unwrap();
            assert_fields(res, &["x"]).await;
            let res = app.client.post(app.url(path)).bearer_auth(token).header("content-type", "application/json").body("{").send().await.unwrap();
            assert_error(res, StatusCode::BAD_REQUEST).await;
        }
        // Nothing above used or revoked the tokens; an empty object is fine.
        let res = app.client.post(app.url("/auth/refresh")).bearer_auth(&user.refresh).json(&json!({})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
}
