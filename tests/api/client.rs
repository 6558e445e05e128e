//! The HTTP side of the tests: `spawn_app` starts larch in-process on a real socket with a
//! fresh database; `TestApp` sends requests to it; test users; assertions on the error
//! shape.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use larch::config::Config;
use larch::passwords::Password;
use larch::startup::Application;
use larch::state::AppState;
use larch::users::domain::{Email, Role, Username};
use larch::users::queries::{self as users, NewUser};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::runner::fresh_database;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub state: AppState,
    _dir: Option<tempfile::TempDir>,
}

/// A registered, logged-in user.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub password: String,
    pub access: String,
    pub refresh: String,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts larch with these environment settings on top of the test defaults.
pub async fn spawn_app_with(vars: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = fresh_database(dir.path()).await;
    let mut app = spawn_app_on(&database_url, vars).await;
    app._dir = Some(dir);
    app
}

/// The background-job settings of the tests: quick polls, retries and orphan recovery. On
/// MySQL the queue is in Redis (`LARCH_TEST_REDIS_URL`), one queue per test database.
pub fn jobs_env(database_url: &str) -> Vec<(String, String)> {
    let mut env = vec![
        ("JOBS_POLL_INTERVAL_MS".to_owned(), "50".to_owned()),
        ("JOBS_HEARTBEAT_SECONDS".to_owned(), "1".to_owned()),
        ("JOBS_RETRY_MIN_MS".to_owned(), "100".to_owned()),
        ("JOBS_RETRY_MAX_SECONDS".to_owned(), "1".to_owned()),
        ("JOBS_MAX_ATTEMPTS".to_owned(), "3".to_owned()),
    ];
    if database_url.starts_with("mysql:")
        && let Some(redis) = redis_url()
    {
        let database = database_url.rsplit('/').next().unwrap_or("larch");
        env.push(("JOBS_URL".to_owned(), redis));
        env.push(("JOBS_QUEUE".to_owned(), format!("larch-test::{database}")));
    }
    env
}

/// The Redis the MySQL backend's job queue is tested on.
pub fn redis_url() -> Option<String> {
    std::env::var("LARCH_TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// Skips the running test on MySQL when there is no Redis for its job queue.
pub fn require_job_queue() {
    if crate::runner::current_backend() == crate::runner::Backend::MySql && redis_url().is_none() {
        crate::runner::skip(
            "on MySQL the job queue is in Redis: set LARCH_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379)",
        );
    }
}

/// Starts larch on an existing database (another instance of the same deployment).
pub async fn spawn_app_on(database_url: &str, vars: &[(&str, &str)]) -> TestApp {
    let mut env: HashMap<String, String> = HashMap::from([
        ("LARCH_ENV".into(), "testing".into()),
        ("BIND".into(), "127.0.0.1:0".into()),
        ("DATABASE_URL".into(), database_url.to_owned()),
        ("RATE_LIMIT_AUTH_PER_MINUTE".into(), "0".into()),
    ]);
    env.extend(jobs_env(database_url));
    for (k, v) in vars {
        env.insert((*k).into(), (*v).into());
    }
    let config = Config::from_lookup(|k| env.get(k).cloned()).expect("test config");
    // `LARCH_TEST_LOG=1 cargo test -- --nocapture` shows the server's log lines.
    if std::env::var_os("LARCH_TEST_LOG").is_some() {
        larch::telemetry::init(larch::config::LogFormat::Pretty);
    }
    let app = Application::build(config, true).await.expect("app builds");
    let address = format!("http://{}", app.local_addr());
    let state = app.state().clone();
    tokio::spawn(app.run_until(std::future::pending()));
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        state,
        _dir: None,
    }
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request sent")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.request(Method::PUT, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.request(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::DELETE, path, token, None).await
    }

    /// A raw body with the given content type.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        let mut request = self.client.request(method, self.url(path)).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        request.send().await.expect("request sent")
    }

    pub async fn register(&self, username: &str, email: &str, password: &str) -> Response {
        self.post(
            "/auth/register",
            None,
            &json!({"username": username, "email": email, "password": password}),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/auth/login",
            None,
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// Registers and logs in a fresh user.
    pub async fn create_user(&self) -> TestUser {
        let username = unique("user");
        let email = format!("{username}@example.com");
        let password = "correct-horse-battery".to_owned();
        let res = self.register(&username, &email, &password).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        self.logged_in(id, username, email, password).await
    }

    /// Creates an admin the way `larch create-admin` does, and logs in.
    pub async fn create_admin(&self) -> TestUser {
        let username = unique("admin");
        let email = format!("{username}@example.com");
        let password = "admin-password-123".to_owned();
        let hash = self
            .state
            .passwords
            .hash(&Password::parse(&password, 8).unwrap())
            .await
            .unwrap();
        let user = users::insert(
            &self.state.db,
            NewUser {
                username: Username::parse(&username).unwrap(),
                email: Email::parse(&email).unwrap(),
                password_hash: hash,
                role: Role::Admin,
            },
        )
        .await
        .unwrap();
        self.logged_in(user.id, username, email, password).await
    }

    async fn logged_in(
        &self,
        id: i64,
        username: String,
        email: String,
        password: String,
    ) -> TestUser {
        let res = self.login(&email, &password).await;
        assert_eq!(res.status(), StatusCode::OK);
        let tokens: Value = res.json().await.unwrap();
        TestUser {
            id,
            username,
            email,
            password,
            access: tokens["access_token"].as_str().unwrap().to_owned(),
            refresh: tokens["refresh_token"].as_str().unwrap().to_owned(),
        }
    }
}

/// Asserts the one error shape (`error`, `message`, `status`, maybe `fields`) and the status;
/// returns the body.
pub async fn assert_error(res: Response, status: StatusCode) -> Value {
    assert_eq!(res.status(), status, "unexpected status");
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type}"
    );
    if status == StatusCode::UNAUTHORIZED {
        assert_eq!(
            res.headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
    }
    let body: Value = res.json().await.expect("JSON error body");
    let object = body.as_object().expect("error body is an object");
    assert_eq!(object["status"], json!(status.as_u16()));
    assert_eq!(object["error"], json!(status.canonical_reason().unwrap()));
    assert!(
        object["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message: {body}"
    );
    for key in object.keys() {
        assert!(
            ["error", "message", "status", "fields"].contains(&key.as_str()),
            "unexpected key {key} in {body}"
        );
    }
    body
}

/// Asserts a `400` whose `fields` names exactly `expected`.
pub async fn assert_fields(res: Response, expected: &[&str]) -> Value {
    let body = assert_error(res, StatusCode::BAD_REQUEST).await;
    let fields = body["fields"]
        .as_object()
        .unwrap_or_else(|| panic!("no fields in {body}"));
    let mut names: Vec<&str> = fields.keys().map(String::as_str).collect();
    names.sort_unstable();
    let mut expected = expected.to_vec();
    expected.sort_unstable();
    assert_eq!(names, expected, "fields of {body}");
    body
}

pub async fn json_of(res: Response, status: StatusCode) -> Value {
    assert_eq!(res.status(), status);
    res.json().await.expect("JSON body")
}
