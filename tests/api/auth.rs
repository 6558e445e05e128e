//! `/auth/*`: registration, login, refresh tokens (rotation, reuse, families), logout,
//! password change, and the tokens themselves (forged, expired, of a deleted user).

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::client::{assert_error, assert_fields, json_of, spawn_app, spawn_app_with, unique};
use crate::runner::{Test, trials};

fn forge(header: &str, payload: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        signature
    )
}

fn sign_hs256(secret: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}

async fn register_returns_the_user_without_secrets() {
    let app = spawn_app().await;
    let res = app
        .register("Erin.Smith-1", "Erin@Example.COM", "a-long-password")
        .await;
    let user = json_of(res, StatusCode::CREATED).await;
    assert_eq!(user["username"], "Erin.Smith-1");
    assert_eq!(user["email"], "erin@example.com", "stored lower-cased");
    assert_eq!(user["role"], "user");
    assert_eq!(
        user["email_verified"], false,
        "nobody has followed a link yet"
    );
    assert!(user["id"].as_i64().unwrap() > 0);
    let keys: Vec<&String> = user.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "id",
            "username",
            "email",
            "email_verified",
            "role",
            "created_at",
            "updated_at"
        ]
    );
    assert!(!user.to_string().contains("argon2"));
}

async fn register_ignores_read_only_fields_and_refuses_role() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/auth/register",
            None,
            &json!({
                "username": "frank",
                "email": "frank@example.com",
                "password": "a-long-password",
                "id": 999,
                "created_at": "2000-01-01T00:00:00Z",
                "updated_at": "x",
            }),
        )
        .await;
    let user = json_of(res, StatusCode::CREATED).await;
    assert_ne!(user["id"], 999);
    // Timestamps are written with milliseconds: compare the date, not the text as sent.
    let created_at = user["created_at"].as_str().unwrap();
    assert!(!created_at.starts_with("2000-01-01"), "{created_at}");
    assert_ne!(user["updated_at"], "x");
    let res = app
        .post(
            "/auth/register",
            None,
            &json!({
                "username": "grace",
                "email": "grace@example.com",
                "password": "a-long-password",
                "role": "admin",
            }),
        )
        .await;
    assert_fields(res, &["role"]).await;
}

async fn email_and_username_are_unique_case_insensitively() {
    let app = spawn_app().await;
    assert_eq!(
        app.register("heidi", "heidi@example.com", "a-long-password")
            .await
            .status(),
        StatusCode::CREATED
    );
    let res = app
        .register("heidi2", "HEIDI@example.com", "a-long-password")
        .await;
    let body = assert_error(res, StatusCode::CONFLICT).await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("email"),
        "{body}"
    );
    let res = app
        .register("HeiDi", "other@example.com", "a-long-password")
        .await;
    let body = assert_error(res, StatusCode::CONFLICT).await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("username"),
        "{body}"
    );
}

