//! The operational routes: `/healthz`, `/readyz`, `/metrics`, `/openapi.json` (and
//! `larch openapi`, which prints the same document) and `/docs`.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::{assert_error, json_of, spawn_app, spawn_app_with};
use crate::runner::{Backend, Test, current_backend, trials};

/// Every route larch serves, as `METHOD path` with OpenAPI's `{param}` placeholders.
const API_ROUTES: &[&str] = &[
    "POST /auth/register",
    "POST /auth/login",
    "POST /auth/refresh",
    "GET /auth/me",
    "POST /auth/logout",
    "POST /auth/logout-all",
    "PUT /auth/password",
    "POST /auth/password-reset",
    "POST /auth/password-reset/confirm",
    "POST /auth/verify-email",
    "POST /auth/verify-email/resend",
    "POST /users/{id}/password-reset",
    "GET /reset-password",
    "GET /verify-email",
    "GET /auth/sessions",
    "DELETE /auth/sessions",
    "DELETE /auth/sessions/{id}",
    "GET /users/{id}/sessions",
    "DELETE /users/{id}/sessions",
    "GET /users",
    "GET /users/profile",
    "GET /users/{id}",
    "PUT /users/{id}",
    "PATCH /users/{id}",
    "DELETE /users/{id}",
    "GET /users/{id}/posts",
    "GET /users/{id}/posts/{post_id}",
    "GET /posts",
    "POST /posts",
    "GET /posts/{id}",
    "PUT /posts/{id}",
    "PATCH /posts/{id}",
    "DELETE /posts/{id}",
    "GET /products",
    "POST /products",
    "GET /products/{id}",
    "PUT /products/{id}",
    "PATCH /products/{id}",
    "DELETE /products/{id}",
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
    "GET /openapi.json",
    "GET /docs",
];

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn documented_routes(document: &Value) -> BTreeSet<String> {
    let mut routes = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method.to_ascii_lowercase()).is_some() {
                routes.insert(format!("{method} {path}"));
            }
        }
    }
    routes
}

fn metric_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.trim().parse().ok())
        })
        .unwrap_or(0.0)
}

async fn healthz_is_ok() {
    let app = spawn_app().await;
    assert_eq!(
        json_of(app.get("/healthz", None).await, StatusCode::OK).await,
        json!({"status": "ok"})
    );
}

async fn readyz_follows_the_database() {
    let app = spawn_app().await;
    let ready = json_of(app.get("/readyz", None).await, StatusCode::OK).await;
    assert_eq!(ready["status"], "ok");
    // The suite really runs on the backend it says it does.
    assert_eq!(ready["database"], current_backend().name());
    app.state.db.clone().close().await.unwrap();
    assert_error(
        app.get("/readyz", None).await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    // The process itself is still up.
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
}

/// Ends every connection the server has open to the app's database but the one asking.
async fn cut_every_connection(database_url: &str) {
    use sea_orm::sqlx::{self, Connection, Executor, Row};
    match current_backend() {
        Backend::Postgres => {
            let mut admin = sqlx::PgConnection::connect(database_url).await.unwrap();
            admin
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid()",
                )
                .await
                .unwrap();
        }
        Backend::MySql => {
            let mut admin = sqlx::MySqlConnection::connect(database_url).await.unwrap();
            let ids: Vec<i64> = sqlx::query(
                "SELECT id FROM information_schema.processlist \
                 WHERE db = DATABASE() AND id <> CONNECTION_ID()",
            )
            .fetch_all(&mut admin)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<i64, _>(0))
            .collect();
            for id in ids {
                // One may have gone in between.
                let _ = admin
                    .execute(sqlx::AssertSqlSafe(format!("KILL {id}")))
                    .await;
            }
        }
        Backend::Sqlite => unreachable!("a file has no connections to cut"),
    }
}

async fn reads_recover_when_the_server_cuts_every_connection() {
    // Reads outside transactions run on connections larch holds beside its pool
    // (`held_reads`); both kinds must notice a connection cut by the server (a restart, a
    // proxy, an admin) and read on a fresh one, without a restart of larch.
    if current_backend() == Backend::Sqlite {
        return; // a file has no connections to cut
    }
    let app = spawn_app().await;
    let user = app.create_user().await;
    let me = || app.get("/auth/me", Some(&user.access));
    for _ in 0..3 {
        assert_eq!(me().await.status(), StatusCode::OK);
    }
    cut_every_connection(&app.state.config.database_url).await;
    // A connection idle for a second is checked before use, so after one the next read
    // finds the cut and opens a new one.
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    for attempt in 0..3 {
        let res = me().await;
        assert_eq!(res.status(), StatusCode::OK, "read {attempt} after the cut");
        assert_eq!(res.json::<Value>().await.unwrap()["id"], user.id);
    }
    assert_eq!(
        json_of(app.get("/posts?page=1", None).await, StatusCode::OK).await["total"],
        0
    );
    assert_eq!(app.get("/readyz", None).await.status(), StatusCode::OK);
}

