//! The background jobs behind every email: durable across a `kill -9`, retried, kept as
//! failed after the last attempt (shown by `larch jobs` and `/metrics`, and retryable), and
//! run once when two instances share the queue.

use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::client::{TestApp, jobs_env, require_job_queue, spawn_app_on, spawn_app_with};
use crate::instances::instance;
use crate::password_reset::{jobs_settle, request_reset};
use crate::runner::{Backend, Test, current_backend, fresh_database, trials};
use crate::smtp::{Inbox, reserve_port, smtp_url};

/// `larch <args>` of the real binary on `database_url`, with the tests' job settings.
fn larch(database_url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_larch"))
        .args(args)
        .env_clear()
        .envs(crate::server::kept_env())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("LARCH_ENV", "testing")
        .env("RUST_LOG", "error")
        .envs(jobs_env(database_url))
        .output()
        .unwrap()
}

async fn failed_jobs(app: &TestApp) -> Vec<larch::jobs::admin::FailedJob> {
    larch::jobs::admin::failed(app.state.jobs.as_ref().unwrap(), 100)
        .await
        .unwrap()
}

async fn a_job_failing_past_its_attempts_is_kept_shown_and_retryable() {
    require_job_queue();
    let port = reserve_port();
    let url = smtp_url(port);
    let app = spawn_app_with(&[("SMTP_URL", url.as_str()), ("JOBS_MAX_ATTEMPTS", "2")]).await;
    let res = app
        .register("failing", "failing@example.com", "correct-horse-battery")
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let started = Instant::now();
    let failed = loop {
        let failed = failed_jobs(&app).await;
        if !failed.is_empty() {
            break failed;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the job never failed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].kind, "verify_email");
    // `larch jobs` lists it, with the reason.
    let database_url = app.state.config.database_url.clone();
    let listed = larch(&database_url, &["jobs"]);
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(stdout.contains("failed for good"), "{stdout}");
    assert!(stdout.contains(&failed[0].id), "{stdout}");
    // /metrics counts it.
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    // Redis (the MySQL deployment's queue) counts by state only.
    let gauge = match current_backend() {
        Backend::MySql => r#"kind="*",state="failed"} 1"#,
        _ => r#"kind="verify_email",state="failed"} 1"#,
    };
    assert!(metrics.contains(gauge), "{metrics}");
    assert!(metrics.contains(r#"kind="verify_email",outcome="failed""#));
    assert!(metrics.contains(r#"kind="verify_email",outcome="retried""#));
    // The mail server comes back; retrying the job delivers the email.
    let inbox = Inbox::start_on(port);
    let retried = larch(&database_url, &["jobs", "retry", &failed[0].id]);
    assert!(
        retried.status.success(),
        "{}",
        String::from_utf8_lossy(&retried.stderr)
    );
    let mail = inbox
        .wait_for("failing@example.com", 1)
        .await
        .pop()
        .unwrap();
    assert_eq!(mail.subject(), "Confirm your email address for larch");
    jobs_settle(&app).await;
    assert!(failed_jobs(&app).await.is_empty());
    // Retrying what is not a failed job says so.
    let again = larch(&database_url, &["jobs", "retry", &failed[0].id]);
    assert!(!again.status.success());
}

async fn a_job_running_when_larch_is_killed_runs_after_the_restart() {
    require_job_queue();
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database(dir.path()).await;
    // A mail server that takes the connection and never answers: the job is running (its
    // send waiting) when larch dies.
    let stalling = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stalling_url = smtp_url(stalling.local_addr().unwrap().port());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for connection in stalling.incoming() {
            held.push(connection);
        }
    });
    let mut env: Vec<(String, String)> = jobs_env(&database_url);
    env.extend([
        ("LARCH_ENV".to_owned(), "testing".to_owned()),
        ("RATE_LIMIT_AUTH_PER_MINUTE".to_owned(), "0".to_owned()),
        ("JOBS_ATTEMPT_TIMEOUT_SECONDS".to_owned(), "120".to_owned()),
    ]);
    let mut first_env = env.clone();
    first_env.push(("SMTP_URL".to_owned(), stalling_url));
    let vars: Vec<(&str, &str)> = first_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let first = instance(&database_url, dir.path(), &vars).await;
    let client = reqwest::Client::new();
    let res = client
        .post(format!("{}/auth/register", first.url))
        .json(&json!({"username": "crash", "email": "crash@example.com", "password": "correct-horse-battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let started = Instant::now();
    loop {
        let listed = larch(&database_url, &["jobs"]);
        let stdout = String::from_utf8_lossy(&listed.stdout).into_owned();
        let running = stdout
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some("running"));
        if running {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the job never ran: {stdout}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    first.signal("KILL");
    drop(first);
    // Restarted (with a mail server that works): the orphaned job is taken up once its
    // worker is seen gone (two missed heartbeats), and sent.
    let inbox = Inbox::start();
    let mut second_env = env.clone();
    second_env.push(("SMTP_URL".to_owned(), inbox.url()));
    let vars: Vec<(&str, &str)> = second_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let _second = instance(&database_url, dir.path(), &vars).await;
    let mail = inbox.wait_for("crash@example.com", 1).await.pop().unwrap();
    assert_eq!(mail.subject(), "Confirm your email address for larch");
}

async fn two_instances_send_each_email_once() {
    require_job_queue();
    let inbox = Inbox::start();
    let url = inbox.url();
    // Heartbeats well apart from the jobs' length on a loaded machine: delivery is at least
    // once, and a late heartbeat would hand a running job to the other instance.
    let vars = [("SMTP_URL", url.as_str()), ("JOBS_HEARTBEAT_SECONDS", "5")];
    let a = spawn_app_with(&vars).await;
    let b = spawn_app_on(&a.state.config.database_url, &vars).await;
    let mut addresses = Vec::new();
    for i in 0..12 {
        let email = format!("twice{i}@example.com");
        let via = if i % 2 == 0 { &a } else { &b };
        let res = via
            .register(&format!("twice{i}"), &email, "correct-horse-battery")
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(
            request_reset(via, &email).await.status(),
            StatusCode::ACCEPTED
        );
        addresses.push(email);
    }
    for email in &addresses {
        inbox.wait_for(email, 2).await;
    }
    jobs_settle(&a).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for email in &addresses {
        assert_eq!(
            inbox.to(email).len(),
            2,
            "{email}: one verification, one reset"
        );
    }
    assert_eq!(inbox.all().len(), 24);
}

async fn larch_worker_runs_jobs_for_a_server_without_workers() {
    require_job_queue();
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database(dir.path()).await;
    let inbox = Inbox::start();
    let url = inbox.url();
    // `larch serve --no-workers` takes the request; a separate `larch worker` sends.
    let mut serve = Command::new(env!("CARGO_BIN_EXE_larch"));
    let env = jobs_env(&database_url);
    serve
        .current_dir(dir.path())
        .env_clear()
        .envs(crate::server::kept_env())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &database_url)
        .env("SMTP_URL", &url)
        .env("RUST_LOG", "error")
        .envs(env.clone())
        .stdout(std::process::Stdio::null());
    let server = crate::server::Server::start_with(serve, &["--no-workers"]).await;
    let client = reqwest::Client::new();
    let res = client
        .post(format!("{}/auth/register", server.url))
        .json(&json!({"username": "splitup", "email": "splitup@example.com", "password": "correct-horse-battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        inbox.to("splitup@example.com").is_empty(),
        "serve --no-workers sends nothing"
    );
    let mut worker = Command::new(env!("CARGO_BIN_EXE_larch"))
        .current_dir(dir.path())
        .env_clear()
        .envs(crate::server::kept_env())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &database_url)
        .env("SMTP_URL", &url)
        .env("RUST_LOG", "error")
        .envs(env)
        .stdout(std::process::Stdio::null())
        .arg("worker")
        .spawn()
        .unwrap();
    let mail = inbox
        .wait_for("splitup@example.com", 1)
        .await
        .pop()
        .unwrap();
    assert_eq!(mail.subject(), "Confirm your email address for larch");
    // SIGTERM stops it promptly.
    std::process::Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = worker.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "larch worker did not stop"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn tests() -> Vec<Test> {
    trials![
        a_job_failing_past_its_attempts_is_kept_shown_and_retryable,
        a_job_running_when_larch_is_killed_runs_after_the_restart,
        two_instances_send_each_email_once,
        larch_worker_runs_jobs_for_a_server_without_workers,
    ]
}
