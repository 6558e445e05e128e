//! `/products` and `/products/{id}`: admin-only writes, validation, filters and sorting,
//! and prices kept exact.

use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::client::{TestApp, TestUser, assert_error, assert_fields, json_of, spawn_app};
use crate::runner::{Test, trials};

async fn create(app: &TestApp, admin: &TestUser, body: Value) -> Value {
    json_of(
        app.post("/products", Some(&admin.access), &body).await,
        StatusCode::CREATED,
    )
    .await
}

/// A product body sent as raw text, for number literals no `json!` can write.
async fn raw_post(app: &TestApp, admin: &TestUser, body: String) -> reqwest::Response {
    app.client
        .post(app.url("/products"))
        .bearer_auth(&admin.access)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

fn names(page: &Value) -> Vec<String> {
    page["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn list(app: &TestApp, query: &str) -> Value {
    json_of(
        app.get(&format!("/products{query}"), None).await,
        StatusCode::OK,
    )
    .await
}

async fn searches_follow_every_write() {
    // Filtered totals and pages are cached between product writes: every kind of write
    // must show, in the total and in the page.
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let total = |query: &'static str| {
        let app = &app;
        async move { list(app, query).await["total"].as_u64().unwrap() }
    };
    let lamp = create(&app, &admin, json!({"name": "Desk lamp", "price": "10.00"})).await;
    create(
        &app,
        &admin,
        json!({"name": "Floor LAMP", "price": "50.00"}),
    )
    .await;
    assert_eq!(total("?q=lamp").await, 2);
    assert_eq!(total("?q=lamp&max_price=20").await, 1);
    assert_eq!(total("?q=lamp").await, 2, "asked twice, still right");

    create(&app, &admin, json!({"name": "Lamp shade", "price": "5.00"})).await;
    assert_eq!(total("?q=lamp").await, 3, "after a creation");
    assert_eq!(total("?q=lamp&max_price=20").await, 2);

    let id = lamp["id"].as_i64().unwrap();
    let res = app
        .patch(
            &format!("/products/{id}"),
            Some(&admin.access),
            &json!({"price": "25.00"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        total("?q=lamp&max_price=20").await,
        1,
        "after a price change"
    );
    let prices = |page: Value| -> Vec<String> {
        page["products"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["price"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        prices(list(&app, "?q=lamp&sort=price").await),
        ["5.00", "25.00", "50.00"],
        "the page after a price change"
    );
    // A change no filter sees (stock) still shows in a page read before it.
    assert_eq!(
        list(&app, "?q=lamp&sort=price").await["products"][1]["stock"],
        0
    );
    let res = app
        .patch(
            &format!("/products/{id}"),
            Some(&admin.access),
            &json!({"stock": 7}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        list(&app, "?q=lamp&sort=price").await["products"][1]["stock"],
        7,
        "the page after a stock change"
    );
    let res = app
        .patch(
            &format!("/products/{id}"),
            Some(&admin.access),
            &json!({"name": "Desk light"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(total("?q=lamp").await, 2, "after a rename");

    let shade = list(&app, "?q=shade").await["products"][0]["id"]
        .as_i64()
        .unwrap();
    let res = app
        .delete(&format!("/products/{shade}"), Some(&admin.access))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(total("?q=lamp").await, 1, "after a deletion");
    assert_eq!(names(&list(&app, "?q=lamp").await), ["Floor LAMP"]);
}

async fn admins_create_and_everyone_reads() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let product = create(
        &app,
        &admin,
        json!({"name": "Desk lamp", "price": 19.99, "sku": "LAMP-01", "stock": 12, "id": 77}),
    )
    .await;
    assert_eq!(product["name"], "Desk lamp");
    assert_eq!(product["description"], "");
    assert_eq!(product["price"], "19.99");
    assert_eq!(product["sku"], "LAMP-01");
    assert_eq!(product["stock"], 12);
    assert_ne!(product["id"], 77);
    let keys: Vec<&String> = product.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "id",
            "name",
            "description",
            "price",
            "sku",
            "stock",
            "created_at",
            "updated_at"
        ]
    );
    let path = format!("/products/{}", product["id"]);
    assert_eq!(
        json_of(app.get(&path, None).await, StatusCode::OK).await,
        product
    );

    let minimal = create(&app, &admin, json!({"name": "Pen", "price": "2"})).await;
    assert_eq!(
        (
            minimal["price"].as_str(),
            minimal["stock"].as_i64(),
            minimal["sku"].is_null()
        ),
        (Some("2.00"), Some(0), true)
    );
    assert_error(
        app.get("/products/424242", None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn only_admins_write_products() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let user = app.create_user().await;
    let product = create(&app, &admin, json!({"name": "Chair", "price": 50})).await;
    let path = format!("/products/{}", product["id"]);
    let body = json!({"name": "Free chair", "price": 0});
    assert_error(
        app.post("/products", None, &body).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_error(
        app.post("/products", Some(&user.access), &body).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_error(
        app.patch(&path, Some(&user.access), &json!({"price": 0}))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_error(
        app.put(&path, Some(&user.access), &json!({"price": 0}))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_error(
        app.delete(&path, Some(&user.access)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_error(app.delete(&path, None).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        json_of(app.get(&path, None).await, StatusCode::OK).await["price"],
        "50.00"
    );

    let updated = json_of(
        app.patch(
            &path,
            Some(&admin.access),
            &json!({"price": "45.5", "stock": 3}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (
            updated["price"].as_str(),
            updated["stock"].as_i64(),
            updated["name"].as_str()
        ),
        (Some("45.50"), Some(3), Some("Chair"))
    );
    let updated = json_of(
        app.put(
            &path,
            Some(&admin.access),
            &json!({"description": "Oak", "sku": "CH-1"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (updated["description"].as_str(), updated["sku"].as_str()),
        (Some("Oak"), Some("CH-1"))
    );
    let cleared = json_of(
        app.patch(&path, Some(&admin.access), &json!({"sku": null}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(cleared["sku"].is_null());
    assert_eq!(
        app.delete(&path, Some(&admin.access)).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_error(app.get(&path, None).await, StatusCode::NOT_FOUND).await;
    assert_error(
        app.delete(&path, Some(&admin.access)).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn money_is_exact() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    for (given, shown) in [
        (json!(0), "0.00"),
        (json!(0.1), "0.10"),
        (json!(1e3), "1000.00"),
        (json!("12.5"), "12.50"),
        (json!(19.99), "19.99"),
        (json!("0.07"), "0.07"),
        (json!(1_000_000_000), "1000000000.00"),
        (json!("999999999.99"), "999999999.99"),
    ] {
        let product = create(&app, &admin, json!({"name": "Priced", "price": given})).await;
        assert_eq!(product["price"], shown, "{given}");
        let fetched = json_of(
            app.get(&format!("/products/{}", product["id"]), None).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(fetched["price"], shown, "{given} after a round trip");
    }
    for bad in [
        json!(19.999),
        json!(0.30000000000000004),
        json!(-1),
        json!(-0.01),
        json!(1_000_000_000.01),
        json!(1e12),
        json!(u64::MAX),
        json!("12.345"),
        json!("1e3"),
        json!("abc"),
        json!(""),
        json!("12,50"),
        json!(null),
        json!(true),
        json!([1]),
        json!({"amount": 1}),
        json!("1\u{0}2"),
    ] {
        let res = app
            .post(
                "/products",
                Some(&admin.access),
                &json!({"name": "Bad", "price": bad}),
            )
            .await;
        assert_fields(res, &["price"]).await;
    }
    // Number literals are judged by their text, never by the float they round to.
    for literal in [
        "1e400",
        "-1e400",
        "1e-400",
        "1000000000.00000001",
        "999999999.999999999999",
        "19.990000000000000000001",
        "12.500",
    ] {
        let body = format!(r#"{{"name":"x","price":{literal}}}"#);
        let res = raw_post(&app, &admin, body).await;
        assert_fields(res, &["price"]).await;
    }
    let res = raw_post(
        &app,
        &admin,
        r#"{"name":"x","price":-0,"stock":-0}"#.to_owned(),
    )
    .await;
    let zero = json_of(res, StatusCode::CREATED).await;
    assert_eq!(
        (zero["price"].as_str(), zero["stock"].as_i64()),
        (Some("0.00"), Some(0))
    );
    app.delete(&format!("/products/{}", zero["id"]), Some(&admin.access))
        .await;
    assert_eq!(list(&app, "").await["total"], 8, "nothing bad was stored");
    assert_eq!(
        list(&app, "?min_price=0").await["total"],
        8,
        "the kept count agrees with a counted one"
    );
}

async fn product_fields_are_validated_all_at_once() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    assert_fields(
        app.post("/products", Some(&admin.access), &json!({})).await,
        &["name", "price"],
    )
    .await;
    let res = app
        .post(
            "/products",
            Some(&admin.access),
            &json!({
                "name": "",
                "price": "x",
                "sku": "bad sku!",
                "stock": -1,
                "description": 5,
                "color": "red",
            }),
        )
        .await;
    assert_fields(
        res,
        &["color", "description", "name", "price", "sku", "stock"],
    )
    .await;
    for stock in [
        json!(1.5),
        json!("3"),
        json!(3.0),
        json!(null),
        json!(1e3),
        json!(u64::MAX),
    ] {
        assert_fields(
            app.post(
                "/products",
                Some(&admin.access),
                &json!({"name": "n", "price": 1, "stock": stock}),
            )
            .await,
            &["stock"],
        )
        .await;
    }
    for sku in [
        json!(""),
        json!("x".repeat(65)),
        json!("has space"),
        json!("ü"),
        json!(5),
    ] {
        assert_fields(
            app.post(
                "/products",
                Some(&admin.access),
                &json!({"name": "n", "price": 1, "sku": sku}),
            )
            .await,
            &["sku"],
        )
        .await;
    }
    assert_fields(
        app.post(
            "/products",
            Some(&admin.access),
            &json!({"name": "x".repeat(201), "price": 1}),
        )
        .await,
        &["name"],
    )
    .await;
    assert_fields(
        app.post(
            "/products",
            Some(&admin.access),
            &json!({"name": "n", "price": 1, "description": "d".repeat(10_001)}),
        )
        .await,
        &["description"],
    )
    .await;
    let body = json!({
        "name": "n",
        "price": 1,
        "description": "d".repeat(10_000),
        "stock": 9_007_199_254_740_991_i64,
    });
    let ok = create(&app, &admin, body).await;
    assert_eq!(ok["stock"], 9_007_199_254_740_991_i64);
}

async fn sku_is_unique_even_under_concurrency() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    create(
        &app,
        &admin,
        json!({"name": "One", "price": 1, "sku": "SKU-1"}),
    )
    .await;
    let body = assert_error(
        app.post(
            "/products",
            Some(&admin.access),
            &json!({"name": "Two", "price": 1, "sku": "SKU-1"}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("SKU"));
    let two = create(&app, &admin, json!({"name": "Two", "price": 1})).await;
    assert_error(
        app.patch(
            &format!("/products/{}", two["id"]),
            Some(&admin.access),
            &json!({"sku": "SKU-1"}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    // Products without a sku never collide.
    create(
        &app,
        &admin,
        json!({"name": "Three", "price": 1, "sku": null}),
    )
    .await;

    let attempts = (0..10).map(|i| {
        let (app, admin) = (&app, &admin);
        async move {
            app.post(
                "/products",
                Some(&admin.access),
                &json!({"name": format!("Race {i}"), "price": 1, "sku": "RACE"}),
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

async fn lists_filter_and_sort_exactly() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    for (name, price) in [
        ("banana", "0.30"),
        ("Apple", "0.29"),
        ("cherry", "10"),
        ("apple pie", "0.31"),
        ("Date_box", "100.00"),
        ("50% off", "0.30"),
    ] {
        create(&app, &admin, json!({"name": name, "price": price})).await;
    }
    assert_eq!(
        names(&list(&app, "").await),
        [
            "50% off",
            "Date_box",
            "apple pie",
            "cherry",
            "Apple",
            "banana"
        ],
        "newest first"
    );
    assert_eq!(
        names(&list(&app, "?sort=-created_at").await),
        names(&list(&app, "").await)
    );
    assert_eq!(
        names(&list(&app, "?sort=created_at").await),
        [
            "banana",
            "Apple",
            "cherry",
            "apple pie",
            "Date_box",
            "50% off"
        ]
    );
    // Equal prices tie-break by id, descending.
    assert_eq!(
        names(&list(&app, "?sort=price").await),
        [
            "Apple",
            "50% off",
            "banana",
            "apple pie",
            "cherry",
            "Date_box"
        ]
    );
    assert_eq!(
        names(&list(&app, "?sort=-price").await),
        [
            "Date_box",
            "cherry",
            "apple pie",
            "50% off",
            "banana",
            "Apple"
        ]
    );
    // Names sort case-insensitively.
    assert_eq!(
        names(&list(&app, "?sort=name").await),
        [
            "50% off",
            "Apple",
            "apple pie",
            "banana",
            "cherry",
            "Date_box"
        ]
    );
    assert_eq!(
        names(&list(&app, "?sort=-name").await),
        [
            "Date_box",
            "cherry",
            "banana",
            "apple pie",
            "Apple",
            "50% off"
        ]
    );

    // Bounds are inclusive and exact.
    assert_eq!(
        names(&list(&app, "?min_price=0.30&max_price=0.30&sort=price").await),
        ["50% off", "banana"]
    );
    assert_eq!(
        names(&list(&app, "?min_price=0.3&sort=price&limit=2").await),
        ["50% off", "banana"]
    );
    assert_eq!(list(&app, "?max_price=0.29").await["total"], 1);
    assert_eq!(list(&app, "?min_price=100").await["total"], 1);
    assert_eq!(list(&app, "?min_price=5&max_price=1").await["total"], 0);
    assert_eq!(
        names(&list(&app, "?q=APPLE&sort=name").await),
        ["Apple", "apple pie"]
    );
    assert_eq!(names(&list(&app, "?q=%25").await), ["50% off"]);
    assert_eq!(names(&list(&app, "?q=_").await), ["Date_box"]);
    let paged = list(&app, "?q=a&sort=name&limit=2&page=2").await;
    assert_eq!(
        (
            paged["total"].as_u64(),
            paged["pages"].as_u64(),
            paged["page"].as_u64()
        ),
        (Some(4), Some(2), Some(2))
    );
    assert_eq!(names(&paged), ["banana", "Date_box"]);
    // Far past the end, filtered and not (the total is read first there).
    for query in [
        "?q=a&page=5001&limit=100",
        "?page=5001&limit=100",
        "?q=a&page=9223372036854775807&limit=100",
    ] {
        let far = list(&app, query).await;
        assert_eq!(far["products"], json!([]), "{query}");
        assert_eq!(
            far["page"].as_u64(),
            Some(
                query
                    .split("page=")
                    .nth(1)
                    .unwrap()
                    .split('&')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap()
            ),
            "{query}"
        );
    }
    assert_eq!(list(&app, "?q=a&page=5001&limit=100").await["total"], 4);

    for bad in [
        "?sort=price;drop",
        "?sort=PRICE",
        "?sort=",
        "?min_price=-1",
        "?min_price=abc",
        "?max_price=1.234",
        "?max_price=1e3",
        "?page=0",
    ] {
        assert_error(
            app.get(&format!("/products{bad}"), None).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    assert_fields(
        app.get("/products?sort=x&min_price=y&limit=0", None).await,
        &["limit", "min_price", "sort"],
    )
    .await;
}

/// A name of allowed length is stored whatever its characters, on every backend, even when
/// its case-folded key is longer than the name; and the name sort still works on it.
async fn names_whose_folded_form_is_longer_fit_on_every_backend() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let long = "İ".repeat(200);
    let grown = format!("{}İ", "x".repeat(199));
    for name in [&long, &grown] {
        let product = create(&app, &admin, json!({"name": name, "price": "1.00"})).await;
        assert_eq!(product["name"], name.as_str());
    }
    let plain = create(&app, &admin, json!({"name": "Lamp", "price": 2})).await;
    let res = app
        .patch(
            &format!("/products/{}", plain["id"]),
            Some(&admin.access),
            &json!({"name": long}),
        )
        .await;
    assert_eq!(json_of(res, StatusCode::OK).await["name"], long.as_str());
    let page = list(&app, "?sort=name").await;
    assert_eq!(names(&page), [long.clone(), long.clone(), grown.clone()]);
    let res = app
        .post(
            "/products",
            Some(&admin.access),
            &json!({"name": "\u{200B}\u{2800}", "price": 1}),
        )
        .await;
    assert_fields(res, &["name"]).await;
}

/// Pages of products are kept between requests, against a counter the database's triggers
/// bump: a write made with SQL straight to the database shows on the next read too.
async fn a_kept_page_follows_sql_written_to_the_database() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let lamp = create(&app, &admin, json!({"name": "Desk lamp", "price": "10.00"})).await;
    assert_eq!(names(&list(&app, "").await), ["Desk lamp"]);
    assert_eq!(names(&list(&app, "?q=lamp").await), ["Desk lamp"]);
    let id = lamp["id"].as_i64().unwrap();
    app.state
        .db
        .execute_unprepared(&format!(
            "UPDATE products SET name = 'Desk light', name_key = 'desk light' WHERE id = {id}"
        ))
        .await
        .unwrap();
    assert_eq!(names(&list(&app, "").await), ["Desk light"]);
    assert_eq!(list(&app, "?q=lamp").await["total"], 0);
    app.state
        .db
        .execute_unprepared(&format!("DELETE FROM products WHERE id = {id}"))
        .await
        .unwrap();
    assert!(names(&list(&app, "").await).is_empty());
}

pub fn tests() -> Vec<Test> {
    trials![
        a_kept_page_follows_sql_written_to_the_database,
        searches_follow_every_write,
        admins_create_and_everyone_reads,
        only_admins_write_products,
        money_is_exact,
        product_fields_are_validated_all_at_once,
        sku_is_unique_even_under_concurrency,
        lists_filter_and_sort_exactly,
        names_whose_folded_form_is_longer_fit_on_every_backend,
    ]
}
