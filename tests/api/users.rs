//! `/users`, `/users/profile` and `/users/{id}`: listing and search, who sees emails,
//! updates, roles and the last admin, deletion.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::client::{TestApp, assert_error, assert_fields, json_of, spawn_app};
use crate::runner::{Test, trials};

async fn list(app: &TestApp, token: &str, query: &str) -> Value {
    json_of(
        app.get(&format!("/users{query}"), Some(token)).await,
        StatusCode::OK,
    )
    .await
}

fn usernames(page: &Value) -> Vec<String> {
    page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect()
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn listing_needs_a_token_and_pages_newest_first() {
    let app = spawn_app().await;
    assert_error(app.get("/users", None).await, StatusCode::UNAUTHORIZED).await;
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(app.create_user().await);
    }
    let viewer = &created[0];
    let first = list(&app, &viewer.access, "?limit=2").await;
    assert_eq!(first["total"], 5);
    assert_eq!(first["page"], 1);
    assert_eq!(first["pages"], 3);
    let expected: Vec<String> = created.iter().rev().map(|u| u.username.clone()).collect();
    assert_eq!(usernames(&first), expected[..2]);
    let second = list(&app, &viewer.access, "?limit=2&page=2").await;
    assert_eq!(usernames(&second), expected[2..4]);
    let third = list(&app, &viewer.access, "?page=3&limit=2").await;
    assert_eq!(usernames(&third), expected[4..]);
    let past = list(&app, &viewer.access, "?page=99&limit=2").await;
    assert_eq!(past["users"], json!([]));
    assert_eq!(past["page"], 99);
    assert_eq!(past["total"], 5);
    assert_eq!(past["pages"], 3);
    let far = list(&app, &viewer.access, "?page=9223372036854775807&limit=100").await;
    assert_eq!(far["users"], json!([]));
    assert_eq!(far["page"], i64::MAX);
    // Beyond a signed 64-bit integer a page is not a page.
    let res = app
        .get("/users?page=9223372036854775808", Some(&viewer.access))
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::BAD_REQUEST);
    let default = list(&app, &viewer.access, "").await;
    assert_eq!(default["users"].as_array().unwrap().len(), 5);
    assert_eq!(default["pages"], 1);
}

async fn ties_in_created_at_are_broken_by_id_descending() {
    let app = spawn_app().await;
    let a = app.create_user().await;
    let b = app.create_user().await;
    let c = app.create_user().await;
    // Give all three the same timestamp.
    use larch::users::model::{Column, Entity};
    use sea_orm::EntityTrait;
    use sea_orm::sea_query::Expr;
    let first = Entity::find_by_id(a.id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    Entity::update_many()
        .col_expr(Column::CreatedAt, Expr::value(first.created_at))
        .exec(&app.state.db)
        .await
        .unwrap();
    let page = list(&app, &a.access, "").await;
    let ids: Vec<i64> = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [c.id, b.id, a.id]);
}

async fn bad_page_parameters_are_400() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    for query in [
        "?page=0",
        "?page=-1",
        "?page=abc",
        "?limit=0",
        "?limit=101",
        "?limit=1000",
        "?page=1.5",
        "?page=",
        "?limit=abc",
        "?page=99999999999999999999",
    ] {
        let res = app.get(&format!("/users{query}"), Some(&user.access)).await;
        assert_error(res, StatusCode::BAD_REQUEST).await;
    }
    let res = app.get("/users?page=0&limit=0", Some(&user.access)).await;
    assert_fields(res, &["limit", "page"]).await;
    assert_eq!(
        app.get("/users?limit=100&page=1", Some(&user.access))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get("/users?limit=1", Some(&user.access)).await.status(),
        StatusCode::OK
    );
}

