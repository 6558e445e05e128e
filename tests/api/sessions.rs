//! `/auth/sessions`, `/auth/sessions/{id}` and `/users/{id}/sessions`: the logins of a user,
//! listed and ended; and every way a session ends (logout, logout-all, password change,
//! refresh-token reuse, idleness, age), each stopping its access tokens at once.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::client::{TestApp, TestUser, assert_error, json_of, spawn_app, spawn_app_with};
use crate::runner::{Test, trials};

/// A login with its own `User-Agent` (and headers), as a second device would make.
async fn login_as(app: &TestApp, user: &TestUser, agent: &str, headers: &[(&str, &str)]) -> Value {
    let mut request = app
        .client
        .post(app.url("/auth/login"))
        .header("user-agent", agent)
        .json(&json!({"email": user.email, "password": user.password}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    json_of(request.send().await.unwrap(), StatusCode::OK).await
}

fn token(pair: &Value, kind: &str) -> String {
    pair[kind].as_str().unwrap().to_owned()
}

async fn sessions_of(app: &TestApp, access: &str) -> Vec<Value> {
    let body = json_of(
        app.get("/auth/sessions", Some(access)).await,
        StatusCode::OK,
    )
    .await;
    body["sessions"].as_array().unwrap().clone()
}

/// The id of the session an access token names, as the list shows it.
async fn current_session(app: &TestApp, access: &str) -> i64 {
    sessions_of(app, access)
        .await
        .iter()
        .find(|s| s["current"] == true)
        .expect("a current session")["id"]
        .as_i64()
        .unwrap()
}

async fn assert_refused(app: &TestApp, access: &str) {
    let body = assert_error(
        app.get("/auth/me", Some(access)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(body["message"], "The session of this token has ended");
}

async fn assert_refresh_refused(app: &TestApp, refresh: &str) {
    let res = app.post("/auth/refresh", Some(refresh), &json!({})).await;
    assert_error(res, StatusCode::UNAUTHORIZED).await;
}

async fn two_logins_are_listed_newest_first_with_their_client() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let phone = login_as(&app, &user, "phone/1.0", &[]).await;
    let laptop = login_as(&app, &user, "laptop/2.0", &[]).await;
    let sessions = sessions_of(&app, &token(&laptop, "access_token")).await;
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    let agents: Vec<&str> = sessions
        .iter()
        .map(|s| s["user_agent"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(&agents[..2], ["laptop/2.0", "phone/1.0"]);
    let current: Vec<bool> = sessions.iter().map(|s| s["current"] == true).collect();
    assert_eq!(current, [true, false, false]);
    for session in &sessions {
        let keys: Vec<&String> = session.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "id",
                "created_at",
                "last_used_at",
                "expires_at",
                "ip",
                "user_agent",
                "current"
            ]
        );
        assert_eq!(session["ip"], "127.0.0.1");
        assert!(
            session["expires_at"].as_str().unwrap() > session["last_used_at"].as_str().unwrap()
        );
    }
    // The other device sees the same list, with itself current.
    let from_phone = sessions_of(&app, &token(&phone, "access_token")).await;
    assert_eq!(from_phone[1]["current"], true);
    assert_eq!(from_phone[1]["user_agent"], "phone/1.0");
    // A refresh moves `last_used_at`.
    let before = from_phone[1]["last_used_at"].clone();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let refreshed = json_of(
        app.post(
            "/auth/refresh",
            Some(&token(&phone, "refresh_token")),
            &json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let after = sessions_of(&app, &token(&refreshed, "access_token")).await;
    assert!(
        after[1]["last_used_at"].as_str() > before.as_str(),
        "{after:?}"
    );
    assert_eq!(
        after[1]["current"], true,
        "a refreshed token keeps its session"
    );
}

async fn ending_one_session_stops_its_tokens_at_once() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let phone = login_as(&app, &user, "phone", &[]).await;
    let laptop = login_as(&app, &user, "laptop", &[]).await;
    let phone_session = current_session(&app, &token(&phone, "access_token")).await;
    let res = app
        .delete(
            &format!("/auth/sessions/{phone_session}"),
            Some(&token(&laptop, "access_token")),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_refused(&app, &token(&phone, "access_token")).await;
    assert_refresh_refused(&app, &token(&phone, "refresh_token")).await;
    // The others keep working.
    assert_eq!(
        app.get("/auth/me", Some(&token(&laptop, "access_token")))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get("/auth/me", Some(&user.access)).await.status(),
        StatusCode::OK
    );
    // An ended session is not found again.
    let res = app
        .delete(
            &format!("/auth/sessions/{phone_session}"),
            Some(&token(&laptop, "access_token")),
        )
        .await;
    assert_error(res, StatusCode::NOT_FOUND).await;
    // Ending the current one ends the caller's own access.
    let laptop_session = current_session(&app, &token(&laptop, "access_token")).await;
    let res = app
        .delete(
            &format!("/auth/sessions/{laptop_session}"),
            Some(&token(&laptop, "access_token")),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_refused(&app, &token(&laptop, "access_token")).await;
}

async fn another_users_session_is_not_found() {
    let app = spawn_app().await;
    let alice = app.create_user().await;
    let mallory = app.create_user().await;
    let alices = current_session(&app, &alice.access).await;
    for path in [
        format!("/auth/sessions/{alices}"),
        "/auth/sessions/999999".to_owned(),
    ] {
        let res = app.delete(&path, Some(&mallory.access)).await;
        assert_error(res, StatusCode::NOT_FOUND).await;
    }
    assert_eq!(
        app.get("/auth/me", Some(&alice.access)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        sessions_of(&app, &mallory.access).await.len(),
        1,
        "only one's own"
    );
    let res = app.get("/auth/sessions", None).await;
    assert_error(res, StatusCode::UNAUTHORIZED).await;
}

async fn ending_every_other_session_keeps_the_current_one() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let others = [
        login_as(&app, &user, "a", &[]).await,
        login_as(&app, &user, "b", &[]).await,
    ];
    let current = login_as(&app, &user, "c", &[]).await;
    let res = app
        .delete("/auth/sessions", Some(&token(&current, "access_token")))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for other in &others {
        assert_refused(&app, &token(other, "access_token")).await;
        assert_refresh_refused(&app, &token(other, "refresh_token")).await;
    }
    assert_refused(&app, &user.access).await;
    let left = sessions_of(&app, &token(&current, "access_token")).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["current"], true);
    let res = app
        .post(
            "/auth/refresh",
            Some(&token(&current, "refresh_token")),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

async fn admins_see_and_end_a_users_sessions() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let alice = app.create_user().await;
    let bob = app.create_user().await;
    let path = format!("/users/{}/sessions", alice.id);
    assert_error(
        app.get(&path, Some(&bob.access)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_error(
        app.delete(&path, Some(&bob.access)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_error(
        app.get(&path, Some(&alice.access)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let listed = json_of(app.get(&path, Some(&admin.access)).await, StatusCode::OK).await;
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["current"], false, "not the admin's session");
    let res = app.delete(&path, Some(&admin.access)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_refused(&app, &alice.access).await;
    assert_refresh_refused(&app, &alice.refresh).await;
    let listed = json_of(app.get(&path, Some(&admin.access)).await, StatusCode::OK).await;
    assert_eq!(listed["sessions"], json!([]));
    // Others are untouched; a missing user is 404.
    assert_eq!(
        app.get("/auth/me", Some(&bob.access)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get("/auth/me", Some(&admin.access)).await.status(),
        StatusCode::OK
    );
    let res = app.get("/users/999999/sessions", Some(&admin.access)).await;
    assert_error(res, StatusCode::NOT_FOUND).await;
    let res = app
        .delete("/users/999999/sessions", Some(&admin.access))
        .await;
    assert_error(res, StatusCode::NOT_FOUND).await;
    // An admin's own list marks the current session.
    let own = format!("/users/{}/sessions", admin.id);
    let listed = json_of(app.get(&own, Some(&admin.access)).await, StatusCode::OK).await;
    assert_eq!(listed["sessions"][0]["current"], true);
}

async fn logout_logout_all_and_password_changes_end_sessions() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    // Logout ends the presented refresh token's session, access token included.
    let other = login_as(&app, &user, "other", &[]).await;
    let res = app
        .post("/auth/logout", Some(&user.refresh), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_refused(&app, &user.access).await;
    assert_eq!(
        app.get("/auth/me", Some(&token(&other, "access_token")))
            .await
            .status(),
        StatusCode::OK
    );
    // Logout-all ends every session, the caller's included.
    let third = login_as(&app, &user, "third", &[]).await;
    let res = app
        .post(
            "/auth/logout-all",
            Some(&token(&third, "access_token")),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_refused(&app, &token(&other, "access_token")).await;
    assert_refused(&app, &token(&third, "access_token")).await;
    // A password change ends every session too; the new password logs in.
    let first = login_as(&app, &user, "first", &[]).await;
    let second = login_as(&app, &user, "second", &[]).await;
    let res = app
        .put(
            "/auth/password",
            Some(&token(&first, "access_token")),
            &json!({"current_password": user.password, "new_password": "a-brand-new-password"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_refused(&app, &token(&first, "access_token")).await;
    assert_refused(&app, &token(&second, "access_token")).await;
    assert_refresh_refused(&app, &token(&second, "refresh_token")).await;
    let res = app.login(&user.email, "a-brand-new-password").await;
    assert_eq!(res.status(), StatusCode::OK);
}

async fn refresh_reuse_ends_the_session_and_its_access_tokens() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let bystander = login_as(&app, &user, "bystander", &[]).await;
    let rotated = json_of(
        app.post("/auth/refresh", Some(&user.refresh), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        app.get("/auth/me", Some(&token(&rotated, "access_token")))
            .await
            .status(),
        StatusCode::OK
    );
    // The used token again: theft. Its session ends, every access token of it with it.
    assert_refresh_refused(&app, &user.refresh).await;
    assert_refused(&app, &token(&rotated, "access_token")).await;
    assert_refused(&app, &user.access).await;
    assert_refresh_refused(&app, &token(&rotated, "refresh_token")).await;
    // Another login of the same user is not a copy of the stolen token: it keeps working.
    assert_eq!(
        app.get("/auth/me", Some(&token(&bystander, "access_token")))
            .await
            .status(),
        StatusCode::OK
    );
}

async fn an_idle_session_ends() {
    let app = spawn_app_with(&[("SESSION_IDLE_TIMEOUT", "2")]).await;
    let user = app.create_user().await;
    // Refreshed within the timeout, it lives on past it.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let pair = json_of(
        app.post("/auth/refresh", Some(&user.refresh), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        app.get("/auth/me", Some(&token(&pair, "access_token")))
            .await
            .status(),
        StatusCode::OK
    );
    // Left idle, it ends: access and refresh alike.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_refused(&app, &token(&pair, "access_token")).await;
    let res = app
        .post(
            "/auth/refresh",
            Some(&token(&pair, "refresh_token")),
            &json!({}),
        )
        .await;
    let body = assert_error(res, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["message"], "The session has expired; log in again");
    assert_eq!(
        app.login(&user.email, &user.password).await.status(),
        StatusCode::OK
    );
}

async fn a_session_ends_at_its_maximum_lifetime_however_often_refreshed() {
    let app = spawn_app_with(&[("SESSION_MAX_LIFETIME", "3")]).await;
    let user = app.create_user().await;
    let mut refresh = user.refresh.clone();
    let mut access = user.access.clone();
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let pair = json_of(
            app.post("/auth/refresh", Some(&refresh), &json!({})).await,
            StatusCode::OK,
        )
        .await;
        refresh = token(&pair, "refresh_token");
        access = token(&pair, "access_token");
    }
    let sessions = sessions_of(&app, &access).await;
    let (created, expires) = (
        chrono::DateTime::parse_from_rfc3339(sessions[0]["created_at"].as_str().unwrap()).unwrap(),
        chrono::DateTime::parse_from_rfc3339(sessions[0]["expires_at"].as_str().unwrap()).unwrap(),
    );
    assert_eq!(
        (expires - created).num_seconds(),
        3,
        "expires_at is the maximum lifetime"
    );
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_refused(&app, &access).await;
    assert_refresh_refused(&app, &refresh).await;
}

async fn the_client_is_recorded_as_the_proxy_rules_resolve_it() {
    let app = spawn_app_with(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let user = app.create_user().await;
    let long_agent = "x".repeat(300);
    let proxied = login_as(
        &app,
        &user,
        &long_agent,
        &[("x-forwarded-for", "203.0.113.7")],
    )
    .await;
    let sessions = sessions_of(&app, &token(&proxied, "access_token")).await;
    assert_eq!(sessions[0]["ip"], "203.0.113.7");
    assert_eq!(sessions[0]["user_agent"], "x".repeat(256));
    // Without a trusted proxy, a client's own X-Forwarded-For is not believed.
    let direct = spawn_app().await;
    let other = direct.create_user().await;
    let pair = login_as(
        &direct,
        &other,
        "agent",
        &[("x-forwarded-for", "203.0.113.7")],
    )
    .await;
    let sessions = sessions_of(&direct, &token(&pair, "access_token")).await;
    assert_eq!(sessions[0]["ip"], "127.0.0.1");
}

async fn a_session_ended_on_one_instance_is_refused_on_another() {
    // Two instances of one service: one database, one signing key.
    let secret = (
        "JWT_SECRET_KEY",
        "one-secret-for-the-whole-fleet-0123456789",
    );
    let a = spawn_app_with(&[secret]).await;
    let b = spawn_app_with(&[
        secret,
        ("DATABASE_URL", a.state.config.database_url.as_str()),
    ])
    .await;
    let user = a.create_user().await;
    let on_b = login_as(&b, &user, "b", &[]).await;
    let b_session = current_session(&b, &token(&on_b, "access_token")).await;
    let res = a
        .delete(&format!("/auth/sessions/{b_session}"), Some(&user.access))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_refused(&b, &token(&on_b, "access_token")).await;
    assert_refresh_refused(&b, &token(&on_b, "refresh_token")).await;
    assert_eq!(
        b.get("/auth/me", Some(&user.access)).await.status(),
        StatusCode::OK
    );
}

async fn ended_sessions_are_cleaned_up() {
    use larch::sessions::{model as session, refresh_token_model as refresh_token};
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let app = spawn_app().await;
    let user = app.create_user().await;
    let kept = login_as(&app, &user, "kept", &[]).await;
    let res = app
        .post("/auth/logout", Some(&user.refresh), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let ended = session::Entity::find()
        .filter(session::Column::EndedAt.is_not_null())
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    // Just ended: kept a few minutes for requests racing the end.
    larch::startup::housekeep_once(&app.state).await;
    assert_eq!(
        session::Entity::find().count(&app.state.db).await.unwrap(),
        2
    );
    // Ended long enough ago: gone, with its refresh tokens.
    let mut old: session::ActiveModel = ended.clone().into();
    old.ended_at = sea_orm::Set(Some(chrono::Utc::now() - chrono::Duration::minutes(10)));
    sea_orm::ActiveModelTrait::update(old, &app.state.db)
        .await
        .unwrap();
    larch::startup::housekeep_once(&app.state).await;
    assert!(
        session::Entity::find_by_id(ended.id)
            .one(&app.state.db)
            .await
            .unwrap()
            .is_none()
    );
    let tokens = refresh_token::Entity::find()
        .filter(refresh_token::Column::FamilyId.eq(ended.family_id))
        .count(&app.state.db)
        .await
        .unwrap();
    assert_eq!(tokens, 0);
    assert_eq!(
        app.get("/auth/me", Some(&token(&kept, "access_token")))
            .await
            .status(),
        StatusCode::OK
    );
}

pub fn tests() -> Vec<Test> {
    trials![
        two_logins_are_listed_newest_first_with_their_client,
        ending_one_session_stops_its_tokens_at_once,
        another_users_session_is_not_found,
        ending_every_other_session_keeps_the_current_one,
        admins_see_and_end_a_users_sessions,
        logout_logout_all_and_password_changes_end_sessions,
        refresh_reuse_ends_the_session_and_its_access_tokens,
        an_idle_session_ends,
        a_session_ends_at_its_maximum_lifetime_however_often_refreshed,
        the_client_is_recorded_as_the_proxy_rules_resolve_it,
        a_session_ended_on_one_instance_is_refused_on_another,
        ended_sessions_are_cleaned_up,
    ]
}
