//! `larch import-flask`: real Flask databases, written with the tutorial app's own models
//! and werkzeug's own hashes by `bench/flask/make_fixture.py`, imported by the real binary,
//! then served by it. Pairs: Flask on SQLite into larch on each backend, and Flask on
//! PostgreSQL and on MariaDB into larch on SQLite.
//!
//! The fixture needs Python with Flask-SQLAlchemy (`pip install -r bench/flask/requirements.txt`,
//! which CI does); without it these tests are reported as ignored, saying so, unless
//! `LARCH_TEST_REQUIRE_FLASK` is set (CI sets it), when they fail. `LARCH_TEST_PYTHON` names
//! another interpreter than `python3`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, SubsecRound};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::runner::{Backend, Test, current_backend, fresh_database, skip, trials};
use crate::server::Server;

/// The interpreter, if it can run the fixture script for a Flask app on `backend` (which
/// needs that backend's Python driver too).
fn python_for(backend: Backend) -> Result<String, String> {
    static PYTHON: OnceLock<String> = OnceLock::new();
    let python = PYTHON
        .get_or_init(|| std::env::var("LARCH_TEST_PYTHON").unwrap_or_else(|_| "python3".into()));
    let modules = match backend {
        Backend::Sqlite => "flask_sqlalchemy, werkzeug",
        Backend::Postgres => "flask_sqlalchemy, werkzeug, psycopg2",
        Backend::MySql => "flask_sqlalchemy, werkzeug, pymysql",
    };
    let found = Command::new(python)
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|out| out.status.success());
    if found {
        Ok(python.clone())
    } else {
        Err(format!(
            "needs {python} with {modules} (pip install -r bench/flask/requirements.txt)"
        ))
    }
}

/// A Flask database written by the fixture script, and its manifest.
struct Flask {
    /// Its URL in SQLAlchemy's form, as the Flask app is configured.
    url: String,
    manifest: Value,
}

impl Flask {
    /// Writes the fixture on `backend` (SQLite: a file in `dir`; otherwise a fresh
    /// database on the server under test), or skips the test.
    async fn create(backend: Backend, dir: &Path, extra_posts: usize) -> Flask {
        let python = python_for(backend).unwrap_or_else(|why| {
            // CI installs it: there a missing Python is a failure, not a skip.
            if std::env::var_os("LARCH_TEST_REQUIRE_FLASK").is_some() {
                panic!("LARCH_TEST_REQUIRE_FLASK is set, and this test {why}");
            }
            skip(why)
        });
        let url = match backend {
            Backend::Sqlite => format!("sqlite:///{}", dir.join("flask.db").display()),
            Backend::Postgres => {
                fresh_database(dir)
                    .await
                    .replacen("postgres://", "postgresql+psycopg2://", 1)
            }
            Backend::MySql => fresh_database(dir)
                .await
                .replacen("mysql://", "mysql+pymysql://", 1),
        };
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/flask/make_fixture.py");
        let out = Command::new(python)
            .arg(script)
            .args(["--url", &url, "--extra-posts", &extra_posts.to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "make_fixture.py: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let manifest = serde_json::from_slice(&out.stdout).expect("the fixture's manifest");
        Flask { url, manifest }
    }

    fn rows(&self, table: &str) -> &Vec<Value> {
        self.manifest[table].as_array().unwrap()
    }

    fn expected(&self, table: &str, expect: &str) -> Vec<&Value> {
        self.rows(table)
            .iter()
            .filter(|row| row["expect"] == expect)
            .collect()
    }

    /// The rows larch keeps: imported, and imported without a usable password.
    fn kept(&self, table: &str) -> Vec<&Value> {
        self.rows(table)
            .iter()
            .filter(|row| row["expect"] != "refused")
            .collect()
    }

    fn max_id(&self, table: &str) -> i64 {
        let extra = self.manifest["extra_posts"].as_i64().unwrap();
        let max = self
            .rows(table)
            .iter()
            .map(|row| row["id"].as_i64().unwrap())
            .max()
            .unwrap();
        if table == "posts" && extra > 0 {
            max.max(1000 + extra)
        } else {
            max
        }
    }
}

/// The binary on a larch database.
struct Larch {
    database_url: String,
    dir: PathBuf,
}

impl Larch {
    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_larch"));
        command
            .current_dir(&self.dir)
            .env_clear()
            .envs(crate::server::kept_env())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &self.database_url)
            .env("RATE_LIMIT_AUTH_PER_MINUTE", "0")
            .env("RUST_LOG", "warn");
        command
    }

