//! Contract section 10: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/docs`, and the
//! operational settings (request timeout, JSON logs).

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{assert_error, json_of, spawn_app, spawn_app_with};

/// Every route of the contract (sections 4–7 and 10), as `METHOD path` with OpenAPI's
/// `{param}` placeholders.
const CONTRACT_ROUTES: &[&str] = &[
    "POST /auth/register",
    "POST /auth/login",
    "POST /auth/refresh",
    "GET /auth/me",
    "POST /auth/logout",
    "POST /auth/logout-all",
    "PUT /auth/password",
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

crate::tests! {
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
        assert_eq!(ready["database"], crate::helpers::current_backend().name());
        app.state.db.clone().close().await.unwrap();
        assert_error(
            app.get("/readyz", None).await,
            StatusCode::SERVICE_UNAVAILABLE,
        )
        .await;
        // The process itself is still up.
        assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
    }

    async fn the_document_describes_every_route_and_only_those() {
        let app = spawn_app().await;
        let document = json_of(app.get("/openapi.json", None).await, StatusCode::OK).await;
        assert_eq!(document["openapi"], "3.1.0");
        assert_eq!(document["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
        assert!(document["components"]["schemas"]["ErrorBody"].is_object());

        let documented = documented_routes(&document);
        let contract: BTreeSet<String> = CONTRACT_ROUTES.iter().map(|r| r.to_string()).collect();
        assert_eq!(documented, contract, "the document and the contract list the same routes");

        // And the server agrees, method by method: a documented method is routed (never 405,
        // never the unknown-route 404), an undocumented one on a documented path is 405.
        for (path, item) in document["paths"].as_object().unwrap() {
            let concrete = path.replace("{id}", "1").replace("{post_id}", "1");
            for method in METHODS {
                let res = app.client.request(Method::from_bytes(method.as_bytes()).unwrap(), app.url(&concrete)).send().await.unwrap();
                let status = res.status();
                let operation = item.get(method.to_ascii_lowercase());
                match operation {
                    None => assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is not documented, so not served"),
                    Some(operation) => {
                        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is documented");
                        if status == StatusCode::NOT_FOUND {
                            let body: Value = res.json().await.unwrap();
                            assert_ne!(body["message"], "The requested URL was not found on the server.", "{method} {path} is routed");
                        }
                        // Operations that need a token say so, and those that do not, do not.
                        let secured = operation.get("security").is_some_and(|s| !s.as_array().unwrap().is_empty());
                        assert_eq!(status == StatusCode::UNAUTHORIZED, secured, "{method} {path}: {status} without a token");
                        // Every operation documents its errors with the error schema.
                        let not_found = &operation["responses"]["404"]["content"]["application/json"]["schema"]["$ref"];
                        assert_eq!(not_found, "#/components/schemas/ErrorBody", "{method} {path}");
                    }
                }
            }
        }

        // Section 9 is in the document: tags, preconditions and idempotency.
        let update = &document["paths"]["/posts/{id}"]["patch"];
        assert!(update["responses"]["412"].is_object());
        assert!(update["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "If-Match" && p["in"] == "header"));
        let get = &document["paths"]["/products/{id}"]["get"];
        assert!(get["responses"]["304"].is_object());
        assert!(get["responses"]["200"]["headers"]["ETag"].is_object());
        assert!(get["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "If-None-Match"));
        for path in ["/posts", "/products"] {
            let create = &document["paths"][path]["post"];
            assert!(create["responses"]["422"].is_object(), "{path}");
            assert!(create["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "Idempotency-Key"), "{path}");
        }
    }

    async fn larch_openapi_prints_the_served_document() {
        let app = spawn_app().await;
        let served = json_of(app.get("/openapi.json", None).await, StatusCode::OK).await;
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_larch"))
            .env_clear()
            .env("LARCH_ENV", "production") // needs no secret, no database
            .arg("openapi")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(printed, served);
    }

    async fn the_docs_page_and_its_assets_come_from_larch() {
        let app = spawn_app().await;
        for path in ["/docs", "/docs/"] {
            let res = app.get(path, None).await;
            assert_eq!(res.status(), StatusCode::OK, "{path}: no redirect");
            assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
            let csp = res.headers()["content-security-policy"].to_str().unwrap().to_owned();
            assert!(csp.contains("script-src 'self'") && !csp.contains("http"), "{csp}");
            let page = res.text().await.unwrap();
            assert!(!page.contains("http://") && !page.contains("https://") && !page.contains("//cdn"), "no outside assets: {page}");
            // Every script and stylesheet it names is served by larch.
            for asset in page.split('"').filter(|s| s.starts_with("/docs/") && (s.ends_with(".js") || s.ends_with(".css"))) {
                let res = app.get(asset, None).await;
                assert_eq!(res.status(), StatusCode::OK, "{asset}");
            }
        }
        let initializer = app.get("/docs/swagger-initializer.js", None).await.text().await.unwrap();
        assert!(initializer.contains("/openapi.json"));
        assert_error(app.get("/docs/no-such-file.js", None).await, StatusCode::NOT_FOUND).await;
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
        for _ in 0..2 {
            app.post("/auth/login", None, &json!({"email": "x@example.com", "password": "wrong-password"})).await;
        }

        let res = app.get("/metrics", None).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        let after = res.text().await.unwrap();
        assert!(metric_value(&after, series) >= metric_value(&before, series) + 2.0, "{after}");
        assert!(metric_value(&after, unmatched) >= metric_value(&before, unmatched) + 1.0);
        assert!(metric_value(&after, limited) >= metric_value(&before, limited) + 1.0, "429s are counted");
        // Labels are templates, never raw paths.
        assert!(!after.contains("987654321") && !after.contains("no-such-route-8c1f"));
        assert!(after.contains(r#"http_request_duration_seconds_bucket{method="GET",route="/products/{id}",status="404",le="0.005"}"#));
        assert!(after.contains("# TYPE http_request_duration_seconds histogram"));
        let backend = crate::helpers::current_backend().name();
        assert!(after.contains(&format!(r#"db_pool_max_connections{{backend="{backend}"}}"#)), "{after}");
        assert!(after.contains(r#"state="in_use"}"#));
    }

    async fn a_slow_request_times_out_in_the_error_shape() {
        // A client that sends half its body and stalls is cut off after REQUEST_TIMEOUT_SECONDS.
        let app = spawn_app_with(&[("REQUEST_TIMEOUT_SECONDS", "1")]).await;
        let address = app.address.trim_start_matches("http://").to_owned();
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let started = std::time::Instant::now();
        stream.write_all(b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":").await.unwrap();
        let mut response = Vec::new();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut response)).await;
        let response = String::from_utf8_lossy(&response);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(response.starts_with("HTTP/1.1 503"), "{response}");
        assert!(response.contains(r#""status":503"#), "{response}");
    }

    async fn log_format_json_writes_one_object_per_line() {
        let dir = tempfile::tempdir().unwrap();
        let database_url = crate::helpers::fresh_database(dir.path()).await;
        let log_path = dir.path().join("server.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_larch"));
        command
            .current_dir(dir.path())
            .env_clear()
            .env("DATABASE_URL", &database_url)
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let server = crate::helpers::Server::start(command).await;
        let res = reqwest::Client::new().get(format!("{}/posts/1", server.url)).header("x-request-id", "trace-me-123").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert!(server.terminate().success());

        let text = std::fs::read_to_string(&log_path).unwrap();
        let lines: Vec<Value> = text.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"))).collect();
        assert!(lines.len() >= 2, "{text}");
        let request_line = lines.iter().find(|l| l.to_string().contains("trace-me-123")).expect("the request is logged with its id");
        assert!(request_line.to_string().contains("/posts/{id}"), "{request_line}");
    }
}
