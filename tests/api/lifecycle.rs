//! The process's life with real `larch serve` processes: SIGTERM drains and exits within
//! the grace period whatever clients do; `kill -9` under write load loses no write that was
//! acknowledged; `larch backup` copies a live SQLite database that restores with every
//! write acknowledged before it began.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::client::json_of;
use crate::instances::instance;
use crate::raw::Raw;
use crate::runner::{Backend, Test, current_backend, fresh_database, trials};
use crate::server::Server;

/// Registers and logs in a user on `server`; its access token.
async fn writer_token(server: &Server) -> String {
    let client = reqwest::Client::new();
    let res = client
        .post(format!("{}/auth/register", server.url))
        .json(&json!({"username": "writer", "email": "writer@example.com", "password": "long-enough"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = client
        .post(format!("{}/auth/login", server.url))
        .json(&json!({"email": "writer@example.com", "password": "long-enough"}))
        .send()
        .await
        .unwrap();
    json_of(res, StatusCode::OK).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Writers creating posts as fast as the server takes them, recording every one answered
/// `201` (id and title) and anything else that was not a connection error.
struct WriteLoad {
    acknowledged: Arc<Mutex<Vec<(i64, String)>>>,
    refused: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    writers: Vec<tokio::task::JoinHandle<()>>,
}

impl WriteLoad {
    fn start(url: &str, token: &str, writers: usize) -> WriteLoad {
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let writers = (0..writers)
            .map(|writer| {
                let (acknowledged, refused, stop) =
                    (acknowledged.clone(), refused.clone(), stop.clone());
                let (url, token) = (format!("{url}/posts"), token.to_owned());
                tokio::spawn(async move {
                    let client = reqwest::Client::builder()
                        .timeout(Duration::from_secs(20))
                        .build()
                        .unwrap();
                    for n in 0.. {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        let title = format!("durable {writer}-{n}");
                        let sent = client
                            .post(&url)
                            .bearer_auth(&token)
                            .json(&json!({"title": title, "body": "must survive"}))
                            .send()
                            .await;
                        let Ok(res) = sent else {
                            // The server is gone (killed): this write was never acknowledged.
                            return;
                        };
                        let status = res.status();
                        match res.json::<Value>().await {
                            Ok(post) if status == StatusCode::CREATED => acknowledged
                                .lock()
                                .unwrap()
                                .push((post["id"].as_i64().unwrap(), title)),
                            Ok(other) => refused.lock().unwrap().push(format!("{status} {other}")),
                            // Cut before the body arrived: not acknowledged either.
                            Err(_) => return,
                        }
                    }
                })
            })
            .collect();
        WriteLoad {
            acknowledged,
            refused,
            stop,
            writers,
        }
    }

    fn acknowledged(&self) -> Vec<(i64, String)> {
        self.acknowledged.lock().unwrap().clone()
    }

    async fn wait_for(&self, writes: usize) {
        let started = Instant::now();
        while self.acknowledged.lock().unwrap().len() < writes {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "only {} writes in 60 s",
                self.acknowledged.lock().unwrap().len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the writers (or waits for them to notice the server is gone).
    async fn finish(self) -> (Vec<(i64, String)>, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        for writer in self.writers {
            writer.await.unwrap();
        }
        let refused = self.refused.lock().unwrap().clone();
        (self.acknowledged.lock().unwrap().clone(), refused)
    }
}

/// Every `(id, title)` is served by `url` as written.
async fn assert_all_present(url: &str, writes: &[(i64, String)]) {
    let client = reqwest::Client::new();
    for chunk in writes.chunks(32) {
        let checks = chunk.iter().map(|(id, title)| {
            let client = client.clone();
            async move {
                let res = client
                    .get(format!("{url}/posts/{id}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), StatusCode::OK, "acknowledged post {id} lost");
                let post: Value = res.json().await.unwrap();
                assert_eq!(post["title"], json!(title), "post {id}");
            }
        });
        futures::future::join_all(checks).await;
    }
}

/// The file of a `sqlite://` URL.
fn sqlite_path(database_url: &str) -> std::path::PathBuf {
    let rest = database_url.trim_start_matches("sqlite://");
    std::path::PathBuf::from(rest.split('?').next().unwrap())
}

async fn sigterm_finishes_requests_in_flight_and_exits_within_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database(dir.path()).await;
    let settings = [
        ("RATE_LIMIT_AUTH_PER_MINUTE", "0"),
        ("SHUTDOWN_GRACE_SECONDS", "4"),
        ("SHUTDOWN_DRAIN_SECONDS", "1"),
        // Only the shutdown may end the slow clients here.
        ("HEADER_READ_TIMEOUT_SECONDS", "60"),
        ("KEEP_ALIVE_TIMEOUT_SECONDS", "60"),
        ("REQUEST_TIMEOUT_SECONDS", "60"),
    ];
    let mut server = instance(&database_url, dir.path(), &settings).await;
    let token = writer_token(&server).await;

    // Before SIGTERM: a head that never completes, an idle kept-alive connection, a write
    // whose body is still arriving, and one whose body never will.
    let mut slow = Raw::connect(&server.url).await;
    slow.send("GET /healthz HTTP/1.1\r\nHost: lar").await;
    let mut idle = Raw::connect(&server.url).await;
    assert_eq!(idle.get("/healthz").await.status, 200);
    let body = br#"{"title": "finished during shutdown", "body": "in flight"}"#;
    let write_head = format!(
        "POST /posts HTTP/1.1\r\nHost: larch.test\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut in_flight = Raw::connect(&server.url).await;
    in_flight.send(&write_head).await;
    in_flight.send(&body[..20]).await;
    let mut stuck = Raw::connect(&server.url).await;
    stuck.send(&write_head).await;
    stuck.send(&body[..20]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let began = Instant::now();
    server.signal("TERM");
    tokio::time::sleep(Duration::from_millis(200)).await;

    // No new connections.
    assert!(
        Raw::try_connect(&server.url).await.is_err(),
        "a connection was accepted after SIGTERM"
    );
    // During the drain an idle connection is still answered: not ready, and closing.
    let ready = idle.get("/readyz").await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json()["status"], 503);
    assert_eq!(ready.header("connection"), Some("close"));
    assert!(idle.is_closed(Duration::from_secs(1)).await);
    // The write in flight finishes, and its answer closes the connection.
    in_flight.send(&body[20..]).await;
    let written = in_flight.response().await;
    assert_eq!(written.status, 201);
    assert_eq!(written.header("connection"), Some("close"));
    let written_id = written.json()["id"].as_i64().unwrap();
    // The slow head is closed when the drain ends.
    let slow_closed = slow
        .closed_within(began, Duration::from_secs(5))
        .await
        .expect("the slow client is disconnected");
    assert!(slow_closed < Duration::from_millis(2500), "{slow_closed:?}");
    // The stuck write holds the process only until the grace period ends.
    let status = server
        .exited_within(Duration::from_secs(8))
        .await
        .expect("exits within the grace period");
    let exited = began.elapsed();
    assert!(status.success(), "{status}");
    assert!(
        (Duration::from_millis(3000)..Duration::from_millis(4600)).contains(&exited),
        "exited after {exited:?} with a 4 s grace period"
    );
    assert!(stuck.is_closed(Duration::from_secs(1)).await);

    // What finished was committed.
    let again = instance(&database_url, dir.path(), &settings).await;
    let res = reqwest::get(format!("{}/posts/{written_id}", again.url))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

async fn kill_9_under_write_load_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database(dir.path()).await;
    let settings = [("RATE_LIMIT_AUTH_PER_MINUTE", "0")];
    let mut server = instance(&database_url, dir.path(), &settings).await;
    let token = writer_token(&server).await;

    let load = WriteLoad::start(&server.url, &token, 8);
    load.wait_for(150).await;
    server.signal("KILL");
    server
        .exited_within(Duration::from_secs(5))
        .await
        .expect("killed");
    let (acknowledged, refused) = load.finish().await;
    assert!(
        refused.is_empty(),
        "writes refused before the kill: {refused:?}"
    );

    // Starts again as it is, with no repair, and has every acknowledged write.
    if current_backend() == Backend::Sqlite {
        larch::backup::check_integrity(&sqlite_path(&database_url))
            .await
            .expect("the database file is intact after kill -9");
    }
    let restarted = instance(&database_url, dir.path(), &settings).await;
    let ready = reqwest::get(format!("{}/readyz", restarted.url))
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_all_present(&restarted.url, &acknowledged).await;
    // And takes writes again.
    let load = WriteLoad::start(&restarted.url, &token, 2);
    load.wait_for(10).await;
    let (_, refused) = load.finish().await;
    assert!(refused.is_empty(), "{refused:?}");
}

async fn a_backup_under_write_load_restores_every_write_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database(dir.path()).await;
    let backup_path = dir.path().join("backup.db");
    let backup = {
        let (dir, database_url) = (dir.path().to_path_buf(), database_url.clone());
        move |to: &std::path::Path| {
            Command::new(env!("CARGO_BIN_EXE_larch"))
                .current_dir(&dir)
                .env_clear()
                .envs(crate::server::kept_env())
                .env("DATABASE_URL", &database_url)
                .env("RUST_LOG", "warn")
                .args(["backup", "--to"])
                .arg(to)
                .output()
                .unwrap()
        }
    };
    if current_backend() != Backend::Sqlite {
        let out = backup(&backup_path);
        assert!(!out.status.success());
        let said = String::from_utf8_lossy(&out.stderr);
        let tool = match current_backend() {
            Backend::Postgres => "pg_dump",
            _ => "mysqldump",
        };
        assert!(said.contains(tool), "{said}");
        assert!(!backup_path.exists());
        return;
    }

    let settings = [("RATE_LIMIT_AUTH_PER_MINUTE", "0")];
    let server = instance(&database_url, dir.path(), &settings).await;
    let token = writer_token(&server).await;
    let load = WriteLoad::start(&server.url, &token, 4);
    load.wait_for(200).await;
    let before = load.acknowledged();
    let out = tokio::task::spawn_blocking({
        let (backup, backup_path) = (backup.clone(), backup_path.clone());
        move || backup(&backup_path)
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("integrity ok"), "{said}");
    // Writes go on after the backup, unhindered.
    let during = load.acknowledged().len();
    load.wait_for(during + 20).await;
    let (after, refused) = load.finish().await;
    assert!(
        refused.is_empty(),
        "writes refused around the backup: {refused:?}"
    );
    drop(server);

    // A backup never overwrites.
    let again = backup(&backup_path);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    // Restore as documented: the copy becomes the database file of a fresh directory.
    let restored_dir = tempfile::tempdir().unwrap();
    let restored = restored_dir.path().join("larch.db");
    std::fs::copy(&backup_path, &restored).unwrap();
    larch::backup::check_integrity(&restored).await.unwrap();
    let restored_url = format!("sqlite://{}", restored.display());
    let server = instance(&restored_url, restored_dir.path(), &settings).await;
    assert_all_present(&server.url, &before).await;
    // Nothing the backup could not have seen is claimed: every row restored was written.
    let total = json_of(
        reqwest::get(format!("{}/posts?limit=1", server.url))
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await["total"]
        .as_u64()
        .unwrap();
    assert!(
        (before.len() as u64..=after.len() as u64).contains(&total),
        "{total} posts restored; {} acknowledged before the backup, {} in all",
        before.len(),
        after.len()
    );
}

pub fn tests() -> Vec<Test> {
    trials![
        sigterm_finishes_requests_in_flight_and_exits_within_the_grace_period,
        kill_9_under_write_load_loses_no_acknowledged_write,
        a_backup_under_write_load_restores_every_write_acknowledged_before_it
    ]
}