    /// `larch import-flask --from <flask> <args>`: its output, which must be a success.
    fn import(&self, flask: &Flask, args: &[&str]) -> String {
        let out = self.import_output(flask, args);
        assert!(
            out.status.success(),
            "import-flask {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn import_output(&self, flask: &Flask, args: &[&str]) -> Output {
        self.command()
            .args(["import-flask", "--from", &flask.url])
            .args(args)
            .output()
            .unwrap()
    }

    async fn db(&self) -> sea_orm::DatabaseConnection {
        larch::db::connect(&self.database_url, 1).await.unwrap()
    }
}

/// A larch database on the backend under test, or on SQLite.
async fn larch_on(backend: Backend, dir: &Path) -> Larch {
    let database_url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.join("larch.db").display()),
        _ => fresh_database(dir).await,
    };
    Larch {
        database_url,
        dir: dir.to_owned(),
    }
}

/// The summary line of `table` in an import's output.
fn summary_line<'a>(output: &'a str, table: &str) -> &'a str {
    output
        .lines()
        .find(|line| line.trim_start().starts_with(table) && line.contains("already there"))
        .unwrap_or_else(|| panic!("no summary line for {table} in:\n{output}"))
}

/// A Flask timestamp (naive UTC, as Python printed it) as larch shows it.
fn as_larch_shows(created_at: &Value) -> String {
    let naive = NaiveDateTime::parse_from_str(created_at.as_str().unwrap(), "%Y-%m-%dT%H:%M:%S%.f")
        .unwrap()
        .trunc_subsecs(3);
    larch::time::rfc3339(&naive.and_utc())
}

/// Every refusal the manifest expects is reported, with its reason, and no other; on a
/// first run (when they are imported), so are the accounts that cannot log in.
fn assert_reported(flask: &Flask, output: &str, first_run: bool) {
    let mut expected = 0;
    for table in ["users", "posts", "products"] {
        for row in flask.expected(table, "refused") {
            expected += 1;
            let prefix = format!("refused  {table} #{}: ", row["id"]);
            let line = output
                .lines()
                .find(|line| line.starts_with(&prefix))
                .unwrap_or_else(|| panic!("no line {prefix}… in:\n{output}"));
            let reason = row["reason"].as_str().unwrap();
            assert!(line.contains(reason), "{line:?} should say {reason:?}");
        }
    }
    let refused = output.lines().filter(|l| l.starts_with("refused ")).count();
    assert_eq!(refused, expected, "{output}");
    for row in flask.expected("users", "no-login") {
        if !first_run {
            break;
        }
        let prefix = format!("no-login users #{}: ", row["id"]);
        assert!(
            output
                .lines()
                .any(|line| line.starts_with(&prefix)
                    && line.contains(row["reason"].as_str().unwrap())),
            "no {prefix}… in:\n{output}"
        );
    }
    assert!(
        output.contains("products: column(s) category not imported"),
        "{output}"
    );
}