async fn twenty_concurrent_registrations_of_one_email_give_one_201() {
    let app = spawn_app().await;
    let attempts = (0..20).map(|i| {
        let app = &app;
        async move {
            app.register(&format!("racer{i}"), "race@example.com", "a-long-password")
                .await
                .status()
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 19), "{statuses:?}");
}

async fn concurrent_registrations_of_one_username_give_one_201() {
    let app = spawn_app().await;
    let attempts = (0..10).map(|i| {
        let app = &app;
        async move {
            app.register(
                "samename",
                &format!("same{i}@example.com"),
                "a-long-password",
            )
            .await
            .status()
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
}

async fn login_returns_a_bearer_pair_and_matches_email_case_insensitively() {
    let app = spawn_app().await;
    app.register("ivan", "ivan@example.com", "a-long-password")
        .await;
    let res = app.login("IVAN@Example.com", "a-long-password").await;
    let pair = json_of(res, StatusCode::OK).await;
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    let access = pair["access_token"].as_str().unwrap();
    let me = json_of(app.get("/auth/me", Some(access)).await, StatusCode::OK).await;
    assert_eq!(me["username"], "ivan");
    assert_eq!(me["email"], "ivan@example.com");
}

async fn bad_credentials_are_one_indistinguishable_401() {
    let app = spawn_app().await;
    app.register("judy", "judy@example.com", "a-long-password")
        .await;
    let wrong_password = assert_error(
        app.login("judy@example.com", "wrong-password").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let unknown_email = assert_error(
        app.login("nobody@example.com", "a-long-password").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(wrong_password, unknown_email);
    assert_eq!(wrong_password["message"], "Invalid credentials");
    for body in [
        json!({"email": "judy@example.com", "password": ""}),
        json!({"email": "not an email", "password": "a-long-password"}),
        json!({"email": "judy@example.com", "password": "x".repeat(5000)}),
    ] {
        assert_error(
            app.post("/auth/login", None, &body).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    assert_fields(
        app.post("/auth/login", None, &json!({"email": "judy@example.com"}))
            .await,
        &["password"],
    )
    .await;
    assert_fields(
        app.post("/auth/login", None, &json!({"email": 5, "password": null}))
            .await,
        &["email", "password"],
    )
    .await;
}

async fn login_takes_about_as_long_for_an_unknown_email_as_for_a_wrong_password() {
    let app = spawn_app().await;
    app.register("mallory", "mallory@example.com", "a-long-password")
        .await;
    // Warm up (the dummy hash is made on first use).
    app.login("warm@example.com", "whatever-password").await;
    // Medians of alternating samples: robust to a noisy machine (tests run in parallel).
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..9 {
        let started = Instant::now();
        app.login("mallory@example.com", "wrong-password").await;
        known.push(started.elapsed());
        let started = Instant::now();
        app.login("nobody@example.com", "wrong-password").await;
        unknown.push(started.elapsed());
    }
    known.sort();
    unknown.sort();
    let (known, unknown) = (known[4], unknown[4]);
    let ratio = known.as_secs_f64() / unknown.as_secs_f64();
    // Both pay one Argon2id verification (~15 ms); an unknown email answered without it
    // would take well under a millisecond, a ratio beyond 10.
    assert!(
        (1.0 / 3.0..3.0).contains(&ratio),
        "known {known:?} vs unknown {unknown:?}"
    );
}

async fn passwords_are_stored_as_argon2id() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let stored = larch::users::queries::find_by_id(&app.state.db, user.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored
            .password_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
    );
    assert!(!stored.password_hash.contains(&user.password));
}

async fn refresh_rotates_and_the_old_token_stops_working() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let pair = json_of(
        app.post("/auth/refresh", Some(&user.refresh), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    let new_refresh = pair["refresh_token"].as_str().unwrap();
    assert_ne!(new_refresh, user.refresh);
    let access = pair["access_token"].as_str().unwrap();
    assert_eq!(
        app.get("/auth/me", Some(access)).await.status(),
        StatusCode::OK
    );
    // Chains: the new one works once.
    let next = json_of(
        app.post("/auth/refresh", Some(new_refresh), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(next["refresh_token"].is_string());
}

async fn reusing_a_refresh_token_revokes_its_whole_family() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    // A second, independent login (another device) must survive.
    let other_device = json_of(app.login(&user.email, &user.password).await, StatusCode::OK).await;
    let other_refresh = other_device["refresh_token"].as_str().unwrap().to_owned();

    let pair = json_of(
        app.post("/auth/refresh", Some(&user.refresh), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let descendant = pair["refresh_token"].as_str().unwrap().to_owned();
    // The thief replays the used token: 401, and the legitimate descendant dies too.
    assert_error(
        app.post("/auth/refresh", Some(&user.refresh), &json!({}))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_error(
        app.post("/auth/refresh", Some(&descendant), &json!({}))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(
        app.post("/auth/refresh", Some(&other_refresh), &json!({}))
            .await
            .status(),
        StatusCode::OK
    );
}

async fn concurrent_uses_of_one_refresh_token_give_at_most_one_success() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let attempts = (0..8).map(|_| {
        let app = &app;
        let token = user.refresh.clone();
        async move {
            app.post("/auth/refresh", Some(&token), &json!({}))
                .await
                .status()
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    assert!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count() <= 1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
}

async fn access_and_refresh_tokens_are_not_interchangeable() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    assert_error(
        app.get("/auth/me", Some(&user.refresh)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_error(
        app.post("/auth/refresh", Some(&user.access), &json!({}))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_error(
        app.post("/auth/logout", Some(&user.access), &json!({}))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_error(
        app.post("/auth/logout-all", Some(&user.refresh), &json!({}))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

async fn forged_and_malformed_tokens_are_401() {
    let secret = "a-test-secret-that-is-long-enough-0123456789";
    let app = spawn_app_with(&[("JWT_SECRET_KEY", secret)]).await;
    let user = app.create_user().await;
    let now = chrono::Utc::now().timestamp();
    // The session the genuine token names: forged tokens below name it too.
    let genuine: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(user.access.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let claims = json!({
        "sub": user.id.to_string(),
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "j",
        "type": "access",
        "sid": genuine["sid"],
    });

    // Sanity: the same claims signed with the right key work, so the refusals below are
    // about the signature and header, not the claims.
    assert_eq!(
        app.get("/auth/me", Some(&sign_hs256(secret.as_bytes(), &claims)))
            .await
            .status(),
        StatusCode::OK
    );

    let payload_of_genuine = user.access.split('.').nth(1).unwrap().to_owned();
    let tokens = vec![
        sign_hs256(b"another-key-another-key-another-key!!", &claims),
        forge(r#"{"alg":"none","typ":"JWT"}"#, &claims, ""),
        forge(r#"{"alg":"None","typ":"JWT"}"#, &claims, ""),
        forge(
            r#"{"alg":"HS512","typ":"JWT"}"#,
            &claims,
            user.access.split('.').nth(2).unwrap(),
        ),
        forge(r#"{"alg":"RS256","typ":"JWT"}"#, &claims, "c2ln"),
        format!(
            "{}.{}.",
            user.access.split('.').next().unwrap(),
            payload_of_genuine
        ),
        "not-a-jwt".to_owned(),
        "a.b.c".to_owned(),
        "....".to_owned(),
        "x".repeat(10_000),
    ];
    for token in &tokens {
        assert_error(
            app.get("/auth/me", Some(token)).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    // Tampered payload with the original signature.
    let mut tampered = claims.clone();
    tampered["sub"] = json!("1");
    tampered["role"] = json!("admin");
    let token = format!(
        "{}.{}.{}",
        user.access.split('.').next().unwrap(),
        URL_SAFE_NO_PAD.encode(tampered.to_string()),
        user.access.split('.').nth(2).unwrap()
    );
    assert_error(
        app.get("/auth/me", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    for header in [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token abc",
        &format!("bearer{}", user.access),
        "",
        "Bearer a b",
    ] {
        let res = app
            .client
            .get(app.url("/auth/me"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_error(res, StatusCode::UNAUTHORIZED).await;
    }
    // The scheme is case-insensitive.
    let res = app
        .client
        .get(app.url("/auth/me"))
        .header("authorization", format!("bearer {}", user.access))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

async fn expired_tokens_are_401() {
    let secret = "a-test-secret-that-is-long-enough-0123456789";
    let app = spawn_app_with(&[("JWT_SECRET_KEY", secret)]).await;
    let user = app.create_user().await;
    let now = chrono::Utc::now().timestamp();
    let expired = json!({
        "sub": user.id.to_string(),
        "iat": now - 3600,
        "nbf": now - 3600,
        "exp": now - 60,
        "jti": "j",
        "type": "access",
    });
    let body = assert_error(
        app.get("/auth/me", Some(&sign_hs256(secret.as_bytes(), &expired)))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(body["message"], "Token has expired");
    // Missing claims.
    let no_exp = json!({"sub": user.id.to_string(), "iat": now, "nbf": now, "type": "access"});
    assert_error(
        app.get("/auth/me", Some(&sign_hs256(secret.as_bytes(), &no_exp)))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    for sub in [
        json!("0"),
        json!("-1"),
        json!("abc"),
        json!(user.id),
        json!("99999999999999999999"),
    ] {
        let claims = json!({
            "sub": sub,
            "iat": now,
            "nbf": now,
            "exp": now + 60,
            "jti": "j",
            "type": "access",
        });
        assert_error(
            app.get("/auth/me", Some(&sign_hs256(secret.as_bytes(), &claims)))
                .await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
}

async fn short_lifetimes_are_configurable_and_enforced() {
    let app = spawn_app_with(&[
        ("JWT_ACCESS_TOKEN_EXPIRES", "1"),
        ("JWT_REFRESH_TOKEN_EXPIRES", "1"),
    ])
    .await;
    let user = app.create_user().await;
    let pair = json_of(app.login(&user.email, &user.password).await, StatusCode::OK).await;
    assert_eq!(pair["expires_in"], 1);
    // Used while valid, so the server keeps it as verified: its expiry still holds.
    assert_eq!(
        app.get("/auth/me", Some(&user.access)).await.status(),
        StatusCode::OK
    );
    // Past the lifetime and the leeway of a few seconds.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let refused = assert_error(
        app.get("/auth/me", Some(&user.access)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(refused["message"], "Token has expired");
    assert_error(
        app.post("/auth/refresh", Some(&user.refresh), &json!({}))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

async fn a_deleted_users_tokens_stop_working() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    assert_eq!(
        app.delete(&format!("/users/{}", user.id), Some(&user.access))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        app.get("/auth/me", Some(&user.access)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_error(
        app.post("/auth/refresh", Some(&user.refresh), &json!({}))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // The id is never reused, so an old token cannot reach a newer account.
    let newer = app.create_user().await;
    assert!(newer.id > user.id);
}

async fn logout_revokes_the_presented_token_and_its_family() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let rotated = json_of(
        app.post("/auth/refresh", Some(&user.refresh), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let current = rotated["refresh_token"].as_str().unwrap().to_owned();
    let other = json_of(app.login(&user.email, &user.password).await, StatusCode::OK).await;

    let res = app.post("/auth/logout", Some(&current), &json!({})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(res.bytes().await.unwrap().is_empty());
    assert_error(
        app.post("/auth/refresh", Some(&current), &json!({})).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_error(
        app.post("/auth/logout", Some(&current), &json!({})).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // Another login's tokens are untouched.
    let other_refresh = other["refresh_token"].as_str().unwrap();
    let other_rotated = json_of(
        app.post("/auth/refresh", Some(other_refresh), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let other_current = other_rotated["refresh_token"].as_str().unwrap();
    // Logout needs no body (nor a content type).
    let res = app
        .client
        .post(app.url("/auth/logout"))
        .bearer_auth(other_current)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.post("/auth/refresh", Some(other_current), &json!({}))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

async fn logout_all_revokes_every_refresh_token_of_the_user() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let bystander = app.create_user().await;
    let second = json_of(app.login(&user.email, &user.password).await, StatusCode::OK).await;
    let res = app
        .client
        .post(app.url("/auth/logout-all"))
        .bearer_auth(&user.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.post("/auth/refresh", Some(&user.refresh), &json!({}))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_error(
        app.post(
            "/auth/refresh",
            Some(second["refresh_token"].as_str().unwrap()),
            &json!({}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(
        app.post("/auth/refresh", Some(&bystander.refresh), &json!({}))
            .await
            .status(),
        StatusCode::OK
    );
    // A new login works.
    assert_eq!(
        app.login(&user.email, &user.password).await.status(),
        StatusCode::OK
    );
}

async fn password_change_needs_the_current_password_and_revokes_refresh_tokens() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let path = "/auth/password";

    let res = app
        .put(
            path,
            Some(&user.access),
            &json!({"current_password": "wrong-password", "new_password": "brand-new-password"}),
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN).await;
    assert_eq!(
        app.login(&user.email, &user.password).await.status(),
        StatusCode::OK,
        "nothing changed"
    );

    assert_fields(
        app.put(
            path,
            Some(&user.access),
            &json!({"current_password": user.password, "new_password": "short"}),
        )
        .await,
        &["new_password"],
    )
    .await;
    assert_fields(
        app.put(path, Some(&user.access), &json!({})).await,
        &["current_password", "new_password"],
    )
    .await;
    let extra = json!({
        "current_password": user.password,
        "new_password": "brand-new-password",
        "x": 1,
    });
    assert_fields(app.put(path, Some(&user.access), &extra).await, &["x"]).await;
    assert_error(
        app.put(
            path,
            None,
            &json!({"current_password": user.password, "new_password": "brand-new-password"}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    let res = app
        .put(
            path,
            Some(&user.access),
            &json!({"current_password": user.password, "new_password": "brand-new-password"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.login(&user.email, &user.password).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(
        app.login(&user.email, "brand-new-password").await.status(),
        StatusCode::OK
    );
    assert_error(
        app.post("/auth/refresh", Some(&user.refresh), &json!({}))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

async fn password_min_length_is_configurable() {
    let app = spawn_app_with(&[("PASSWORD_MIN_LENGTH", "12")]).await;
    let name = unique("kate");
    let res = app
        .register(&name, &format!("{name}@example.com"), "elevenchars")
        .await;
    let body = assert_fields(res, &["password"]).await;
    assert_eq!(
        body["fields"]["password"],
        json!(["must be at least 12 characters long"])
    );
    assert_eq!(
        app.register(&name, &format!("{name}@example.com"), "twelve-chars")
            .await
            .status(),
        StatusCode::CREATED
    );
}

async fn me_requires_an_access_token() {
    let app = spawn_app().await;
    let body = assert_error(app.get("/auth/me", None).await, StatusCode::UNAUTHORIZED).await;
    assert!(body["message"].as_str().unwrap().contains("Authorization"));
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
    let valid = json!({
        "username": "valid_user",
        "email": "valid@example.com",
        "password": "a-fine-password",
    });
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

async fn endpoints_without_a_body_refuse_one() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    for (path, token) in [
        ("/auth/refresh", &user.refresh),
        ("/auth/logout", &user.refresh),
        ("/auth/logout-all", &user.access),
    ] {
        let res = app
            .client
            .post(app.url(path))
            .bearer_auth(token)
            .header("content-type", "text/plain")
            .body("garbage")
            .send()
            .await
            .unwrap();
        assert_error(res, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
        let res = app
            .client
            .post(app.url(path))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body("[1]")
            .send()
            .await
            .unwrap();
        assert_error(res, StatusCode::BAD_REQUEST).await;
        let res = app
            .client
            .post(app.url(path))
            .bearer_auth(token)
            .json(&json!({"x": 1}))
            .send()
            .await
            .unwrap();
        assert_fields(res, &["x"]).await;
        let res = app
            .client
            .post(app.url(path))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await
            .unwrap();
        assert_error(res, StatusCode::BAD_REQUEST).await;
    }
    // Nothing above used or revoked the tokens; an empty object is fine.
    let res = app
        .client
        .post(app.url("/auth/refresh"))
        .bearer_auth(&user.refresh)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

/// Spellings of one mailbox (full-width letters, ideographic full stops, case, decomposed
/// accents) are one address: a second account is `409`, and any spelling logs in.
async fn one_mailbox_is_one_account_however_it_is_spelled() {
    let app = spawn_app().await;
    let res = app
        .register("admin1", "Admin@Example.com", "correct-horse-battery")
        .await;
    assert_eq!(
        json_of(res, StatusCode::CREATED).await["email"],
        "admin@example.com"
    );
    for spelling in [
        "admin@ｅｘａｍｐｌｅ.com",
        "admin@example。com",
        "admin@example．com",
        "ADMIN@EXAMPLE.COM",
        "admin@ｅｘａｍｐｌｅ。ｃｏｍ",
    ] {
        let res = app
            .register(&unique("again"), spelling, "correct-horse-battery")
            .await;
        let body = assert_error(res, StatusCode::CONFLICT).await;
        assert_eq!(body["message"], "Email already registered", "{spelling}");
        let res = app.login(spelling, "correct-horse-battery").await;
        assert_eq!(res.status(), StatusCode::OK, "login as {spelling}");
    }
    // An internationalised domain is stored in its ASCII form; its NFC (ü) and NFD
    // (u + combining diaeresis) spellings are the same address.
    let res = app
        .register(
            "buecher",
            "leser@B\u{fc}cher.example",
            "correct-horse-battery",
        )
        .await;
    assert_eq!(
        json_of(res, StatusCode::CREATED).await["email"],
        "leser@xn--bcher-kva.example"
    );
    let res = app
        .register(
            "buecher2",
            "leser@bu\u{308}cher.example",
            "correct-horse-battery",
        )
        .await;
    assert_error(res, StatusCode::CONFLICT).await;
    let res = app
        .login("leser@bu\u{308}cher.example", "correct-horse-battery")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

pub fn tests() -> Vec<Test> {
    trials![
        register_returns_the_user_without_secrets,
        register_ignores_read_only_fields_and_refuses_role,
        email_and_username_are_unique_case_insensitively,
        twenty_concurrent_registrations_of_one_email_give_one_201,
        concurrent_registrations_of_one_username_give_one_201,
        login_returns_a_bearer_pair_and_matches_email_case_insensitively,
        bad_credentials_are_one_indistinguishable_401,
        login_takes_about_as_long_for_an_unknown_email_as_for_a_wrong_password,
        passwords_are_stored_as_argon2id,
        refresh_rotates_and_the_old_token_stops_working,
        reusing_a_refresh_token_revokes_its_whole_family,
        concurrent_uses_of_one_refresh_token_give_at_most_one_success,
        access_and_refresh_tokens_are_not_interchangeable,
        forged_and_malformed_tokens_are_401,
        expired_tokens_are_401,
        short_lifetimes_are_configurable_and_enforced,
        a_deleted_users_tokens_stop_working,
        logout_revokes_the_presented_token_and_its_family,
        logout_all_revokes_every_refresh_token_of_the_user,
        password_change_needs_the_current_password_and_revokes_refresh_tokens,
        password_min_length_is_configurable,
        me_requires_an_access_token,
        the_worst_value_of_each_field_is_a_400,
        endpoints_without_a_body_refuse_one,
        one_mailbox_is_one_account_however_it_is_spelled,
    ]
}
