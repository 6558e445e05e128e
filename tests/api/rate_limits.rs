//! Rate limits on the auth endpoints: a token bucket per endpoint and client IP
//! (`X-Forwarded-For` only from a trusted proxy): a burst, then the refill rate.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::client::{TestApp, assert_error, spawn_app, spawn_app_with};
use crate::runner::{Test, trials};

async fn login_as(app: &TestApp, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/auth/login"))
        .json(&json!({"email": "nobody@example.com", "password": "wrong-password"}));
    if let Some(ip) = forwarded_for {
        request = request.header("x-forwarded-for", ip);
    }
    request.send().await.unwrap()
}

async fn auth_posts_get_a_burst_then_retry_after() {
    // 3 a minute, and (unset) a burst of as many.
    let app = spawn_app_with(&[("RATE_LIMIT_AUTH_PER_MINUTE", "3")]).await;
    let registered = app
        .register("limited", "limited@example.com", "right-password")
        .await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    for _ in 0..3 {
        assert_eq!(
            login_as(&app, None).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let res = login_as(&app, None).await;
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // One token comes back every 20 s.
    assert!((15..=20).contains(&retry_after), "{retry_after}");
    assert_error(res, StatusCode::TOO_MANY_REQUESTS).await;
    // A correct password does not get past the limit either.
    let res = app.login("limited@example.com", "right-password").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);

    // Each endpoint has its own allowance, and other routes are not limited.
    assert_eq!(
        app.register("limited2", "limited2@example.com", "long-enough")
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.post("/auth/refresh", Some("x"), &json!({}))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    for _ in 0..10 {
        assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
    }
}

async fn the_bucket_refills_at_the_configured_rate() {
    // One a second, two at once.
    let app = spawn_app_with(&[
        ("RATE_LIMIT_AUTH_PER_MINUTE", "60"),
        ("RATE_LIMIT_AUTH_BURST", "2"),
    ])
    .await;
    for _ in 0..2 {
        assert_eq!(
            login_as(&app, None).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let res = login_as(&app, None).await;
    assert_eq!(res.headers()["retry-after"], "1");
    assert_error(res, StatusCode::TOO_MANY_REQUESTS).await;
    // A second later one token is back, and only one.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        login_as(&app, None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_as(&app, None).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // After a quiet spell the whole burst is back.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for _ in 0..2 {
        assert_eq!(
            login_as(&app, None).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_as(&app, None).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

async fn concurrent_requests_never_take_the_same_token() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_AUTH_PER_MINUTE", "1"),
        ("RATE_LIMIT_AUTH_BURST", "5"),
    ])
    .await;
    let attempts = (0..20).map(|_| login_as(&app, None));
    let statuses: Vec<StatusCode> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|res| res.status())
        .collect();
    let passed = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((passed, limited), (5, 15), "{statuses:?}");
}

async fn zero_turns_the_limit_off() {
    let app = spawn_app().await; // the test default is RATE_LIMIT_AUTH_PER_MINUTE=0
    for _ in 0..15 {
        assert_eq!(
            login_as(&app, None).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

async fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    // Untrusted peer: a spoofed X-Forwarded-For does not buy a fresh allowance.
    let app = spawn_app_with(&[("RATE_LIMIT_AUTH_PER_MINUTE", "2")]).await;
    for i in 0..2 {
        assert_eq!(
            login_as(&app, Some(&format!("198.51.100.{i}")))
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_as(&app, Some("198.51.100.99")).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    // Behind a trusted proxy (the test client on 127.0.0.1), each client has its own.
    let app = spawn_app_with(&[
        ("RATE_LIMIT_AUTH_PER_MINUTE", "2"),
        ("TRUSTED_PROXIES", "127.0.0.1,::1"),
    ])
    .await;
    for _ in 0..2 {
        assert_eq!(
            login_as(&app, Some("198.51.100.1")).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_as(&app, Some("198.51.100.1")).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_as(&app, Some("198.51.100.2")).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

pub fn tests() -> Vec<Test> {
    trials![
        auth_posts_get_a_burst_then_retry_after,
        the_bucket_refills_at_the_configured_rate,
        concurrent_requests_never_take_the_same_token,
        zero_turns_the_limit_off,
        forwarded_for_counts_only_behind_a_trusted_proxy
    ]
}