async fn login(
    client: &reqwest::Client,
    url: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(format!("{url}/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn get(client: &reqwest::Client, url: &str, path: &str, token: &str) -> (StatusCode, Value) {
    let res = client
        .get(format!("{url}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The whole check, for one pair of backends: dry run, import, logins with the Flask
/// passwords, what is served, new ids, a second run.
async fn import_and_check(flask_on: Backend, larch_on_backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let flask = Flask::create(flask_on, dir.path(), 0).await;
    let larch = larch_on(larch_on_backend, dir.path()).await;

    // A dry run reports everything and writes nothing, not even the schema.
    let dry = larch.import(&flask, &["--dry-run", "--admin", "alice@example.com"]);
    assert!(dry.contains("dry run: nothing was written"), "{dry}");
    assert_reported(&flask, &dry, true);
    let imported = flask.kept("users").len();
    assert!(
        summary_line(&dry, "users").contains(&format!("would import {imported},")),
        "{dry}"
    );
    let status = larch
        .command()
        .args(["migrate", "status"])
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        !status.contains("applied"),
        "the dry run migrated:\n{status}"
    );

    let output = larch.import(&flask, &["--admin", "alice@example.com"]);
    assert_reported(&flask, &output, true);
    for (table, kept) in [
        ("users", flask.kept("users").len()),
        ("posts", flask.kept("posts").len()),
        ("products", flask.kept("products").len()),
    ] {
        let line = summary_line(&output, table);
        assert!(
            line.contains(&format!("imported {kept}, already there 0")),
            "{line}"
        );
    }

    let server = Server::start(larch.command()).await;
    let url = server.url.clone();
    let client = reqwest::Client::new();
    let db = larch.db().await;

    // Every imported user logs in with the password they had, as the Flask app took their
    // address; the werkzeug hash is Argon2id afterwards, and logging in still works.
    let mut admin_token = String::new();
    for user in flask.expected("users", "imported") {
        let id = user["id"].as_i64().unwrap();
        let email = user["email"].as_str().unwrap();
        let password = user["password"].as_str().unwrap();
        let before = larch::users::queries::find_by_id(&db, id)
            .await
            .unwrap()
            .unwrap();
        assert!(
            before
                .password_hash
                .starts_with(user["scheme"].as_str().unwrap()),
            "user {id}: {}",
            user["scheme"]
        );
        let res = login(&client, &url, email, "not the password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "user {id}");
        let res = login(&client, &url, email, password).await;
        assert_eq!(res.status(), StatusCode::OK, "user {id} ({email}) logs in");
        let token = res.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let after = larch::users::queries::find_by_id(&db, id)
            .await
            .unwrap()
            .unwrap();
        assert!(
            after.password_hash.starts_with("$argon2id$"),
            "user {id}: {}",
            &after.password_hash[..12]
        );
        assert_eq!(after.updated_at, before.updated_at, "a rehash is no update");
        let res = login(&client, &url, email, password).await;
        assert_eq!(res.status(), StatusCode::OK, "user {id} again, on Argon2id");

        let (status, me) = get(&client, &url, "/auth/me", &token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(me["id"], id);
        assert_eq!(me["username"], user["username"]);
        assert_eq!(me["created_at"], as_larch_shows(&user["created_at"]));
        assert_eq!(me["updated_at"], me["created_at"]);
        let role = if id == 1 { "admin" } else { "user" };
        assert_eq!(me["role"], role, "user {id}");
        if id == 1 {
            admin_token = token;
        }
    }
    // An account whose hash larch cannot check, and a refused one: a plain 401.
    for user in flask
        .expected("users", "no-login")
        .into_iter()
        .chain(flask.expected("users", "refused"))
    {
        let res = login(
            &client,
            &url,
            user["email"].as_str().unwrap(),
            user["password"].as_str().unwrap(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{user}");
    }

    // Posts keep their ids, authors and dates; the refused ones are not there.
    for post in flask.rows("posts") {
        let id = post["id"].as_i64().unwrap();
        let (status, body) = get(&client, &url, &format!("/posts/{id}"), &admin_token).await;
        if post["expect"] == "refused" {
            assert_eq!(status, StatusCode::NOT_FOUND, "post {id}");
            continue;
        }
        assert_eq!(status, StatusCode::OK, "post {id}");
        assert_eq!(body["title"], post["title"]);
        assert_eq!(body["user_id"], post["user_id"]);
        assert_eq!(body["author"]["id"], post["user_id"]);
        assert_eq!(body["created_at"], as_larch_shows(&post["created_at"]));
        assert_eq!(body["updated_at"], body["created_at"]);
    }
    let kept_posts = flask.kept("posts").len();
    let (_, list) = get(&client, &url, "/posts?limit=100", &admin_token).await;
    assert_eq!(list["total"], kept_posts);
    assert_eq!(list["posts"].as_array().unwrap().len(), kept_posts);
    let (_, found) = get(
        &client,
        &url,
        "/posts?q=%CE%BF%CE%B4%CE%BF%CF%82",
        &admin_token,
    )
    .await;
    assert_eq!(found["total"], 1, "ΟΔΟΣ found by οδος: {found}");
    let (_, found) = get(&client, &url, "/posts?q=searchable", &admin_token).await;
    assert_eq!(found["total"], 1);
    assert_eq!(found["posts"][0]["id"], 2);
    let (_, mine) = get(&client, &url, "/users/500/posts", &admin_token).await;
    assert_eq!(mine["total"], 1);

    // Products: exact prices, skus, stock.
    let (_, lamp) = get(&client, &url, "/products/1", &admin_token).await;
    assert_eq!(lamp["price"], "19.99");
    assert_eq!(lamp["sku"], "LAMP-01");
    assert_eq!(lamp["stock"], 12);
    assert_eq!(
        lamp["created_at"],
        as_larch_shows(&flask.rows("products")[0]["created_at"])
    );
    let (_, products) = get(&client, &url, "/products", &admin_token).await;
    assert_eq!(products["total"], flask.kept("products").len());

    // New rows take ids above the highest Flask id, on every backend.
    let res = client
        .post(format!("{url}/auth/register"))
        .json(
            &json!({"username": "newcomer", "email": "newcomer@example.com",
                      "password": "newcomer-password"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    assert!(id > flask.max_id("users"), "new user {id}");
    let res = client
        .post(format!("{url}/posts"))
        .bearer_auth(&admin_token)
        .json(&json!({"title": "After the move", "body": "Hello from larch."}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    assert!(id > flask.max_id("posts"), "new post {id}");
    let res = client
        .post(format!("{url}/products"))
        .bearer_auth(&admin_token)
        .json(&json!({"name": "Rug", "price": "80.00"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    assert!(id > flask.max_id("products"), "new product {id}");
    let (_, list) = get(&client, &url, "/posts", &admin_token).await;
    assert_eq!(list["total"], kept_posts + 1);

    // An imported account changed in larch since: a second run leaves it, says so, and
    // imports nothing twice (its posts are still its own).
    let res = client
        .patch(format!("{url}/users/3"))
        .bearer_auth(&admin_token)
        .json(&json!({"username": "carol-renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let again = larch.import(&flask, &[]);
    assert_reported(&flask, &again, false);
    for (table, kept) in [
        ("users", flask.kept("users").len()),
        ("posts", flask.kept("posts").len()),
        ("products", flask.kept("products").len()),
    ] {
        let differ = usize::from(table == "users");
        let line = summary_line(&again, table);
        assert!(
            line.contains(&format!(
                "imported 0, already there {}, differ {differ}",
                kept - differ
            )),
            "{line}"
        );
    }
    assert!(
        again.contains(
            "differs  users #3: larch's user #3 has another username; left as larch has it"
        ),
        "{again}"
    );
    assert!(!again.contains("no-login"), "reported once: {again}");
    let (_, list) = get(&client, &url, "/posts", &admin_token).await;
    assert_eq!(
        list["total"],
        kept_posts + 1,
        "the second run added nothing"
    );
    let (_, carol) = get(&client, &url, "/users/3", &admin_token).await;
    assert_eq!(carol["username"], "carol-renamed");
}

async fn from_flask_on_sqlite() {
    import_and_check(Backend::Sqlite, current_backend()).await;
}

async fn from_flask_on_this_backend_into_sqlite() {
    if current_backend() == Backend::Sqlite {
        skip("SQLite into SQLite is from_flask_on_sqlite");
    }
    import_and_check(current_backend(), Backend::Sqlite).await;
}

/// An import killed part-way (as a crash would stop it) leaves whole batches, each with its
/// counts; run again, it imports exactly the rest.
async fn a_killed_import_finishes_when_run_again() {
    const EXTRA: usize = 3_000;
    let dir = tempfile::tempdir().unwrap();
    let flask = Flask::create(Backend::Sqlite, dir.path(), EXTRA).await;
    let larch = larch_on(current_backend(), dir.path()).await;
    assert!(
        larch
            .command()
            .arg("migrate")
            .output()
            .unwrap()
            .status
            .success()
    );
    let db = larch.db().await;
    let count_posts = || async {
        use sea_orm::{EntityTrait, PaginatorTrait};
        larch::posts::model::Entity::find()
            .count(&db)
            .await
            .unwrap()
    };
    let mut child = larch
        .command()
        .args(["import-flask", "--from", &flask.url, "--batch-size", "10"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while count_posts().await < 100 && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let total = (flask.kept("posts").len() + EXTRA) as u64;
    let partial = count_posts().await;
    assert!(
        partial >= 100,
        "the import wrote posts before it was killed"
    );
    assert!(
        partial < total,
        "killed before the end ({partial} of {total})"
    );
    let counted = larch::row_counts::get(&db, larch::row_counts::POSTS)
        .await
        .unwrap();
    assert_eq!(
        counted, partial,
        "each batch's count is in its own transaction"
    );

    let output = larch.import(&flask, &[]);
    let line = summary_line(&output, "posts");
    assert!(
        line.contains(&format!(
            "imported {}, already there {partial}",
            total - partial
        )),
        "{line}"
    );
    assert_eq!(count_posts().await, total);
    let counted = larch::row_counts::get(&db, larch::row_counts::POSTS)
        .await
        .unwrap();
    assert_eq!(counted, total);
}

/// Bad `--from` values fail with a message, before anything is written.
async fn a_bad_source_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let larch = larch_on(current_backend(), dir.path()).await;
    for (from, says) in [
        ("sqlite:///flask.db", "instance/"),
        ("sqlite://", "in-memory"),
        ("oracle://u:secret@db/app", "not supported"),
        ("flask.db", "not a database URL"),
    ] {
        let out = larch
            .command()
            .args(["import-flask", "--from", from])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{from}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{from}: {stderr}");
        assert!(!stderr.contains("secret"), "{stderr}");
    }
    let out = larch
        .command()
        .args([
            "import-flask",
            "--from",
            "sqlite:///x.db",
            "--admin",
            "not an address",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--admin"));
}

pub fn tests() -> Vec<Test> {
    trials![
        from_flask_on_sqlite,
        from_flask_on_this_backend_into_sqlite,
        a_killed_import_finishes_when_run_again,
        a_bad_source_is_refused_with_a_reason
    ]
}