async fn search_is_a_case_insensitive_substring_with_literal_wildcards() {
    let app = spawn_app().await;
    for name in ["Alpha_One", "alphaXone", "beta.two", "betaXtwo", "gamma"] {
        assert_eq!(
            app.register(name, &format!("{name}@example.com"), "a-long-password")
                .await
                .status(),
            StatusCode::CREATED,
            "{name}"
        );
    }
    let viewer = app.create_user().await;
    let query = |q: &str| format!("?q={}", urlencode(q));
    assert_eq!(
        list(&app, &viewer.access, &query("ALPHA")).await["total"],
        2
    );
    let underscore = list(&app, &viewer.access, &query("a_o")).await;
    assert_eq!(usernames(&underscore), ["Alpha_One"]);
    // '%' cannot occur in a username, so it matches nothing rather than everything.
    assert_eq!(list(&app, &viewer.access, &query("%")).await["total"], 0);
    assert_eq!(list(&app, &viewer.access, &query("_")).await["total"], 1);
    assert_eq!(list(&app, &viewer.access, &query(".")).await["total"], 1);
    assert_eq!(list(&app, &viewer.access, &query("")).await["total"], 6);
    let paged = list(&app, &viewer.access, &format!("{}&limit=1", query("a"))).await;
    assert_eq!(paged["pages"], paged["total"]);
}

async fn email_is_shown_only_to_the_user_themself_and_admins() {
    let app = spawn_app().await;
    let alice = app.create_user().await;
    let bob = app.create_user().await;
    let admin = app.create_admin().await;
    let path = format!("/users/{}", alice.id);

    let own = json_of(app.get(&path, Some(&alice.access)).await, StatusCode::OK).await;
    assert_eq!(own["email"], alice.email.as_str());
    let seen_by_bob = json_of(app.get(&path, Some(&bob.access)).await, StatusCode::OK).await;
    assert!(seen_by_bob.get("email").is_none(), "{seen_by_bob}");
    assert!(seen_by_bob.get("email_verified").is_none(), "{seen_by_bob}");
    assert_eq!(own["email_verified"], false);
    assert_eq!(seen_by_bob["username"], alice.username.as_str());
    let seen_by_admin = json_of(app.get(&path, Some(&admin.access)).await, StatusCode::OK).await;
    assert_eq!(seen_by_admin["email"], alice.email.as_str());

    let bobs_list = list(&app, &bob.access, "").await;
    assert_eq!(bobs_list["users"].as_array().unwrap().len(), 3);
    for user in bobs_list["users"].as_array().unwrap() {
        assert_eq!(user.get("email").is_some(), user["id"] == bob.id, "{user}");
        assert_eq!(
            user.get("email_verified").is_some(),
            user["id"] == bob.id,
            "{user}"
        );
    }
    let admins_list = list(&app, &admin.access, "").await;
    assert!(
        admins_list["users"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["email"].is_string())
    );
    assert!(!admins_list.to_string().contains("argon2"));
}