async fn a_read_that_hangs_is_answered_503_and_the_next_ones_recover() {
    // Reads by key share one statement per kind (`read_batches`); one that never returns (a
    // table locked, a connection a failover left open) must answer its requests within the
    // statement's budget, not hold every later request behind it.
    use sea_orm::sqlx::{self, Connection, Executor};
    if current_backend() == Backend::Sqlite {
        return; // reads there are on the calling thread, one by one
    }
    let app = spawn_app().await;
    let user = app.create_user().await;
    let me = || app.get("/auth/me", Some(&user.access));
    assert_eq!(me().await.status(), StatusCode::OK);

    let url = app.state.config.database_url.clone();
    let (mut pg, mut my) = (None, None);
    match current_backend() {
        Backend::Postgres => {
            let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
            admin.execute("BEGIN").await.unwrap();
            admin
                .execute("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
                .await
                .unwrap();
            pg = Some(admin);
        }
        _ => {
            let mut admin = sqlx::MySqlConnection::connect(&url).await.unwrap();
            admin.execute("LOCK TABLES sessions WRITE").await.unwrap();
            my = Some(admin);
        }
    }
    let started = std::time::Instant::now();
    let (first, second) = tokio::join!(me(), me());
    assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
    let waited = started.elapsed();
    assert!(
        waited < std::time::Duration::from_secs(15),
        "answered after {waited:?}, not within the statement's budget"
    );

    if let Some(mut admin) = pg {
        admin.execute("ROLLBACK").await.unwrap();
    }
    if let Some(mut admin) = my {
        admin.execute("UNLOCK TABLES").await.unwrap();
    }
    let res = me().await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["id"], user.id);
}

