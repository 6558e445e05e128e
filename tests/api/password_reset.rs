//! `/auth/password-reset`, `/auth/password-reset/confirm` and `/users/{id}/password-reset`:
//! "forgot my password" through a real SMTP server, on every backend.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::client::{
    TestApp, TestUser, assert_error, assert_fields, json_of, require_job_queue, spawn_app_with,
};
use crate::runner::{Test, trials};
use crate::smtp::{Inbox, reserve_port, smtp_url};

const NEW_PASSWORD: &str = "a-brand-new-password";

/// larch sending to `inbox`, links starting with a public URL unlike its own address.
pub async fn app_with_inbox(inbox: &Inbox, vars: &[(&str, &str)]) -> TestApp {
    require_job_queue();
    let url = inbox.url();
    let mut all = vec![
        ("SMTP_URL", url.as_str()),
        ("PUBLIC_URL", "https://larch.example"),
    ];
    all.extend_from_slice(vars);
    spawn_app_with(&all).await
}

/// Waits until the queue has nothing left to run (every job done or failed for good).
pub async fn jobs_settle(app: &TestApp) {
    let jobs = app.state.jobs.as_ref().expect("a job queue");
    let started = Instant::now();
    loop {
        let counts = larch::jobs::admin::counts(jobs).await.unwrap();
        if counts
            .iter()
            .all(|c| c.state == "done" || c.state == "failed")
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "jobs still pending: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub async fn request_reset(app: &TestApp, email: &str) -> reqwest::Response {
    app.post("/auth/password-reset", None, &json!({ "email": email }))
        .await
}

async fn confirm(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    app.post(
        "/auth/password-reset/confirm",
        None,
        &json!({ "token": token, "new_password": password }),
    )
    .await
}

/// A registered user whose verification email has arrived (so later counts start clean).
pub async fn user_with_mail(app: &TestApp, inbox: &Inbox) -> TestUser {
    let user = app.create_user().await;
    inbox.wait_for(&user.email, 1).await;
    user
}

async fn a_reset_sets_the_password_and_ends_every_session() {
    let inbox = Inbox::start();
    let app = app_with_inbox(&inbox, &[]).await;
    // Not the first user: a link must lead to its own account, not to whoever is user 1.
    app.create_user().await;
    let user = user_with_mail(&app, &inbox).await;
    // The link comes from PUBLIC_URL, never from the request's Host header.
    let res = app
        .client
        .post(app.url("/auth/password-reset"))
        .header("Host", "evil.example")
        .json(&json!({ "email": user.email.to_uppercase() }))
        .send()
        .await
        .unwrap();
    let body = json_of(res, StatusCode::ACCEPTED).await;
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    let mail = inbox.wait_for(&user.email, 2).await.pop().unwrap();
    assert_eq!(mail.subject(), "Reset your larch password");
    assert!(
        mail.header("Content-Type")
            .unwrap()
            .to_ascii_lowercase()
            .contains("charset=utf-8")
    );
    assert!(mail.from.contains("no-reply@localhost"), "{}", mail.from);
    let link = mail.link();
    assert!(
        link.starts_with("https://larch.example/reset-password?token="),
        "{link}"
    );
    let token = mail.token();
    assert!(token.len() >= 22, "at least 128 bits");

    let res = confirm(&app, &token, NEW_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(res.text().await.unwrap().is_empty(), "nobody is logged in");
    // Every session ended: the access and refresh tokens from before stop working.
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
    assert_error(
        app.login(&user.email, &user.password).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(
        app.login(&user.email, NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
    // Single use.
    let body = assert_fields(
        confirm(&app, &token, "yet-another-password").await,
        &["token"],
    )
    .await;
    assert_eq!(
        body["fields"]["token"],
        json!(["is invalid or has expired"])
    );
    // And a notice that the password changed.
    let notice = inbox.wait_for(&user.email, 3).await.pop().unwrap();
    assert_eq!(notice.subject(), "Your larch password was changed");
    assert!(
        !notice.body().contains("token="),
        "a notice carries no link"
    );
}

async fn a_password_change_sends_a_notice_and_voids_reset_links() {
    let inbox = Inbox::start();
    let app = app_with_inbox(&inbox, &[]).await;
    let user = user_with_mail(&app, &inbox).await;
    request_reset(&app, &user.email).await;
    let reset = inbox.wait_for(&user.email, 2).await.pop().unwrap().token();
    let res = app
        .put(
            "/auth/password",
            Some(&user.access),
            &json!({"current_password": user.password, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let notice = inbox.wait_for(&user.email, 3).await.pop().unwrap();
    assert_eq!(notice.subject(), "Your larch password was changed");
    // A reset link sent before the change would undo it: it no longer works.
    assert_fields(
        confirm(&app, &reset, "another-new-password").await,
        &["token"],
    )
    .await;
    assert_eq!(
        app.login(&user.email, NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

async fn unknown_addresses_get_the_same_answer_and_no_email() {
    let inbox = Inbox::start();
    let app = app_with_inbox(&inbox, &[]).await;
    let user = user_with_mail(&app, &inbox).await;
    let known = request_reset(&app, &user.email).await;
    let unknown = request_reset(&app, "nobody-here@example.com").await;
    assert_eq!(known.status(), StatusCode::ACCEPTED);
    assert_eq!(unknown.status(), StatusCode::ACCEPTED);
    let headers = |r: &reqwest::Response| {
        let mut h: Vec<String> = r
            .headers()
            .iter()
            .filter(|(k, _)| !["date", "x-request-id"].contains(&k.as_str()))
            .map(|(k, v)| format!("{k}: {v:?}"))
            .collect();
        h.sort();
        h
    };
    assert_eq!(headers(&known), headers(&unknown));
    assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap());
    jobs_settle(&app).await;
    assert_eq!(inbox.wait_for(&user.email, 2).await.len(), 2);
    assert!(inbox.to("nobody-here@example.com").is_empty());
    // A malformed address is a 400 about the field, not an answer about an account.
    assert_fields(request_reset(&app, "not an address").await, &["email"]).await;
}

async fn an_address_gets_at_most_three_reset_emails_an_hour() {
    let inbox = Inbox::start();
    let app = app_with_inbox(&inbox, &[]).await;
    let user = user_with_mail(&app, &inbox).await;
    for _ in 0..3 {
        assert_eq!(
            request_reset(&app, &user.email).await.status(),
            StatusCode::ACCEPTED
        );
        jobs_settle(&app).await;
    }
    let third = inbox.wait_for(&user.email, 4).await.pop().unwrap().token();
    // Housekeeping deletes spent tokens, but not those the cap still counts: the tokens
    // are made ten minutes old (within the hour; voided well before housekeeping's grace).
    {
        use larch::email_tokens::model::{Column, Entity};
        use sea_orm::sea_query::Expr;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let earlier = chrono::Utc::now() - chrono::Duration::minutes(10);
        Entity::update_many()
            .col_expr(Column::CreatedAt, Expr::value(earlier))
            .exec(&app.state.db)
            .await
            .unwrap();
        Entity::update_many()
            .col_expr(Column::UsedAt, Expr::value(earlier))
            .filter(Column::UsedAt.is_not_null())
            .exec(&app.state.db)
            .await
            .unwrap();
    }
    larch::startup::housekeep_once(&app.state).await;
    // Beyond the cap: still 202, nothing sent, nothing changed (the last link still works).
    for _ in 0..2 {
        assert_eq!(
            request_reset(&app, &user.email).await.status(),
            StatusCode::ACCEPTED
        );
    }
    jobs_settle(&app).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(inbox.to(&user.email).len(), 4, "1 verification + 3 resets");
    assert_eq!(
        confirm(&app, &third, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
}

async fn a_newer_reset_voids_the_older_links() {
    let inbox = Inbox::start();
    let app = app_with_inbox(&inbox, &[]).await;
    let user = user_with_mail(&app, &inbox).await;
    request_reset(&app, &user.email).await;
    let first = inbox.wait_for(&user.email, 2).await.pop().unwrap().token();
    request_reset(&app, &user.email).await;
    let second = inbox.wait_for(&user.email, 3).await.pop().unwrap().token();
    assert_fields(confirm(&app, &first, NEW_PASSWORD).await, &["token"]).await;
    assert_eq!(
        confirm(&app, &second, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
}

async fn every_unusable_token_is_the_same_400() {
    let inbox = Inbox::start();
    let app = app_with_inbox(&inbox, &[("PASSWORD_RESET_TOKEN_EXPIRES", "1")]).await;
    let user = user_with_mail(&app, &inbox).await;
    // A verification token is for another purpose.
    let verification = inbox.to(&user.email)[0].token();
    request_reset(&app, &user.email).await;
    let expiring = inbox.wait_for(&user.email, 2).await.pop().unwrap().token();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut bodies = Vec::new();
    for token in [
        json!(expiring),
        json!(verification),
        json!("A".repeat(43)),
        json!("not a token!"),
        json!("x".repeat(10_000)),
        json!(""),
        json!(42),
    ] {
        let res = app
            .post(
                "/auth/password-reset/confirm",
                None,
                &json!({ "token": token, "new_password": NEW_PASSWORD }),
            )
            .await;
        bodies.push(assert_fields(res, &["token"]).await);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    // The verification token was not used up by that attempt.
    let res = app
        .post(
            "/auth/verify-email",
            None,
            &json!({ "token": verification }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.login(&user.email, &user.password).await.status(),
        StatusCode::OK
    );
}

async fn the_new_password_follows_the_registration_rules() {
    let inbox = Inbox::start();
    let app = app_with_inbox(&inbox, &[]).await;
    let user = user_with_mail(&app, &inbox).await;
    request_reset(&app, &user.email).await;
    let token = inbox.wait_for(&user.email, 2).await.pop().unwrap().token();
    assert_fields(confirm(&app, &token, "short").await, &["new_password"]).await;
    assert_fields(
        app.post("/auth/password-reset/confirm", None, &json!({}))
            .await,
        &["token", "new_password"],
    )
    .await;
    // Refused before the token was looked at: it still works.
    assert_eq!(
        confirm(&app, &token, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
}

async fn an_admin_can_start_a_reset_but_not_choose_the_password() {
    let inbox = Inbox::start();
    let app = app_with_inbox(&inbox, &[]).await;
    let user = user_with_mail(&app, &inbox).await;
    let other = user_with_mail(&app, &inbox).await;
    let admin = app.create_admin().await;
    let path = format!("/users/{}/password-reset", user.id);
    assert_error(
        app.post(&path, Some(&other.access), &json!({})).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_error(
        app.post(&path, None, &json!({})).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_error(
        app.post(
            "/users/999999/password-reset",
            Some(&admin.access),
            &json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // No body field can set a password.
    assert_fields(
        app.post(
            &path,
            Some(&admin.access),
            &json!({"new_password": NEW_PASSWORD}),
        )
        .await,
        &["new_password"],
    )
    .await;
    let res = app.post(&path, Some(&admin.access), &json!({})).await;
    let body: Value = json_of(res, StatusCode::ACCEPTED).await;
    assert!(!body.to_string().contains("token"), "{body}");
    let mail = inbox.wait_for(&user.email, 2).await.pop().unwrap();
    assert!(mail.body().contains("An administrator"), "{}", mail.body());
    assert_eq!(
        confirm(&app, &mail.token(), NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(inbox.to(&admin.email).is_empty());
}

async fn without_smtp_production_answers_503_and_still_registers() {
    require_job_queue();
    let app = spawn_app_with(&[
        ("LARCH_ENV", "production"),
        (
            "JWT_SECRET_KEY",
            "a-production-secret-that-is-long-enough-0123",
        ),
    ])
    .await;
    let res = app
        .register("produser", "prod@example.com", "correct-horse-battery")
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body = assert_error(
        request_reset(&app, "prod@example.com").await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Email is not configured")
    );
    assert_error(
        app.post(
            "/auth/verify-email/resend",
            None,
            &json!({"email": "prod@example.com"}),
        )
        .await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
}

async fn an_email_requested_while_smtp_is_down_arrives_when_it_is_back() {
    let port = reserve_port();
    let url = smtp_url(port);
    require_job_queue();
    let app = spawn_app_with(&[
        ("SMTP_URL", url.as_str()),
        ("JOBS_MAX_ATTEMPTS", "20"),
        ("JOBS_RETRY_MIN_MS", "200"),
        ("JOBS_RETRY_MAX_SECONDS", "1"),
    ])
    .await;
    let res = app
        .register("downtime", "downtime@example.com", "correct-horse-battery")
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let started = Instant::now();
    let res = request_reset(&app, "downtime@example.com").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "answered at once"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Each failed attempt took its token back (else they would fill the per-address cap
    // before the server is back): at most the one being tried now is left, per email.
    use sea_orm::{EntityTrait, PaginatorTrait};
    let unsent = larch::email_tokens::model::Entity::find()
        .count(&app.state.db)
        .await
        .unwrap();
    assert!(unsent <= 2, "{unsent} tokens left by failed sends");
    let inbox = Inbox::start_on(port);
    let mails = inbox.wait_for("downtime@example.com", 2).await;
    let subjects: Vec<String> = mails.iter().map(|m| m.subject()).collect();
    assert!(
        subjects.contains(&"Reset your larch password".to_owned()),
        "{subjects:?}"
    );
    let reset = mails
        .iter()
        .find(|m| m.subject().starts_with("Reset"))
        .unwrap();
    assert_eq!(
        confirm(&app, &reset.token(), NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
}

/// The request does the same work for every address (one queued job), so its time says
/// nothing: the medians of known and unknown addresses are within a few milliseconds.
async fn known_and_unknown_addresses_take_the_same_time() {
    let inbox = Inbox::start();
    let app = app_with_inbox(&inbox, &[]).await;
    let user = user_with_mail(&app, &inbox).await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..31 {
        for (address, times) in [
            (user.email.clone(), &mut known),
            (format!("nobody{i}@example.com"), &mut unknown),
        ] {
            let started = Instant::now();
            let res = request_reset(&app, &address).await;
            times.push(started.elapsed());
            assert_eq!(res.status(), StatusCode::ACCEPTED);
        }
    }
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let (known, unknown) = (median(&mut known), median(&mut unknown));
    let gap = known.abs_diff(unknown);
    assert!(
        gap < Duration::from_millis(5).max(known.max(unknown) / 2),
        "median known {known:?}, unknown {unknown:?}"
    );
    jobs_settle(&app).await;
}

async fn the_recovery_posts_are_rate_limited() {
    require_job_queue();
    let app = spawn_app_with(&[
        ("RATE_LIMIT_AUTH_PER_MINUTE", "1"),
        ("RATE_LIMIT_AUTH_BURST", "1"),
    ])
    .await;
    for (path, body) in [
        ("/auth/password-reset", json!({"email": "a@example.com"})),
        (
            "/auth/password-reset/confirm",
            json!({"token": "abc", "new_password": NEW_PASSWORD}),
        ),
        ("/auth/verify-email", json!({"token": "abc"})),
        (
            "/auth/verify-email/resend",
            json!({"email": "a@example.com"}),
        ),
    ] {
        let first = app.post(path, None, &body).await;
        assert_ne!(first.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
        let second = app.post(path, None, &body).await;
        assert!(second.headers().contains_key("retry-after"), "{path}");
        assert_error(second, StatusCode::TOO_MANY_REQUESTS).await;
    }
}

pub fn tests() -> Vec<Test> {
    trials![
        a_reset_sets_the_password_and_ends_every_session,
        a_password_change_sends_a_notice_and_voids_reset_links,
        unknown_addresses_get_the_same_answer_and_no_email,
        an_address_gets_at_most_three_reset_emails_an_hour,
        a_newer_reset_voids_the_older_links,
        every_unusable_token_is_the_same_400,
        the_new_password_follows_the_registration_rules,
        an_admin_can_start_a_reset_but_not_choose_the_password,
        without_smtp_production_answers_503_and_still_registers,
        an_email_requested_while_smtp_is_down_arrives_when_it_is_back,
        known_and_unknown_addresses_take_the_same_time,
        the_recovery_posts_are_rate_limited,
    ]
}
