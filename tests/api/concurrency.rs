//! Concurrent writers and retries: `ETag` / `If-None-Match` / `If-Match` on users, posts
//! and products (and `ETag` / `If-None-Match` on pages of their lists), and
//! `Idempotency-Key` on creations.

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

use crate::client::{TestApp, TestUser, assert_error, json_of, spawn_app, spawn_app_with};
use crate::runner::{Test, trials};

fn with_token(app: &TestApp, method: Method, path: &str, token: &str) -> RequestBuilder {
    app.client.request(method, app.url(path)).bearer_auth(token)
}

fn etag(res: &Response) -> String {
    res.headers()
        .get("etag")
        .unwrap_or_else(|| panic!("no ETag on {} {}", res.status(), res.url()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// A user, a post of theirs and a product, as paths, with an admin to write products.
struct Fixture {
    app: TestApp,
    owner: TestUser,
    admin: TestUser,
    paths: [String; 3],
}

async fn fixture() -> Fixture {
    let app = spawn_app().await;
    let owner = app.create_user().await;
    let admin = app.create_admin().await;
    let post = json_of(
        app.post(
            "/posts",
            Some(&owner.access),
            &json!({"title": "First", "body": "Hello"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let product = json_of(
        app.post(
            "/products",
            Some(&admin.access),
            &json!({"name": "Lamp", "price": "10.00"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let paths = [
        format!("/users/{}", owner.id),
        format!("/posts/{}", post["id"]),
        format!("/products/{}", product["id"]),
    ];
    Fixture {
        app,
        owner,
        admin,
        paths,
    }
}

impl Fixture {
    /// Who may write the resource at `path`.
    fn writer(&self, path: &str) -> &TestUser {
        if path.starts_with("/products") {
            &self.admin
        } else {
            &self.owner
        }
    }

    /// A change to the resource at `path` (`n` makes it different each time).
    fn change(path: &str, n: usize) -> Value {
        if path.starts_with("/users") {
            json!({"username": format!("renamed{n}")})
        } else if path.starts_with("/posts") {
            json!({"title": format!("Title {n}")})
        } else {
            json!({"name": format!("Lamp {n}")})
        }
    }
}

async fn create_post(app: &TestApp, user: &TestUser, key: Option<&str>, body: &Value) -> Response {
    let mut request = with_token(app, Method::POST, "/posts", &user.access).json(body);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    request.send().await.unwrap()
}

async fn total(app: &TestApp, path: &str) -> u64 {
    json_of(app.get(path, None).await, StatusCode::OK).await["total"]
        .as_u64()
        .unwrap()
}

async fn single_resource_gets_send_an_etag_and_honour_if_none_match() {
    let f = fixture().await;
    let token = f.owner.access.clone();
    for path in f
        .paths
        .iter()
        .map(String::as_str)
        .chain(["/auth/me", "/users/profile"])
    {
        let first = with_token(&f.app, Method::GET, path, &token)
            .send()
            .await
            .unwrap();
        assert_eq!(first.status(), StatusCode::OK, "{path}");
        let tag = etag(&first);
        assert!(
            tag.starts_with('"') && tag.ends_with('"'),
            "a strong tag: {tag}"
        );
        let body = first.text().await.unwrap();

        let again = with_token(&f.app, Method::GET, path, &token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            etag(&again),
            tag,
            "{path}: the same representation, the same tag"
        );

        for header in [
            tag.clone(),
            format!("W/{tag}"),
            format!("\"nope\", {tag}"),
            "*".to_owned(),
        ] {
            let res = with_token(&f.app, Method::GET, path, &token)
                .header("if-none-match", &header)
                .send()
                .await
                .unwrap();
            assert_eq!(
                res.status(),
                StatusCode::NOT_MODIFIED,
                "{path} If-None-Match: {header}"
            );
            assert_eq!(etag(&res), tag);
            assert!(res.text().await.unwrap().is_empty(), "304 has no body");
        }
        let res = with_token(&f.app, Method::GET, path, &token)
            .header("if-none-match", "\"stale\"")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.text().await.unwrap(), body);
    }
}

/// Every page of every list has a tag too; a change to what the page shows changes it.
async fn pages_of_lists_send_an_etag_that_follows_their_contents() {
    let f = fixture().await;
    let get = |path: String, token: String, tag: Option<String>| {
        let mut request = with_token(&f.app, Method::GET, &path, &token);
        if let Some(tag) = tag {
            request = request.header("if-none-match", tag);
        }
        async move { request.send().await.unwrap() }
    };
    let owner = f.owner.access.clone();
    let lists = [
        "/posts".to_owned(),
        format!("/users/{}/posts?limit=5", f.owner.id),
        "/users".to_owned(),
        "/products?sort=price".to_owned(),
    ];
    for (n, list) in lists.iter().enumerate() {
        let first = get(list.clone(), owner.clone(), None).await;
        assert_eq!(first.status(), StatusCode::OK, "{list}");
        let tag = etag(&first);
        let body = first.text().await.unwrap();
        // Kept or not, the same page has the same tag, and a client holding it gets a 304.
        let again = get(list.clone(), owner.clone(), Some(tag.clone())).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{list}");
        assert_eq!(etag(&again), tag);
        assert!(again.text().await.unwrap().is_empty(), "304 has no body");
        let stale = get(list.clone(), owner.clone(), Some("\"stale\"".into())).await;
        assert_eq!(stale.status(), StatusCode::OK);
        assert_eq!(stale.text().await.unwrap(), body, "{list}");

        // A change to something on the page: the old tag is a 200 with the new page.
        let path = match n {
            0 | 1 => &f.paths[1],
            2 => &f.paths[0],
            _ => &f.paths[2],
        };
        let res = with_token(&f.app, Method::PATCH, path, &f.writer(path).access)
            .json(&Fixture::change(path, n))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let changed = get(list.clone(), owner.clone(), Some(tag.clone())).await;
        assert_eq!(
            changed.status(),
            StatusCode::OK,
            "{list} after {path} changed"
        );
        assert_ne!(etag(&changed), tag, "{list}");
        assert_ne!(changed.text().await.unwrap(), body, "{list}");
    }
    // An admin sees every email on a page of users, its owner only their own: two pages,
    // two tags, neither a 304 for the other.
    let mine = etag(&get("/users".into(), owner.clone(), None).await);
    let admins = get("/users".into(), f.admin.access.clone(), Some(mine.clone())).await;
    assert_eq!(admins.status(), StatusCode::OK);
    assert_ne!(etag(&admins), mine);
}

async fn the_tag_changes_exactly_when_the_representation_does() {
    let f = fixture().await;
    for path in &f.paths {
        let writer = f.writer(path);
        let before = etag(
            &with_token(&f.app, Method::GET, path, &writer.access)
                .send()
                .await
                .unwrap(),
        );

        // A write that changes nothing leaves the tag alone.
        let current = json_of(
            with_token(&f.app, Method::GET, path, &writer.access)
                .send()
                .await
                .unwrap(),
            StatusCode::OK,
        )
        .await;
        let same = match path {
            p if p.starts_with("/users") => json!({"username": current["username"]}),
            p if p.starts_with("/posts") => json!({"title": current["title"]}),
            _ => json!({"name": current["name"]}),
        };
        let res = with_token(&f.app, Method::PATCH, path, &writer.access)
            .json(&same)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(etag(&res), before, "{path}: nothing changed");

        // A real change gives a new tag, the one the write answered with.
        let res = with_token(&f.app, Method::PATCH, path, &writer.access)
            .json(&Fixture::change(path, 1))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let written = etag(&res);
        assert_ne!(written, before, "{path}: changed");
        let after = with_token(&f.app, Method::GET, path, &writer.access)
            .send()
            .await
            .unwrap();
        assert_eq!(
            etag(&after),
            written,
            "{path}: the write's tag is the GET's tag"
        );
    }
    // A post's representation includes its author's username: renaming the author
    // changes the post's tag too.
    let post_path = &f.paths[1];
    let before = etag(&f.app.get(post_path, None).await);
    let res = f
        .app
        .patch(
            &f.paths[0],
            Some(&f.owner.access),
            &json!({"username": "another_name"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_ne!(etag(&f.app.get(post_path, None).await), before);
}

async fn if_match_guards_every_write() {
    let f = fixture().await;
    for path in &f.paths {
        let writer = f.writer(path);
        let get = || with_token(&f.app, Method::GET, path, &writer.access).send();
        let stale = etag(&get().await.unwrap());
        let res = with_token(&f.app, Method::PATCH, path, &writer.access)
            .json(&Fixture::change(path, 1))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let current = etag(&res);
        let snapshot = get().await.unwrap().text().await.unwrap();

        for method in [Method::PUT, Method::PATCH, Method::DELETE] {
            for bad in [
                stale.as_str(),
                "\"garbage\"",
                "garbage",
                &format!("W/{current}"),
            ] {
                let mut request = with_token(&f.app, method.clone(), path, &writer.access)
                    .header("if-match", bad);
                if method != Method::DELETE {
                    request = request.json(&Fixture::change(path, 2));
                }
                let body = assert_error(
                    request.send().await.unwrap(),
                    StatusCode::PRECONDITION_FAILED,
                )
                .await;
                assert_eq!(body["error"], "Precondition Failed");
                assert_eq!(
                    get().await.unwrap().text().await.unwrap(),
                    snapshot,
                    "{method} {path} If-Match {bad}: nothing changed"
                );
            }
        }

        // The current tag, then `*`, proceed.
        let res = with_token(&f.app, Method::PUT, path, &writer.access)
            .header("if-match", &current)
            .json(&Fixture::change(path, 3))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path} with the current tag");
        let res = with_token(&f.app, Method::PATCH, path, &writer.access)
            .header("if-match", "*")
            .json(&Fixture::change(path, 4))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path} with *");
    }
    // Deletion with the current tag (posts and products; the user last, taking the post).
    for path in [&f.paths[1], &f.paths[2], &f.paths[0]] {
        let writer = f.writer(path);
        let current = etag(
            &with_token(&f.app, Method::GET, path, &writer.access)
                .send()
                .await
                .unwrap(),
        );
        let res = with_token(&f.app, Method::DELETE, path, &writer.access)
            .header("if-match", &current)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "{path}");
    }
}

async fn racing_updates_with_one_tag_give_one_success() {
    let f = fixture().await;
    for path in &f.paths {
        let writer = f.writer(path);
        let tag = etag(
            &with_token(&f.app, Method::GET, path, &writer.access)
                .send()
                .await
                .unwrap(),
        );
        let attempts = (0..6).map(|n| {
            with_token(&f.app, Method::PATCH, path, &writer.access)
                .header("if-match", &tag)
                .json(&Fixture::change(path, 10 + n))
                .send()
        });
        let statuses: Vec<StatusCode> = futures::future::join_all(attempts)
            .await
            .into_iter()
            .map(|r| r.unwrap().status())
            .collect();
        let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        let failed = statuses
            .iter()
            .filter(|s| **s == StatusCode::PRECONDITION_FAILED)
            .count();
        assert_eq!((ok, failed), (1, 5), "{path}: {statuses:?}");
    }
    // Two deletions with one tag: one goes through; the other finds nothing or a stale tag.
    let path = &f.paths[1];
    let tag = etag(&f.app.get(path, None).await);
    let attempts = (0..2).map(|_| {
        with_token(&f.app, Method::DELETE, path, &f.owner.access)
            .header("if-match", &tag)
            .send()
    });
    let mut statuses: Vec<u16> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    statuses.sort();
    assert_eq!(statuses[0], 204, "{statuses:?}");
    assert!(statuses[1] == 404 || statuses[1] == 412, "{statuses:?}");
}

async fn a_retried_creation_returns_the_first_response_and_creates_nothing() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let body = json!({"title": "Once", "body": "Only once"});
    let first = create_post(&app, &user, Some("retry-1"), &body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_tag = etag(&first);
    let first_body = first.text().await.unwrap();

    // The same body with its keys in another order is the same request.
    let reordered = json!({"body": "Only once", "title": "Once"});
    for retry in [&body, &reordered] {
        let again = create_post(&app, &user, Some("retry-1"), retry).await;
        assert_eq!(again.status(), StatusCode::CREATED);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(etag(&again), first_tag);
        assert_eq!(
            again.text().await.unwrap(),
            first_body,
            "same body, same id"
        );
    }
    assert_eq!(total(&app, "/posts").await, 1);

    // The same key with another body is refused, and creates nothing.
    let res = create_post(
        &app,
        &user,
        Some("retry-1"),
        &json!({"title": "Twice", "body": "Only once"}),
    )
    .await;
    let error = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key"),
        "{error}"
    );
    assert_eq!(total(&app, "/posts").await, 1);

    // Without a key, or with another key, a creation is a creation.
    assert_eq!(
        create_post(&app, &user, None, &body).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        create_post(&app, &user, Some("retry-2"), &body)
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(total(&app, "/posts").await, 3);

    // A failed request stores nothing: fixing the body under the same key creates.
    let res = create_post(&app, &user, Some("retry-3"), &json!({"title": ""})).await;
    assert_error(res, StatusCode::BAD_REQUEST).await;
    let res = create_post(
        &app,
        &user,
        Some("retry-3"),
        &json!({"title": "Fixed", "body": "."}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(total(&app, "/posts").await, 4);
}

async fn keys_belong_to_one_user() {
    let app = spawn_app().await;
    let alice = app.create_user().await;
    let bob = app.create_user().await;
    let body = json!({"title": "Mine", "body": "Same words"});
    let hers = json_of(
        create_post(&app, &alice, Some("shared-key"), &body).await,
        StatusCode::CREATED,
    )
    .await;
    let his = create_post(&app, &bob, Some("shared-key"), &body).await;
    assert_eq!(his.status(), StatusCode::CREATED);
    assert!(
        his.headers().get("idempotent-replayed").is_none(),
        "never another user's response"
    );
    let his = his.json::<Value>().await.unwrap();
    assert_ne!(his["id"], hers["id"]);
    assert_eq!(his["user_id"], bob.id);
    assert_eq!(total(&app, "/posts").await, 2);
}

async fn a_burst_of_one_creation_creates_one_resource() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let admin = app.create_admin().await;
    let body = json!({"title": "Burst", "body": "Sent ten times at once"});
    let burst = (0..10).map(|_| create_post(&app, &user, Some("burst"), &body));
    let responses = futures::future::join_all(burst).await;
    let mut ids = Vec::new();
    for res in responses {
        assert_eq!(res.status(), StatusCode::CREATED);
        ids.push(res.json::<Value>().await.unwrap()["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every response names the one post: {ids:?}");
    assert_eq!(total(&app, "/posts").await, 1);

    let body = json!({"name": "Burst lamp", "price": "9.99", "sku": "BURST-1"});
    let burst = (0..10).map(|_| {
        with_token(&app, Method::POST, "/products", &admin.access)
            .header("idempotency-key", "burst")
            .json(&body)
            .send()
    });
    let mut ids = Vec::new();
    for res in futures::future::join_all(burst).await {
        let res = res.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "not a 409 on the sku: the retries are the same creation"
        );
        ids.push(res.json::<Value>().await.unwrap()["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(total(&app, "/products").await, 1);
}

async fn keys_expire_and_are_cleaned_up() {
    let app = spawn_app_with(&[("IDEMPOTENCY_KEY_TTL_SECONDS", "1")]).await;
    let user = app.create_user().await;
    let body = json!({"title": "Soon forgotten", "body": "."});
    let first = json_of(
        create_post(&app, &user, Some("short-lived"), &body).await,
        StatusCode::CREATED,
    )
    .await;
    let again = json_of(
        create_post(&app, &user, Some("short-lived"), &body).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(first["id"], again["id"]);
    create_post(&app, &user, Some("also-short-lived"), &body).await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;

    // Past its lifetime a key is new again.
    let later = json_of(
        create_post(&app, &user, Some("short-lived"), &body).await,
        StatusCode::CREATED,
    )
    .await;
    assert_ne!(later["id"], first["id"]);
    // The clean-up removes the expired one and keeps the fresh one.
    let deleted = larch::idempotency::delete_expired(&app.state.db, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    let replay = create_post(&app, &user, Some("short-lived"), &body).await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
}

/// The clean-up deletes in batches of 1,000 until none are left: 2,001 expired keys take
/// three batches, and the fresh key stays.
async fn the_clean_up_deletes_every_expired_key_batch_by_batch() {
    use larch::idempotency::model::{ActiveModel, Column, Entity};
    use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

    let app = spawn_app().await;
    let user = app.create_user().await;
    let fresh = json!({"title": "Kept", "body": "."});
    create_post(&app, &user, Some("fresh"), &fresh).await;
    let user_id = user.id;
    let past = chrono::Utc::now() - chrono::Duration::hours(1);
    let expired: Vec<ActiveModel> = (0..2_001)
        .map(|n| ActiveModel {
            user_id: Set(user_id),
            idempotency_key: Set(format!("old-{n}")),
            request_hash: Set("0".repeat(64)),
            response_status: Set(201),
            response_body: Set("{}".into()),
            created_at: Set(past - chrono::Duration::hours(24)),
            expires_at: Set(past),
            ..Default::default()
        })
        .collect();
    for chunk in expired.chunks(500) {
        Entity::insert_many(chunk.to_vec())
            .exec(&app.state.db)
            .await
            .unwrap();
    }

    let deleted = larch::idempotency::delete_expired(&app.state.db, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(deleted, 2_001);
    let left = Entity::find()
        .filter(Column::UserId.eq(user_id))
        .count(&app.state.db)
        .await
        .unwrap();
    assert_eq!(left, 1, "only the fresh key is left");
    let replay = create_post(&app, &user, Some("fresh"), &fresh).await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
}

/// Storing a key that another request stored first is a lost race (`false`: the caller
/// replays the winner's response), whichever backend reports the duplicate; any other
/// failure of the insert is an error, not a race. Direct, because only concurrent writers
/// reach this, and SQLite serialises them before it.
async fn a_key_stored_twice_loses_the_race_and_other_failures_are_errors() {
    use larch::conditional::JsonWithEtag;
    use larch::idempotency::{IdempotencyKey, IdempotentRequest};

    let app = spawn_app().await;
    let user = app.create_user().await;
    let body = serde_json::Map::new();
    let key = || IdempotencyKey(Some("raced".into()));
    let claim = IdempotentRequest::new(key(), user.id, "POST /posts", &body).unwrap();
    let response = JsonWithEtag::new(StatusCode::CREATED, &json!({"id": 1})).unwrap();
    let ttl = std::time::Duration::from_secs(60);
    assert!(claim.store(&app.state.db, &response, ttl).await.unwrap());
    assert!(!claim.store(&app.state.db, &response, ttl).await.unwrap());
    // No such user: the foreign key refuses the row.
    let nobody = IdempotentRequest::new(key(), i64::MAX, "POST /posts", &body).unwrap();
    assert!(nobody.store(&app.state.db, &response, ttl).await.is_err());
}

async fn bad_keys_are_400() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let body = json!({"title": "t", "body": "b"});
    for bad in ["", &"k".repeat(256), "has space", "tab\there"] {
        let res = create_post(&app, &user, Some(bad), &body).await;
        assert_error(res, StatusCode::BAD_REQUEST).await;
    }
    let res = with_token(&app, Method::POST, "/posts", &user.access)
        .header("idempotency-key", "one")
        .header("idempotency-key", "two")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST).await;
    let res = with_token(&app, Method::POST, "/posts", &user.access)
        .header(
            "idempotency-key",
            reqwest::header::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        create_post(&app, &user, Some(&"k".repeat(255)), &body)
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(total(&app, "/posts").await, 1);
}

/// Reads by key that arrive together share one statement on PostgreSQL and MySQL
/// (`read_batches`); each request must still get its own row, a missing or ended one its own
/// error, and a write must show in every read that starts after it.
async fn reads_made_together_answer_each_request_with_its_own_row() {
    let app = spawn_app().await;
    let mut users = Vec::new();
    for _ in 0..8 {
        users.push(app.create_user().await);
    }
    let mut posts = Vec::new();
    for user in &users {
        let post = json_of(
            app.post(
                "/posts",
                Some(&user.access),
                &json!({"title": format!("By {}", user.username), "body": "Hello"}),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
        posts.push(post["id"].as_i64().unwrap());
    }
    let ended = app.create_user().await;
    let res = app
        .post("/auth/logout", Some(&ended.refresh), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    for _ in 0..3 {
        let mut checks = Vec::new();
        for (i, user) in users.iter().enumerate() {
            let other = &users[(i + 1) % users.len()];
            let app = &app;
            let post = posts[i];
            checks.push(Box::pin(async move {
                let me = json_of(
                    app.get("/auth/me", Some(&user.access)).await,
                    StatusCode::OK,
                )
                .await;
                assert_eq!(me["id"].as_i64(), Some(user.id));
                assert_eq!(me["username"].as_str(), Some(user.username.as_str()));
            })
                as std::pin::Pin<
                    Box<dyn std::future::Future<Output = ()> + Send + '_>,
                >);
            checks.push(Box::pin(async move {
                let path = format!("/users/{}", other.id);
                let seen = json_of(app.get(&path, Some(&user.access)).await, StatusCode::OK).await;
                assert_eq!(seen["username"].as_str(), Some(other.username.as_str()));
            }));
            checks.push(Box::pin(async move {
                let path = format!("/posts/{post}");
                let seen = json_of(app.get(&path, None).await, StatusCode::OK).await;
                assert_eq!(seen["id"].as_i64(), Some(post));
                assert_eq!(
                    seen["title"].as_str(),
                    Some(format!("By {}", user.username).as_str())
                );
            }));
        }
        let app = &app;
        let ended = &ended;
        let first = &users[0];
        checks.push(Box::pin(async move {
            assert_error(
                app.get("/auth/me", Some(&ended.access)).await,
                StatusCode::UNAUTHORIZED,
            )
            .await;
        }));
        checks.push(Box::pin(async move {
            assert_error(
                app.get("/posts/999999999", None).await,
                StatusCode::NOT_FOUND,
            )
            .await;
        }));
        checks.push(Box::pin(async move {
            let path = format!("/users/{}", first.id + 1_000_000);
            assert_error(
                app.get(&path, Some(&first.access)).await,
                StatusCode::NOT_FOUND,
            )
            .await;
        }));
        futures::future::join_all(checks).await;
    }

    // A write shows in the next read, whatever other reads of the same post are in flight.
    let path = format!("/posts/{}", posts[0]);
    for round in 0..5 {
        let title = format!("Edited {round}");
        let res = app
            .patch(&path, Some(&users[0].access), &json!({"title": title}))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let reads = (0..16).map(|_| app.get(&path, None));
        for res in futures::future::join_all(reads).await {
            let seen = json_of(res, StatusCode::OK).await;
            assert_eq!(seen["title"].as_str(), Some(title.as_str()));
        }
        // The same for a page that many requests read at once.
        let created = json_of(
            app.post(
                "/posts",
                Some(&users[1].access),
                &json!({"title": format!("New {round}"), "body": "Hi"}),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
        let pages = (0..16).map(|_| app.get("/posts?page=1&limit=3", None));
        for res in futures::future::join_all(pages).await {
            let page = json_of(res, StatusCode::OK).await;
            assert_eq!(page["posts"][0]["id"], created["id"]);
            assert_eq!(page["total"].as_u64(), Some(8 + round + 1));
        }
    }
}

pub fn tests() -> Vec<Test> {
    trials![
        single_resource_gets_send_an_etag_and_honour_if_none_match,
        pages_of_lists_send_an_etag_that_follows_their_contents,
        the_tag_changes_exactly_when_the_representation_does,
        if_match_guards_every_write,
        racing_updates_with_one_tag_give_one_success,
        a_retried_creation_returns_the_first_response_and_creates_nothing,
        keys_belong_to_one_user,
        a_burst_of_one_creation_creates_one_resource,
        keys_expire_and_are_cleaned_up,
        the_clean_up_deletes_every_expired_key_batch_by_batch,
        a_key_stored_twice_loses_the_race_and_other_failures_are_errors,
        bad_keys_are_400,
        reads_made_together_answer_each_request_with_its_own_row
    ]
}
