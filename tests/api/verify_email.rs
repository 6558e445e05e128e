//! `/auth/verify-email`, `/auth/verify-email/resend`, the verification that registration and
//! an address change send, `REQUIRE_EMAIL_VERIFICATION`, and the two pages
//! (`/verify-email`, `/reset-password`) the default links open.

use reqwest::StatusCode;
use serde_json::json;

use crate::client::{TestApp, assert_error, assert_fields, json_of};
use crate::password_reset::{app_with_inbox, jobs_settle, user_with_mail};
use crate::runner::{Test, trials};
use crate::smtp::Inbox;

async fn verify(app: &TestApp, token: &str) -> reqwest::Response {
    app.post("/auth/verify-email", None, &json!({ "token": token }))
        .await
}

async fn verified(app: &TestApp, access: &str) -> bool {
    let me = json_of(app.get("/auth/me", Some(access)).await, StatusCode::OK).await;
    me["email_verified"]
        .as_bool()
        .expect("email_verified shown")
}

async fn registration_sends_a_link_that_verifies_once() {
    let inbox = Inbox::start();
    let app = app_with_inbox(&inbox, &[]).await;
    let user = app.create_user().await;
    assert!(!verified(&app, &user.access).await);
    let mail = inbox.wait_for(&user.email, 1).await.pop().unwrap();
    assert_eq!(mail.subject(), "Confirm your email address for larch");
    assert!(
        mail.link()
            .starts_with("https://larch.example/verify-email?token="),
        "{}",
        mail.link()
    );
    assert_eq!(
        verify(&app, &mail.token()).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(verified(&app, &user.access).await);
    assert_fields(verify(&app, &mail.token()).await, &["token"]).await;
}

async fn resend_for_the_caller_or_for_an_address() {
    let inbox = Inbox::start();
    let app = app_with_inbox(&inbox, &[]).await;
    let user = user_with_mail(&app, &inbox).await;
    // Logged in and unverified: a new link (no body needed).
    let res = app
        .post("/auth/verify-email/resend", Some(&user.access), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let token = inbox.wait_for(&user.email, 2).await.pop().unwrap().token();
    // Without a token: by address, the same answer for every address.
    let known = app
        .post(
            "/auth/verify-email/resend",
            None,
            &json!({"email": user.email}),
        )
        .await;
    let unknown = app
        .post(
            "/auth/verify-email/resend",
            None,
            &json!({"email": "nobody@example.com"}),
        )
        .await;
    assert_eq!(known.status(), StatusCode::ACCEPTED);
    assert_eq!(unknown.status(), StatusCode::ACCEPTED);
    assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap());
    inbox.wait_for(&user.email, 3).await;
    // The cap: 3 links an hour (registration's included); beyond it 202 and nothing sent.
    let res = app
        .post(
            "/auth/verify-email/resend",
            None,
            &json!({"email": user.email}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    jobs_settle(&app).await;
    assert_eq!(inbox.to(&user.email).len(), 3);
    assert!(inbox.to("nobody@example.com").is_empty());
    // Verification tokens do not void each other: an earlier one still works.
    assert_eq!(verify(&app, &token).await.status(), StatusCode::NO_CONTENT);
    // Verified: 204, nothing queued.
    let res = app
        .post("/auth/verify-email/resend", Some(&user.access), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // Neither a token nor an address.
    assert_fields(
        app.post("/auth/verify-email/resend", None, &json!({}))
            .await,
        &["email"],
    )
    .await;
    let res = app
        .client
        .post(app.url("/auth/verify-email/resend"))
        .send()
        .await
        .unwrap();
    assert_fields(res, &["email"]).await;
    // A bad bearer token is a 401, not a fall back to the body.
    assert_error(
        app.post(
            "/auth/verify-email/resend",
            Some("garbage"),
            &json!({"email": user.email}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

async fn a_new_address_is_unverified_and_both_addresses_hear_of_it() {
    let inbox = Inbox::start();
    let app = app_with_inbox(&inbox, &[]).await;
    let user = user_with_mail(&app, &inbox).await;
    let first = inbox.to(&user.email)[0].token();
    // A link for the old address, not yet used.
    app.post("/auth/verify-email/resend", Some(&user.access), &json!({}))
        .await;
    let old_link = inbox.wait_for(&user.email, 2).await.pop().unwrap().token();
    assert_eq!(verify(&app, &first).await.status(), StatusCode::NO_CONTENT);
    assert!(verified(&app, &user.access).await);

    let new_email = format!("moved-{}", user.email);
    let res = app
        .patch(
            &format!("/users/{}", user.id),
            Some(&user.access),
            &json!({"email": new_email}),
        )
        .await;
    let body = json_of(res, StatusCode::OK).await;
    assert_eq!(body["email_verified"], json!(false));
    let verification = inbox.wait_for(&new_email, 1).await.pop().unwrap();
    assert_eq!(
        verification.subject(),
        "Confirm your email address for larch"
    );
    let notice = inbox.wait_for(&user.email, 3).await.pop().unwrap();
    assert_eq!(
        notice.subject(),
        "The email address of your larch account was changed"
    );
    assert!(
        !notice.body().contains(&new_email),
        "the old address is not told the new one"
    );
    // A link sent to the old address cannot verify the new one.
    assert_fields(verify(&app, &old_link).await, &["token"]).await;
    assert!(!verified(&app, &user.access).await);
    assert_eq!(
        verify(&app, &verification.token()).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(verified(&app, &user.access).await);
}

async fn required_verification_blocks_login_with_403_only_for_the_right_password() {
    let inbox = Inbox::start();
    let app = app_with_inbox(&inbox, &[("REQUIRE_EMAIL_VERIFICATION", "true")]).await;
    let res = app
        .register(
            "unverified",
            "unverified@example.com",
            "correct-horse-battery",
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body = assert_error(
        app.login("unverified@example.com", "correct-horse-battery")
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("not verified"),
        "{body}"
    );
    let wrong = assert_error(
        app.login("unverified@example.com", "wrong-password!").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let unknown = assert_error(
        app.login("nobody@example.com", "wrong-password!").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(wrong, unknown);
    let token = inbox
        .wait_for("unverified@example.com", 1)
        .await
        .pop()
        .unwrap()
        .token();
    assert_eq!(verify(&app, &token).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.login("unverified@example.com", "correct-horse-battery")
            .await
            .status(),
        StatusCode::OK
    );
}

async fn the_link_pages_are_served_from_the_binary() {
    let app = crate::client::spawn_app().await;
    for (path, title) in [
        ("/reset-password?token=abc", "reset your password"),
        ("/verify-email?token=abc", "verify your email"),
    ] {
        let res = app.get(path, None).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(header("content-type").starts_with("text/html"), "{path}");
        assert_eq!(header("cache-control"), "no-store");
        assert_eq!(header("referrer-policy"), "no-referrer");
        let csp = header("content-security-policy");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        // The page's own policy, not the API's: its inline script and style may run.
        assert!(csp.contains("script-src 'unsafe-inline'"), "{csp}");
        let html = res.text().await.unwrap();
        assert!(html.contains(title), "{path}");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "nothing from elsewhere"
        );
    }
}

pub fn tests() -> Vec<Test> {
    trials![
        registration_sends_a_link_that_verifies_once,
        resend_for_the_caller_or_for_an_address,
        a_new_address_is_unverified_and_both_addresses_hear_of_it,
        required_verification_blocks_login_with_403_only_for_the_right_password,
        the_link_pages_are_served_from_the_binary,
    ]
}
