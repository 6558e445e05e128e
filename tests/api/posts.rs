//! `/posts`, `/posts/{id}`, and a user's posts: `/users/{id}/posts`,
//! `/users/{id}/posts/{post_id}`.

use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::client::{TestApp, TestUser, assert_error, assert_fields, json_of, spawn_app};
use crate::runner::{Test, trials};

async fn create_post(app: &TestApp, user: &TestUser, title: &str) -> Value {
    let res = app
        .post(
            "/posts",
            Some(&user.access),
            &json!({"title": title, "body": "Some text."}),
        )
        .await;
    json_of(res, StatusCode::CREATED).await
}

fn titles(page: &Value) -> Vec<String> {
    page["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["title"].as_str().unwrap().to_owned())
        .collect()
}

async fn get_page(app: &TestApp, path: &str) -> Value {
    json_of(app.get(path, None).await, StatusCode::OK).await
}

fn q(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn create_read_update_delete() {
    let app = spawn_app().await;
    let alice = app.create_user().await;
    let body = json!({
        "title": "Hello",
        "body": "First post",
        "user_id": 999,
        "author": {"id": 999},
        "id": 5,
    });
    let res = app.post("/posts", Some(&alice.access), &body).await;
    let post = json_of(res, StatusCode::CREATED).await;
    assert_eq!(post["title"], "Hello");
    assert_eq!(post["body"], "First post");
    assert_ne!(post["id"], 5, "the id in the body is ignored");
    assert_eq!(
        post["user_id"], alice.id,
        "author = caller; user_id in the body is ignored"
    );
    assert_eq!(
        post["author"],
        json!({"id": alice.id, "username": alice.username})
    );
    let keys: Vec<&String> = post.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "id",
            "title",
            "body",
            "user_id",
            "author",
            "created_at",
            "updated_at"
        ]
    );
    let path = format!("/posts/{}", post["id"]);

    assert_eq!(
        json_of(app.get(&path, None).await, StatusCode::OK).await,
        post,
        "public read"
    );
    let updated = json_of(
        app.patch(&path, Some(&alice.access), &json!({"title": "Hello again"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(updated["title"], "Hello again");
    assert_eq!(updated["body"], "First post");
    let updated = json_of(
        app.put(&path, Some(&alice.access), &json!({"body": "Edited"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (updated["title"].as_str(), updated["body"].as_str()),
        (Some("Hello again"), Some("Edited"))
    );

    let res = app.delete(&path, Some(&alice.access)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let body = assert_error(app.get(&path, None).await, StatusCode::NOT_FOUND).await;
    assert!(body["message"].as_str().unwrap().contains("not found"));
    assert_error(
        app.delete(&path, Some(&alice.access)).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn only_the_author_or_an_admin_may_change_a_post() {
    let app = spawn_app().await;
    let alice = app.create_user().await;
    let mallory = app.create_user().await;
    let admin = app.create_admin().await;
    let post = create_post(&app, &alice, "Mine").await;
    let path = format!("/posts/{}", post["id"]);
    assert_error(
        app.post("/posts", None, &json!({"title": "x", "body": "y"}))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_error(
        app.patch(&path, None, &json!({"title": "x"})).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_error(
        app.patch(&path, Some(&mallory.access), &json!({"title": "Stolen"}))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_error(
        app.put(&path, Some(&mallory.access), &json!({"body": "Stolen"}))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_error(
        app.delete(&path, Some(&mallory.access)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        json_of(app.get(&path, None).await, StatusCode::OK).await["title"],
        "Mine"
    );
    let moderated = json_of(
        app.patch(&path, Some(&admin.access), &json!({"title": "Moderated"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        moderated["user_id"], alice.id,
        "an admin's edit keeps the author"
    );
    assert_eq!(
        app.delete(&path, Some(&admin.access)).await.status(),
        StatusCode::NO_CONTENT
    );
}

async fn post_fields_are_validated_all_at_once() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    assert_fields(
        app.post("/posts", Some(&user.access), &json!({})).await,
        &["body", "title"],
    )
    .await;
    assert_fields(
        app.post(
            "/posts",
            Some(&user.access),
            &json!({"title": "", "body": 5, "tags": []}),
        )
        .await,
        &["body", "tags", "title"],
    )
    .await;
    for bad in [
        json!(null),
        json!(1),
        json!([]),
        json!("   "),
        json!("a\u{0}b"),
        json!("x".repeat(201)),
    ] {
        assert_fields(
            app.post(
                "/posts",
                Some(&user.access),
                &json!({"title": bad, "body": "ok"}),
            )
            .await,
            &["title"],
        )
        .await;
    }
    assert_fields(
        app.post(
            "/posts",
            Some(&user.access),
            &json!({"title": "ok", "body": "x".repeat(100_001)}),
        )
        .await,
        &["body"],
    )
    .await;
    // The limits count characters, not bytes.
    let res = app
        .post(
            "/posts",
            Some(&user.access),
            &json!({"title": "é".repeat(200), "body": "😀".repeat(1000)}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let post = create_post(&app, &user, "Keep").await;
    let path = format!("/posts/{}", post["id"]);
    assert_fields(
        app.patch(
            &path,
            Some(&user.access),
            &json!({"title": null, "body": ""}),
        )
        .await,
        &["body", "title"],
    )
    .await;
    assert_eq!(
        json_of(app.get(&path, None).await, StatusCode::OK).await["title"],
        "Keep"
    );
}

async fn unicode_and_awkward_text_round_trips_on_every_backend() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let title = "Emoji 😀🎉 — ünïcödé 中文 %_\\ ' \" <b>";
    let body = format!("{}\n\t{}", "𝕏".repeat(10), "line two 👩‍👩‍👧");
    let res = app
        .post(
            "/posts",
            Some(&user.access),
            &json!({"title": title, "body": body}),
        )
        .await;
    let post = json_of(res, StatusCode::CREATED).await;
    let fetched = json_of(
        app.get(&format!("/posts/{}", post["id"]), None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(fetched["title"], title);
    assert_eq!(fetched["body"], body.as_str());
    // A maximal body survives (100,000 four-byte characters).
    let huge = "😀".repeat(100_000);
    let res = app
        .post(
            "/posts",
            Some(&user.access),
            &json!({"title": "big", "body": huge}),
        )
        .await;
    let post = json_of(res, StatusCode::CREATED).await;
    let fetched = json_of(
        app.get(&format!("/posts/{}", post["id"]), None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(fetched["body"].as_str().unwrap().chars().count(), 100_000);
}

async fn lists_page_newest_first_and_filter() {
    let app = spawn_app().await;
    let alice = app.create_user().await;
    let bob = app.create_user().await;
    for title in [
        "Rust tips",
        "Cooking",
        "rusty nails",
        "100% done",
        "snake_case",
    ] {
        create_post(&app, &alice, title).await;
    }
    create_post(&app, &bob, "Bob on Rust").await;

    let all = get_page(&app, "/posts").await;
    assert_eq!(all["total"], 6);
    assert_eq!(
        titles(&all),
        [
            "Bob on Rust",
            "snake_case",
            "100% done",
            "rusty nails",
            "Cooking",
            "Rust tips"
        ]
    );
    let second = get_page(&app, "/posts?page=2&limit=4").await;
    assert_eq!(titles(&second), ["Cooking", "Rust tips"]);
    assert_eq!(
        (second["page"].as_u64(), second["pages"].as_u64()),
        (Some(2), Some(2))
    );
    let past = get_page(&app, "/posts?page=5&limit=4").await;
    assert_eq!(
        (
            past["posts"].clone(),
            past["page"].as_u64(),
            past["total"].as_u64()
        ),
        (json!([]), Some(5), Some(6))
    );
    // Far past the end (the total is read first there), and at the largest page number.
    for page in ["5001", "9223372036854775807"] {
        let far = get_page(&app, &format!("/posts?page={page}&limit=100")).await;
        assert_eq!(
            (far["posts"].clone(), far["total"].as_u64()),
            (json!([]), Some(6)),
            "page {page}"
        );
    }

    assert_eq!(
        get_page(&app, &format!("/posts?q={}", q("RUST"))).await["total"],
        3
    );
    assert_eq!(
        titles(&get_page(&app, &format!("/posts?q={}", q("%"))).await),
        ["100% done"]
    );
    assert_eq!(
        titles(&get_page(&app, &format!("/posts?q={}", q("_"))).await),
        ["snake_case"]
    );
    assert_eq!(
        get_page(&app, &format!("/posts?q={}", q("zzz"))).await["pages"],
        0
    );
    let bobs = get_page(&app, &format!("/posts?user_id={}", bob.id)).await;
    assert_eq!(titles(&bobs), ["Bob on Rust"]);
    let both = get_page(&app, &format!("/posts?user_id={}&q=rust", alice.id)).await;
    assert_eq!(titles(&both), ["rusty nails", "Rust tips"]);

    for bad in [
        "?page=0",
        "?limit=101",
        "?user_id=abc",
        "?user_id=0",
        "?q=a%00b",
    ] {
        assert_error(
            app.get(&format!("/posts{bad}"), None).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
}

/// Past `DEEP_OFFSET` rows a page is checked against the total before it is read: a deep
/// page inside the list still comes back full, and the first page past it empty.
async fn deep_pages_inside_the_list_are_read() {
    let app = spawn_app().await;
    let plan = larch::seed::SeedPlan {
        users: 1,
        posts: larch::pagination::DEEP_OFFSET + 30,
        products: 0,
    };
    larch::seed::seed(&app.state.db, &plan).await.unwrap();
    let total = plan.posts;
    let first_deep = larch::pagination::DEEP_OFFSET / 20 + 1;
    let deep = get_page(&app, &format!("/posts?page={first_deep}&limit=20")).await;
    assert_eq!(deep["total"].as_u64(), Some(total));
    assert_eq!(deep["posts"].as_array().unwrap().len(), 20);
    let last = get_page(&app, &format!("/posts?page={}&limit=20", first_deep + 1)).await;
    assert_eq!(last["posts"].as_array().unwrap().len(), 10);
    let past = get_page(&app, &format!("/posts?page={}&limit=20", first_deep + 2)).await;
    assert_eq!(
        (past["posts"].clone(), past["total"].as_u64()),
        (json!([]), Some(total))
    );
}

async fn a_users_posts() {
    let app = spawn_app().await;
    let alice = app.create_user().await;
    let bob = app.create_user().await;
    let first = create_post(&app, &alice, "A1").await;
    create_post(&app, &alice, "A2").await;
    let bobs = create_post(&app, &bob, "B1").await;

    let page = get_page(&app, &format!("/users/{}/posts", alice.id)).await;
    assert_eq!(titles(&page), ["A2", "A1"]);
    assert_eq!(page["total"], 2);
    assert_eq!(
        titles(&get_page(&app, &format!("/users/{}/posts?limit=1&page=2", alice.id)).await),
        ["A1"]
    );
    let empty = app.create_user().await;
    assert_eq!(
        get_page(&app, &format!("/users/{}/posts", empty.id)).await["total"],
        0
    );
    let body = assert_error(
        app.get("/users/987654/posts", None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(body["message"], "User 987654 not found");

    let one = json_of(
        app.get(&format!("/users/{}/posts/{}", alice.id, first["id"]), None)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(one, first);
    assert_error(
        app.get(&format!("/users/{}/posts/{}", alice.id, bobs["id"]), None)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_error(
        app.get(&format!("/users/{}/posts/abc", alice.id), None)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_error(
        app.get("/users/abc/posts", None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn deleting_a_user_deletes_their_posts() {
    let app = spawn_app().await;
    let alice = app.create_user().await;
    let bob = app.create_user().await;
    let post = create_post(&app, &alice, "Goes away").await;
    create_post(&app, &bob, "Stays").await;
    assert_eq!(
        app.delete(&format!("/users/{}", alice.id), Some(&alice.access))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        app.get(&format!("/posts/{}", post["id"]), None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(titles(&get_page(&app, "/posts").await), ["Stays"]);
}

async fn a_renamed_author_shows_on_their_posts() {
    let app = spawn_app().await;
    let alice = app.create_user().await;
    let post = create_post(&app, &alice, "Byline").await;
    app.patch(
        &format!("/users/{}", alice.id),
        Some(&alice.access),
        &json!({"username": "alice_renamed"}),
    )
    .await;
    let fetched = json_of(
        app.get(&format!("/posts/{}", post["id"]), None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(fetched["author"]["username"], "alice_renamed");
    assert_eq!(
        get_page(&app, "/posts").await["posts"][0]["author"]["username"],
        "alice_renamed"
    );
}

async fn totals_stay_exact_through_concurrent_writes_and_cascades() {
    let app = spawn_app().await;
    let alice = app.create_user().await;
    let bob = app.create_user().await;
    let creates = (0..20).map(|i| {
        let (app, user) = (&app, if i % 2 == 0 { &alice } else { &bob });
        async move {
            app.post(
                "/posts",
                Some(&user.access),
                &json!({"title": format!("t{i}"), "body": "b"}),
            )
            .await
            .status()
        }
    });
    let statuses = futures::future::join_all(creates).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::CREATED),
        "{statuses:?}"
    );
    assert_eq!(get_page(&app, "/posts").await["total"], 20);
    // The unfiltered total (kept as a count) agrees with a counted, filtered one.
    let alices = get_page(&app, &format!("/posts?user_id={}", alice.id)).await["total"]
        .as_u64()
        .unwrap();
    let bobs = get_page(&app, &format!("/posts?user_id={}", bob.id)).await["total"]
        .as_u64()
        .unwrap();
    assert_eq!(alices + bobs, 20);

    let first = get_page(&app, "/posts?limit=1").await["posts"][0]["id"].clone();
    let owner = if get_page(&app, "/posts?limit=1").await["posts"][0]["user_id"] == alice.id {
        &alice
    } else {
        &bob
    };
    assert_eq!(
        app.delete(&format!("/posts/{first}"), Some(&owner.access))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        app.delete(&format!("/posts/{first}"), Some(&owner.access))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(get_page(&app, "/posts").await["total"], 19);

    let bobs_now = get_page(&app, &format!("/posts?user_id={}", bob.id)).await["total"]
        .as_u64()
        .unwrap();
    assert_eq!(
        app.delete(&format!("/users/{}", bob.id), Some(&bob.access))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        get_page(&app, "/posts").await["total"].as_u64().unwrap(),
        19 - bobs_now
    );
    assert_eq!(
        get_page(&app, "/posts").await["pages"].as_u64().unwrap(),
        (19 - bobs_now).div_ceil(20)
    );
}

/// Case folding turns `İ` into two characters: the folded key of a 200-character title is
/// longer than the title, and must still fit on every backend.
async fn titles_whose_folded_form_is_longer_fit_on_every_backend() {
    let app = spawn_app().await;
    let alice = app.create_user().await;
    for title in [
        "İ".repeat(200),
        format!("{}İ", "x".repeat(199)),
        "ΐ".repeat(200),
    ] {
        let post = create_post(&app, &alice, &title).await;
        assert_eq!(post["title"], title.as_str());
        let path = format!("/posts/{}", post["id"]);
        let read = json_of(app.get(&path, None).await, StatusCode::OK).await;
        assert_eq!(read["title"], title.as_str());
    }
    // Edited to such a title, and found by a search for part of it.
    let post = create_post(&app, &alice, "plain").await;
    let path = format!("/posts/{}", post["id"]);
    let long = "İ".repeat(200);
    let res = app
        .patch(&path, Some(&alice.access), &json!({"title": long}))
        .await;
    assert_eq!(json_of(res, StatusCode::OK).await["title"], long.as_str());
    let page = get_page(&app, &format!("/posts?q={}", q("İİİ"))).await;
    assert_eq!(page["total"], 2, "{page}");
    assert!(titles(&page).iter().all(|t| t.starts_with('İ')));
}

async fn blank_means_white_space_or_invisible_characters() {
    let app = spawn_app().await;
    let alice = app.create_user().await;
    for blank in [
        "\u{200B}\u{200B}",
        "\u{2800}",
        "\u{FEFF} \u{200D}",
        "\u{3164}",
        "\u{E0041}",
    ] {
        let res = app
            .post(
                "/posts",
                Some(&alice.access),
                &json!({"title": blank, "body": blank}),
            )
            .await;
        let body = assert_fields(res, &["body", "title"]).await;
        assert_eq!(
            body["fields"]["title"],
            json!(["must not be blank"]),
            "{blank:?}"
        );
    }
    // Invisible characters beside visible ones are text like any other.
    let post = create_post(&app, &alice, "a\u{200B}b").await;
    assert_eq!(post["title"], "a\u{200B}b");
}

/// `?q=` and the stored keys are folded by one function: final sigma, sharp s and
/// capitals all match.
async fn search_folds_case_as_unicode_does() {
    let app = spawn_app().await;
    let alice = app.create_user().await;
    create_post(&app, &alice, "ΟΔΟΣ").await;
    create_post(&app, &alice, "Straße").await;
    create_post(&app, &alice, "unrelated").await;
    for (term, expected) in [
        ("Σ", "ΟΔΟΣ"),
        ("ς", "ΟΔΟΣ"),
        ("οδος", "ΟΔΟΣ"),
        ("ΟΔΟς", "ΟΔΟΣ"),
        ("STRASSE", "Straße"),
        ("straß", "Straße"),
    ] {
        let page = get_page(&app, &format!("/posts?q={}", q(term))).await;
        assert_eq!(titles(&page), [expected], "?q={term}");
    }
}

/// Pages are kept between requests (against a change counter the database keeps): every
/// write that changes one shows on the next read, whichever way it reaches the database:
/// a post's creation, edit or deletion, its author's rename or deletion, or SQL written
/// straight to the database, as an import or an operator would.
async fn every_change_to_a_kept_page_shows_on_the_next_read() {
    let app = spawn_app().await;
    let alice = app.create_user().await;
    let bob = app.create_user().await;
    let first = create_post(&app, &alice, "First").await;
    let alices = format!("/users/{}/posts", alice.id);
    let read = |path: &'static str| get_page(&app, path);
    assert_eq!(titles(&read("/posts").await), ["First"]);
    assert_eq!(titles(&get_page(&app, &alices).await), ["First"]);
    assert_eq!(titles(&read("/posts?q=first").await), ["First"]);

    let second = create_post(&app, &bob, "Second").await;
    let page = read("/posts").await;
    assert_eq!(
        (titles(&page), &page["total"]),
        (vec!["Second".to_owned(), "First".to_owned()], &json!(2))
    );

    let res = app
        .patch(
            &format!("/posts/{}", first["id"]),
            Some(&alice.access),
            &json!({"title": "Edited"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(titles(&read("/posts").await), ["Second", "Edited"]);
    assert_eq!(titles(&get_page(&app, &alices).await), ["Edited"]);
    assert_eq!(read("/posts?q=first").await["total"], 0);

    let res = app
        .patch(
            &format!("/users/{}", alice.id),
            Some(&alice.access),
            &json!({"username": "alice_renamed"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        read("/posts").await["posts"][1]["author"]["username"],
        "alice_renamed"
    );

    let res = app
        .delete(&format!("/posts/{}", second["id"]), Some(&bob.access))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let page = read("/posts").await;
    assert_eq!(
        (titles(&page), &page["total"]),
        (vec!["Edited".to_owned()], &json!(1))
    );

    let id = first["id"].as_i64().unwrap();
    app.state
        .db
        .execute_unprepared(&format!(
            "UPDATE posts SET title = 'Written in SQL' WHERE id = {id}"
        ))
        .await
        .unwrap();
    assert_eq!(titles(&read("/posts").await), ["Written in SQL"]);

    let res = app
        .delete(&format!("/users/{}", alice.id), Some(&alice.access))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let page = read("/posts").await;
    assert_eq!(
        (titles(&page), &page["total"]),
        (Vec::<String>::new(), &json!(0))
    );
}

pub fn tests() -> Vec<Test> {
    trials![
        create_read_update_delete,
        only_the_author_or_an_admin_may_change_a_post,
        post_fields_are_validated_all_at_once,
        unicode_and_awkward_text_round_trips_on_every_backend,
        lists_page_newest_first_and_filter,
        deep_pages_inside_the_list_are_read,
        a_users_posts,
        deleting_a_user_deletes_their_posts,
        a_renamed_author_shows_on_their_posts,
        totals_stay_exact_through_concurrent_writes_and_cascades,
        titles_whose_folded_form_is_longer_fit_on_every_backend,
        blank_means_white_space_or_invisible_characters,
        search_folds_case_as_unicode_does,
        every_change_to_a_kept_page_shows_on_the_next_read,
    ]
}
