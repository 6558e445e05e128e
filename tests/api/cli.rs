//! The binary's command line (`migrate`, `create-admin`, `seed`, `serve`) and its
//! configuration (`.env`, production checks, the log format).

use std::process::Command;

use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::runner::{Test, fresh_database, trials};
use crate::server::Server;

/// The binary, in `dir`, on a fresh database of the backend under test.
struct Larch {
    dir: tempfile::TempDir,
    database_url: String,
}

impl Larch {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database_url = fresh_database(dir.path()).await;
        Larch { dir, database_url }
    }

    /// Whether `larch <args>` exits successfully.
    fn succeeds(&self, args: &[&str]) -> bool {
        self.command().args(args).status().unwrap().success()
    }

    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_larch"));
        command
            .current_dir(self.dir.path())
            .env_clear()
            .envs(crate::server::kept_env())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &self.database_url)
            .env("RUST_LOG", "warn");
        command
    }
}

async fn every_command_has_help() {
    let larch = Larch::new().await;
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["migrate", "down", "--help"],
        vec!["create-admin", "--help"],
        vec!["import-flask", "--help"],
    ] {
        let out = larch.command().args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage"), "{args:?}: {text}");
    }
}

async fn migrate_up_status_and_down() {
    let larch = Larch::new().await;
    let status = larch
        .command()
        .args(["migrate", "status"])
        .output()
        .unwrap();
    assert!(status.status.success());
    assert!(String::from_utf8_lossy(&status.stdout).contains("pending"));

    assert!(
        larch
            .command()
            .args(["migrate", "up"])
            .status()
            .unwrap()
            .success()
    );
    let status = larch
        .command()
        .args(["migrate", "status"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        !text.contains("pending") && text.contains("applied"),
        "{text}"
    );
    let applied = text
        .lines()
        .filter(|l| l.starts_with("applied"))
        .count()
        .to_string();

    assert!(
        larch
            .command()
            .args(["migrate", "down", "--steps", &applied])
            .status()
            .unwrap()
            .success()
    );
    let status = larch
        .command()
        .args(["migrate", "status"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(!text.contains("applied"), "{text}");
    assert!(
        larch.command().arg("migrate").status().unwrap().success(),
        "bare migrate means up"
    );
}

/// `serve --no-migrate` leaves migrations to another step; on a database that step has not
/// brought up to this binary, it stops and says what to run, rather than serve `500`s. On a
/// database ahead of it (a newer version's migrations), it serves.
async fn serve_without_migrating_refuses_a_database_behind_the_binary() {
    let larch = Larch::new().await;
    // A database with nothing in it: refused, and left as it was (no table created, which
    // a role without DDL rights could not do).
    assert!(refused_serve(&larch).contains("larch migrate up"));
    let db = larch::db::connect(&larch.database_url, 1).await.unwrap();
    let manager = sea_orm_migration::SchemaManager::new(&db);
    assert!(!manager.has_table("seaql_migrations").await.unwrap());
    db.close().await.unwrap();

    assert!(larch.succeeds(&["migrate", "up"]));
    assert!(larch.succeeds(&["migrate", "down", "--steps", "1"]));
    let status = larch
        .command()
        .args(["migrate", "status"])
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    let newest = status
        .lines()
        .find_map(|line| line.strip_prefix("pending"))
        .unwrap_or_else(|| panic!("one migration is pending: {status}"))
        .trim()
        .to_owned();
    let said = refused_serve(&larch);
    assert!(
        said.contains("larch migrate up") && said.contains(&newest),
        "{said}"
    );

    // Once migrated, the same command serves; and still does once a newer version has
    // added a migration this binary does not know.
    assert!(larch.succeeds(&["migrate", "up"]));
    let db = larch::db::connect(&larch.database_url, 1).await.unwrap();
    db.execute_unprepared(
        "INSERT INTO seaql_migrations (version, applied_at) \
         VALUES ('m29991231_000001_from_a_newer_version', 0)",
    )
    .await
    .unwrap();
    db.close().await.unwrap();
    let server = Server::start_with(larch.command(), &["--no-migrate"]).await;
    let res = reqwest::get(format!("{}/posts", server.url)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(server.terminate().success());
}

/// What `serve --no-migrate` says as it exits unsuccessfully (it must, within 30 s).
fn refused_serve(larch: &Larch) -> String {
    let mut serve = larch
        .command()
        .args(["serve", "--no-migrate", "--bind", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = serve.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            serve.kill().unwrap();
            panic!("serve --no-migrate started on a database that lacks migrations");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let out = serve.wait_with_output().unwrap();
    assert!(!status.success());
    String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout)
}

async fn production_refuses_a_weak_secret_and_says_why() {
    let larch = Larch::new().await;
    for (secret, why) in [
        (None, "JWT_SECRET_KEY is required"),
        (Some("short"), "at least 32"),
        (Some("change-me-jwt"), "well-known"),
    ] {
        let mut command = larch.command();
        command
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("LARCH_ENV", "production");
        if let Some(secret) = secret {
            command.env("JWT_SECRET_KEY", secret);
        }
        let out = command.output().unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{stderr}");
    }
}

async fn dotenv_is_read_and_the_environment_wins() {
    let larch = Larch::new().await;
    std::fs::write(
        larch.dir.path().join(".env"),
        "LARCH_ENV=production\nJWT_SECRET_KEY=short\n",
    )
    .unwrap();
    let out = larch
        .command()
        .args(["serve", "--bind", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 32"));
    // An environment variable overrides the file.
    let out = larch
        .command()
        .args(["migrate", "status"])
        .env("LARCH_ENV", "development")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn create_admin_then_serve_then_log_in() {
    let larch = Larch::new().await;
    let out = larch
        .command()
        .args([
            "create-admin",
            "--username",
            "root",
            "--email",
            "Root@Example.com",
        ])
        .env("LARCH_ADMIN_PASSWORD", "admin-password-123")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains("admin-password-123"));

    // A second one with the same email fails cleanly; a weak password is refused.
    let again = larch
        .command()
        .args([
            "create-admin",
            "--username",
            "root2",
            "--email",
            "root@example.com",
        ])
        .env("LARCH_ADMIN_PASSWORD", "admin-password-123")
        .output()
        .unwrap();
    assert!(!again.status.success());
    let weak = larch
        .command()
        .args([
            "create-admin",
            "--username",
            "root3",
            "--email",
            "root3@example.com",
        ])
        .env("LARCH_ADMIN_PASSWORD", "short")
        .output()
        .unwrap();
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("password"));

    // Serve the same database on a free port and log in as the admin.
    let server = Server::start(larch.command()).await;
    let url = server.url.clone();
    let client = reqwest::Client::new();
    let res = client
        .post(format!("{url}/auth/login"))
        .json(&json!({"email": "root@example.com", "password": "admin-password-123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let token = res.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me: serde_json::Value = client
        .get(format!("{url}/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "admin");

    // SIGTERM: a graceful stop with a zero exit status.
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}

async fn seed_fills_the_database_with_listable_data() {
    let larch = Larch::new().await;
    let out = larch
        .command()
        .args([
            "seed",
            "--users",
            "30",
            "--posts",
            "2500",
            "--products",
            "1200",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("seeded 30 users, 2500 posts, 1200 products")
    );

    let server = Server::start(larch.command()).await;
    let url = server.url.clone();
    let client = reqwest::Client::new();
    let posts: serde_json::Value = client
        .get(format!("{url}/posts?limit=100"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(posts["total"], 2500);
    let dates: Vec<&str> = posts["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["created_at"].as_str().unwrap())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let products: serde_json::Value = client
        .get(format!("{url}/products?sort=price&limit=5"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(products["total"], 1200);
    assert!(
        products["products"][0]["price"]
            .as_str()
            .unwrap()
            .contains('.')
    );
    // Seeded users can log in with the documented password.
    let name = posts["posts"][0]["author"]["username"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = client
        .post(format!("{url}/auth/login"))
        .json(&json!({"email": format!("{name}@seed.example"), "password": "seed-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

async fn log_format_json_writes_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database(dir.path()).await;
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_larch"));
    command
        .current_dir(dir.path())
        .env_clear()
        .envs(crate::server::kept_env())
        .env("DATABASE_URL", &database_url)
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    let server = Server::start(command).await;
    let res = reqwest::Client::new()
        .get(format!("{}/posts/1", server.url))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(server.terminate().success());

    let text = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    assert!(lines.len() >= 2, "{text}");
    let request_line = lines
        .iter()
        .find(|l| l.to_string().contains("trace-me-123"))
        .expect("the request is logged with its id");
    assert!(
        request_line.to_string().contains("/posts/{id}"),
        "{request_line}"
    );
}

pub fn tests() -> Vec<Test> {
    trials![
        every_command_has_help,
        migrate_up_status_and_down,
        serve_without_migrating_refuses_a_database_behind_the_binary,
        production_refuses_a_weak_secret_and_says_why,
        dotenv_is_read_and_the_environment_wins,
        create_admin_then_serve_then_log_in,
        seed_fills_the_database_with_listable_data,
        log_format_json_writes_one_object_per_line
    ]
}