async fn profile_is_the_caller() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let profile = json_of(
        app.get("/users/profile", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    let me = json_of(
        app.get("/auth/me", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(profile, me);
    assert_error(
        app.get("/users/profile", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

async fn get_user_404s_in_the_contract_shape() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let body = assert_error(
        app.get("/users/4242", Some(&user.access)).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(body["message"], "User 4242 not found");
    assert_error(app.get("/users/4242", None).await, StatusCode::UNAUTHORIZED).await;
}

async fn users_update_themselves_with_put_or_patch() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let path = format!("/users/{}", user.id);
    let updated = json_of(
        app.patch(&path, Some(&user.access), &json!({"username": "Renamed"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(updated["username"], "Renamed");
    assert_eq!(updated["email"], user.email.as_str(), "partial: email kept");
    let updated = json_of(
        app.put(
            &path,
            Some(&user.access),
            &json!({"email": "New@Example.com"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(updated["email"], "new@example.com");
    assert_eq!(updated["username"], "Renamed");
    assert!(updated["updated_at"].as_str().unwrap() >= updated["created_at"].as_str().unwrap());
    // Read-only fields are ignored, even when they are not valid. (The id asked for is
    // not the user's own: the first user of a fresh database is 1.)
    let same = json_of(
        app.put(
            &path,
            Some(&user.access),
            &json!({"id": user.id + 1000, "created_at": "x", "updated_at": "y"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(same["id"], user.id);
    assert_eq!(same["created_at"], updated["created_at"]);
    let same = json_of(
        app.patch(
            &path,
            Some(&user.access),
            &json!({"created_at": "2000-01-01T00:00:00.000Z"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(same["created_at"], updated["created_at"]);
    // Logging in uses the new email.
    assert_eq!(
        app.login("new@example.com", &user.password).await.status(),
        StatusCode::OK
    );
}

async fn update_validation_names_every_bad_field() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let path = format!("/users/{}", user.id);
    let res = app
        .patch(
            &path,
            Some(&user.access),
            &json!({"username": "x", "email": 5, "role": "root", "password": "sneaky-new-pass"}),
        )
        .await;
    assert_fields(res, &["email", "password", "role", "username"]).await;
    let res = app
        .patch(&path, Some(&user.access), &json!({"username": null}))
        .await;
    assert_fields(res, &["username"]).await;
    let me = json_of(
        app.get("/auth/me", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["username"], user.username.as_str());
}

async fn taken_names_on_update_are_409() {
    let app = spawn_app().await;
    let alice = app.create_user().await;
    let bob = app.create_user().await;
    let path = format!("/users/{}", bob.id);
    let body = assert_error(
        app.patch(
            &path,
            Some(&bob.access),
            &json!({"email": alice.email.to_uppercase()}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("email")
    );
    let body = assert_error(
        app.patch(
            &path,
            Some(&bob.access),
            &json!({"username": alice.username.to_uppercase()}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("username")
    );
    // A user may re-case their own name.
    let res = app
        .patch(
            &path,
            Some(&bob.access),
            &json!({"username": bob.username.to_uppercase()}),
        )
        .await;
    assert_eq!(
        json_of(res, StatusCode::OK).await["username"],
        bob.username.to_uppercase()
    );
}

async fn users_cannot_touch_other_accounts() {
    let app = spawn_app().await;
    let alice = app.create_user().await;
    let bob = app.create_user().await;
    let path = format!("/users/{}", alice.id);
    assert_error(
        app.put(&path, Some(&bob.access), &json!({"username": "hijacked"}))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_error(
        app.patch(
            &path,
            Some(&bob.access),
            &json!({"email": "bob-owns@example.com"}),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_error(
        app.delete(&path, Some(&bob.access)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_error(app.delete(&path, None).await, StatusCode::UNAUTHORIZED).await;
    assert_error(
        app.patch(&path, None, &json!({"username": "anon"})).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let alice_now = json_of(app.get(&path, Some(&alice.access)).await, StatusCode::OK).await;
    assert_eq!(alice_now["username"], alice.username.as_str());
    assert_eq!(alice_now["email"], alice.email.as_str());
}

async fn only_admins_change_roles() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let admin = app.create_admin().await;
    let path = format!("/users/{}", user.id);
    assert_error(
        app.patch(&path, Some(&user.access), &json!({"role": "admin"}))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let me = json_of(
        app.get("/auth/me", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["role"], "user");

    let promoted = json_of(
        app.patch(&path, Some(&admin.access), &json!({"role": "admin"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(promoted["role"], "admin");
    // Authority is read from the database: the same token now has admin rights...
    let other = app.create_user().await;
    let seen = json_of(
        app.get(&format!("/users/{}", other.id), Some(&user.access))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(seen["email"].is_string());
    // ...and loses them at once when demoted.
    json_of(
        app.patch(&path, Some(&admin.access), &json!({"role": "user"}))
            .await,
        StatusCode::OK,
    )
    .await;
    let seen = json_of(
        app.get(&format!("/users/{}", other.id), Some(&user.access))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(seen.get("email").is_none());
    assert_error(
        app.patch(
            &format!("/users/{}", other.id),
            Some(&user.access),
            &json!({"username": "nope"}),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

async fn admins_manage_any_account() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let admin = app.create_admin().await;
    let path = format!("/users/{}", user.id);
    let updated = json_of(
        app.put(
            &path,
            Some(&admin.access),
            &json!({"username": "moderated"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(updated["username"], "moderated");
    assert_eq!(updated["email"], user.email.as_str());
    assert_eq!(
        app.delete(&path, Some(&admin.access)).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        app.get(&path, Some(&admin.access)).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_error(
        app.delete(&path, Some(&admin.access)).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_error(
        app.patch(&path, Some(&admin.access), &json!({"username": "ghost"}))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn the_last_admin_cannot_be_deleted_or_demoted() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let path = format!("/users/{}", admin.id);
    assert_error(
        app.delete(&path, Some(&admin.access)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_error(
        app.patch(&path, Some(&admin.access), &json!({"role": "user"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let me = json_of(
        app.get("/auth/me", Some(&admin.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["role"], "admin");

    // With a second admin, one may go.
    let second = app.create_admin().await;
    assert_eq!(
        app.patch(&path, Some(&second.access), &json!({"role": "user"}))
            .await
            .status(),
        StatusCode::OK
    );
    let second_path = format!("/users/{}", second.id);
    assert_error(
        app.delete(&second_path, Some(&second.access)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    let app = spawn_app().await;
    for _ in 0..5 {
        let a = app.create_admin().await;
        let b = app.create_admin().await;
        // Leave only a and b as admins.
        use larch::users::model::{Column, Entity};
        use sea_orm::sea_query::Expr;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        Entity::update_many()
            .col_expr(Column::Role, Expr::value("user"))
            .filter(Column::Id.is_not_in([a.id, b.id]))
            .exec(&app.state.db)
            .await
            .unwrap();
        let (path_a, path_b, demote) = (
            format!("/users/{}", a.id),
            format!("/users/{}", b.id),
            json!({"role": "user"}),
        );
        let (ra, rb) = tokio::join!(
            app.patch(&path_b, Some(&a.access), &demote),
            app.patch(&path_a, Some(&b.access), &demote),
        );
        let statuses = [ra.status(), rb.status()];
        assert!(
            statuses
                .iter()
                .all(|s| s.is_client_error() || *s == StatusCode::OK),
            "{statuses:?}"
        );
        let admins: Vec<larch::users::model::Model> = {
            use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
            larch::users::model::Entity::find()
                .filter(larch::users::model::Column::Role.eq("admin"))
                .all(&app.state.db)
                .await
                .unwrap()
        };
        assert_eq!(admins.len(), 1, "{statuses:?}");
    }
}

async fn deleting_yourself_removes_the_account_and_its_tokens() {
    let app = spawn_app().await;
    let user = app.create_user().await;
    let res = app
        .delete(&format!("/users/{}", user.id), Some(&user.access))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(res.bytes().await.unwrap().is_empty());
    assert_error(
        app.login(&user.email, &user.password).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    use sea_orm::{EntityTrait, PaginatorTrait};
    let tokens = larch::sessions::refresh_token_model::Entity::find()
        .count(&app.state.db)
        .await
        .unwrap();
    assert_eq!(tokens, 0);
    // The email can be registered again.
    assert_eq!(
        app.register("comeback", &user.email, "a-long-password")
            .await
            .status(),
        StatusCode::CREATED
    );
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

/// A changed address is one nobody has verified yet.
async fn changing_the_email_unverifies_it() {
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    let app = spawn_app().await;
    let user = app.create_user().await;
    let stored = larch::users::model::Entity::find_by_id(user.id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let mut verified: larch::users::model::ActiveModel = stored.into();
    verified.email_verified = Set(true);
    verified.update(&app.state.db).await.unwrap();
    let path = format!("/users/{}", user.id);
    let me = json_of(app.get(&path, Some(&user.access)).await, StatusCode::OK).await;
    assert_eq!(me["email_verified"], true);
    // Another field leaves it verified; a new address does not.
    let res = app
        .patch(
            &path,
            Some(&user.access),
            &json!({"username": "renamed-user"}),
        )
        .await;
    assert_eq!(json_of(res, StatusCode::OK).await["email_verified"], true);
    let res = app
        .patch(
            &path,
            Some(&user.access),
            &json!({"email": "new-address@example.com"}),
        )
        .await;
    let changed = json_of(res, StatusCode::OK).await;
    assert_eq!(changed["email"], "new-address@example.com");
    assert_eq!(changed["email_verified"], false);
}

/// Pages of users are kept between requests (against a change counter the database keeps):
/// each change shows on the next read, and a page kept for one viewer never shows them
/// another's email, nor hides their own.
async fn a_kept_page_of_users_follows_changes_and_shows_only_the_viewers_email() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let carol = app.create_user().await;
    let alice = app.create_user().await;
    let bob = app.create_user().await;
    let emails = |page: &Value| -> Vec<Option<String>> {
        page["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().map(str::to_owned))
            .collect()
    };
    async fn top_two(app: &TestApp, token: &str) -> Value {
        list(app, token, "?limit=2").await
    }

    // Bob, on the page, reads it first; then Carol, who is not; then Alice and Bob again.
    assert_eq!(
        emails(&top_two(&app, &bob.access).await),
        [Some(bob.email.clone()), None]
    );
    assert_eq!(emails(&top_two(&app, &carol.access).await), [None, None]);
    assert_eq!(
        emails(&top_two(&app, &alice.access).await),
        [None, Some(alice.email.clone())]
    );
    assert_eq!(
        emails(&top_two(&app, &bob.access).await),
        [Some(bob.email.clone()), None]
    );
    assert_eq!(emails(&top_two(&app, &carol.access).await), [None, None]);
    let everyone = [Some(bob.email.clone()), Some(alice.email.clone())];
    assert_eq!(emails(&top_two(&app, &admin.access).await), everyone);

    let res = app
        .patch(
            &format!("/users/{}", bob.id),
            Some(&bob.access),
            &json!({"email": "bob.new@example.com", "username": "bob_renamed"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let seen = top_two(&app, &admin.access).await;
    assert_eq!(seen["users"][0]["email"], "bob.new@example.com");
    assert_eq!(
        usernames(&top_two(&app, &carol.access).await)[0],
        "bob_renamed"
    );

    // A role changed by an admin shows on the admin's kept page.
    let res = app
        .patch(
            &format!("/users/{}", bob.id),
            Some(&admin.access),
            &json!({"role": "admin"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        top_two(&app, &admin.access).await["users"][0]["role"],
        "admin"
    );

    let dave = app.create_user().await;
    let page = top_two(&app, &carol.access).await;
    assert_eq!(
        (usernames(&page), &page["total"]),
        (
            vec![dave.username.clone(), "bob_renamed".to_owned()],
            &json!(5)
        )
    );
    let res = app
        .delete(&format!("/users/{}", dave.id), Some(&dave.access))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let page = top_two(&app, &carol.access).await;
    assert_eq!(
        (usernames(&page)[0].as_str(), &page["total"]),
        ("bob_renamed", &json!(4))
    );
}

pub fn tests() -> Vec<Test> {
    trials![
        listing_needs_a_token_and_pages_newest_first,
        ties_in_created_at_are_broken_by_id_descending,
        bad_page_parameters_are_400,
        search_is_a_case_insensitive_substring_with_literal_wildcards,
        email_is_shown_only_to_the_user_themself_and_admins,
        profile_is_the_caller,
        get_user_404s_in_the_contract_shape,
        users_update_themselves_with_put_or_patch,
        update_validation_names_every_bad_field,
        taken_names_on_update_are_409,
        users_cannot_touch_other_accounts,
        only_admins_change_roles,
        admins_manage_any_account,
        the_last_admin_cannot_be_deleted_or_demoted,
        two_admins_demoting_each_other_at_once_leave_one_admin,
        deleting_yourself_removes_the_account_and_its_tokens,
        sql_and_wildcard_characters_are_just_data,
        changing_the_email_unverifies_it,
        a_kept_page_of_users_follows_changes_and_shows_only_the_viewers_email,
    ]
}