async fn the_document_describes_every_route_and_only_those() {
    let app = spawn_app().await;
    let document = json_of(app.get("/openapi.json", None).await, StatusCode::OK).await;
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(document["components"]["schemas"]["ErrorBody"].is_object());

    let documented = documented_routes(&document);
    let promised: BTreeSet<String> = API_ROUTES.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        documented, promised,
        "the document lists every route larch promises, and only those"
    );

    // And the server agrees, method by method: a documented method is routed (never 405,
    // never the unknown-route 404), an undocumented one on a documented path is 405.
    // What a path that no route matches answers, to tell it from a route's own 404.
    let unrouted = assert_error(app.get("/no-such-route", None).await, StatusCode::NOT_FOUND).await;
    let unrouted = unrouted["message"].clone();
    let mut routed_404s = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        let concrete = path.replace("{id}", "1").replace("{post_id}", "1");
        for method in METHODS {
            let res = app
                .client
                .request(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    app.url(&concrete),
                )
                .send()
                .await
                .unwrap();
            let status = res.status();
            let operation = item.get(method.to_ascii_lowercase());
            match operation {
                None => assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is not documented, so not served"
                ),
                Some(operation) => {
                    assert_ne!(
                        status,
                        StatusCode::METHOD_NOT_ALLOWED,
                        "{method} {path} is documented"
                    );
                    if status == StatusCode::NOT_FOUND {
                        let body: Value = res.json().await.unwrap();
                        assert_ne!(body["message"], unrouted, "{method} {path} is routed");
                        routed_404s += 1;
                    }
                    // Operations that need a token say so, and those that do not, do not (an
                    // empty requirement among them: a token is optional).
                    let secured = operation.get("security").is_some_and(|s| {
                        let requirements = s.as_array().unwrap();
                        !requirements.is_empty()
                            && !requirements
                                .iter()
                                .any(|r| r.as_object().unwrap().is_empty())
                    });
                    assert_eq!(
                        status == StatusCode::UNAUTHORIZED,
                        secured,
                        "{method} {path}: {status} without a token"
                    );
                    // Every operation documents its errors with the error schema.
                    let not_found = &operation["responses"]["404"]["content"]["application/json"];
                    assert_eq!(
                        not_found["schema"]["$ref"], "#/components/schemas/ErrorBody",
                        "{method} {path}"
                    );
                }
            }
        }
    }
    // With no data yet, `GET /posts/1` and the like are 404s of their own: the check above ran.
    assert!(routed_404s > 0, "no documented route answered 404");

    // Preconditions (`If-Match`, `If-None-Match`) and idempotency keys are in the document.
    let update = &document["paths"]["/posts/{id}"]["patch"];
    assert!(update["responses"]["412"].is_object());
    assert!(
        update["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "If-Match" && p["in"] == "header")
    );
    let get = &document["paths"]["/products/{id}"]["get"];
    assert!(get["responses"]["304"].is_object());
    assert!(get["responses"]["200"]["headers"]["ETag"].is_object());
    assert!(
        get["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "If-None-Match")
    );
    for path in ["/posts", "/products"] {
        let create = &document["paths"][path]["post"];
        assert!(create["responses"]["422"].is_object(), "{path}");
        assert!(
            create["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "Idempotency-Key"),
            "{path}"
        );
    }
}

async fn larch_openapi_prints_the_served_document() {
    let app = spawn_app().await;
    let served = json_of(app.get("/openapi.json", None).await, StatusCode::OK).await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_larch"))
        .env_clear()
        .envs(crate::server::kept_env())
        .env("LARCH_ENV", "production") // needs no secret, no database
        .arg("openapi")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed, served);
}

async fn the_docs_page_and_its_assets_come_from_larch() {
    let app = spawn_app().await;
    for path in ["/docs", "/docs/"] {
        let res = app.get(path, None).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}: no redirect");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("http"),
            "{csp}"
        );
        let page = res.text().await.unwrap();
        assert!(
            !page.contains("http://") && !page.contains("https://") && !page.contains("//cdn"),
            "no outside assets: {page}"
        );
        // Every script and stylesheet it names is served by larch.
        let assets: Vec<&str> = page
            .split('"')
            .filter(|s| s.starts_with("/docs/") && (s.ends_with(".js") || s.ends_with(".css")))
            .collect();
        assert!(
            assets.iter().any(|a| a.ends_with(".js")) && assets.iter().any(|a| a.ends_with(".css")),
            "the page names its scripts and stylesheets: {assets:?}"
        );
        for asset in assets {
            let res = app.get(asset, None).await;
            assert_eq!(res.status(), StatusCode::OK, "{asset}");
        }
    }
    let initializer = app
        .get("/docs/swagger-initializer.js", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(initializer.contains("/openapi.json"));
    assert_error(
        app.get("/docs/no-such-file.js", None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn metrics_count_requests_by_route_template_and_status() {
    let app = spawn_app_with(&[("RATE_LIMIT_AUTH_PER_MINUTE", "1")]).await;
    let before = app.get("/metrics", None).await.text().await.unwrap();
    let series = r#"http_requests_total{method="GET",route="/products/{id}",status="404"}"#;
    let unmatched = r#"http_requests_total{method="GET",route="unmatched",status="404"}"#;
    let limited = r#"rate_limited_requests_total{route="/auth/login"}"#;
    app.get("/products/987654321", None).await;
    app.get("/products/987654322", None).await;
    app.get("/no-such-route-8c1f", None).await;
    for _ in 0..3 {
        app.post(
            "/auth/login",
            None,
            &json!({"email": "x@example.com", "password": "wrong-password"}),
        )
        .await;
    }

    let res = app.get("/metrics", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let after = res.text().await.unwrap();
    assert!(
        metric_value(&after, series) >= metric_value(&before, series) + 2.0,
        "{after}"
    );
    assert!(metric_value(&after, unmatched) >= metric_value(&before, unmatched) + 1.0);
    assert!(
        metric_value(&after, limited) >= metric_value(&before, limited) + 1.0,
        "429s are counted"
    );
    // Labels are templates, never raw paths.
    assert!(!after.contains("987654321") && !after.contains("no-such-route-8c1f"));
    let bucket = concat!(
        r#"http_request_duration_seconds_bucket"#,
        r#"{method="GET",route="/products/{id}",status="404",le="0.005"}"#,
    );
    assert!(after.contains(bucket), "{after}");
    assert!(after.contains("# TYPE http_request_duration_seconds histogram"));
    let backend = current_backend().name();
    assert!(
        after.contains(&format!(
            r#"db_pool_max_connections{{backend="{backend}"}}"#
        )),
        "{after}"
    );
    assert!(after.contains(r#"state="in_use"}"#));
}

pub fn tests() -> Vec<Test> {
    trials![
        healthz_is_ok,
        readyz_follows_the_database,
        reads_recover_when_the_server_cuts_every_connection,
        a_read_that_hangs_is_answered_503_and_the_next_ones_recover,
        the_document_describes_every_route_and_only_those,
        larch_openapi_prints_the_served_document,
        the_docs_page_and_its_assets_come_from_larch,
        metrics_count_requests_by_route_template_and_status
    ]
}
