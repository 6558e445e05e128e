//! Connections: a client that is slow to send its request head, or leaves a connection
//! idle, is disconnected; at the connection cap the newcomer is served at the expense of an
//! idle connection, never of one being served; the answers hyper makes itself (malformed
//! requests, heads too large) are JSON like every other. None of this touches the
//! database, so these run once, on SQLite.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::client::{TestApp, spawn_app_with};
use crate::raw::Raw;
use crate::runner::{Backend, Test, current_backend, trials};

/// These tests do not depend on the database: one backend is enough.
fn once() -> bool {
    current_backend() == Backend::Sqlite
}

async fn app(vars: &[(&str, &str)]) -> TestApp {
    spawn_app_with(vars).await
}

async fn a_request_head_must_arrive_within_the_header_timeout() {
    if !once() {
        return;
    }
    let app = app(&[
        ("HEADER_READ_TIMEOUT_SECONDS", "1"),
        ("KEEP_ALIVE_TIMEOUT_SECONDS", "5"),
    ])
    .await;

    // Sends nothing at all.
    let mut silent = Raw::connect(&app.address).await;
    // Sends its head one byte every 200 ms: always active, never done.
    let mut dribbler = Raw::connect(&app.address).await;
    let started = Instant::now();
    let head = b"GET /healthz HTTP/1.1\r\nHost: larch.test\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let dribble = async {
        for byte in head {
            if !dribbler.try_send([*byte]).await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        dribbler
            .closed_within(started, Duration::from_secs(10))
            .await
    };
    let (silent_closed, dribbler_closed) = tokio::join!(
        silent.closed_within(started, Duration::from_secs(10)),
        dribble
    );
    for (who, closed) in [("silent", silent_closed), ("dribbler", dribbler_closed)] {
        let closed = closed.unwrap_or_else(|| panic!("{who} still connected after 10 s"));
        assert!(
            (Duration::from_millis(900)..Duration::from_secs(3)).contains(&closed),
            "{who} closed after {closed:?}"
        );
    }

    // A head that arrives in time is answered, however it is cut into pieces.
    let mut patient = Raw::connect(&app.address).await;
    for piece in head.chunks(20) {
        patient.send(piece).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(patient.response().await.status, 200);
}

async fn an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout() {
    if !once() {
        return;
    }
    let app = app(&[
        ("HEADER_READ_TIMEOUT_SECONDS", "5"),
        ("KEEP_ALIVE_TIMEOUT_SECONDS", "1"),
    ])
    .await;
    let mut connection = Raw::connect(&app.address).await;
    // Requests in a row keep it open, each resetting the idle clock.
    for _ in 0..3 {
        assert_eq!(connection.get("/healthz").await.status, 200);
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    let idle_from = Instant::now();
    let closed = connection
        .closed_within(idle_from, Duration::from_secs(10))
        .await
        .expect("closed");
    assert!(
        (Duration::from_millis(300)..Duration::from_secs(3)).contains(&closed),
        "closed after {closed:?} idle"
    );

    // The next head, once begun, has the header timeout, not the keep-alive one.
    let mut connection = Raw::connect(&app.address).await;
    assert_eq!(connection.get("/healthz").await.status, 200);
    connection.send("GET /healthz HTTP/1.1\r\n").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    connection.send("Host: larch.test\r\n\r\n").await;
    assert_eq!(connection.response().await.status, 200);
}

async fn silent_clients_never_keep_others_from_being_served() {
    if !once() {
        return;
    }
    // Long timeouts: only the cap protects the service here.
    let app = app(&[
        ("MAX_CONNECTIONS", "16"),
        ("HEADER_READ_TIMEOUT_SECONDS", "60"),
        ("KEEP_ALIVE_TIMEOUT_SECONDS", "60"),
    ])
    .await;
    let mut silent = Vec::new();
    for _ in 0..200 {
        silent.push(Raw::connect(&app.address).await);
    }
    let client = reqwest::Client::new();
    for _ in 0..5 {
        let started = Instant::now();
        let res = client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?} behind 200 silent connections",
            started.elapsed()
        );
    }
    let metrics = client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("http_connections_closed_total{reason=\"evicted_at_cap\"}"),
        "{metrics}"
    );
}

async fn at_the_cap_connections_being_served_are_never_cut() {
    if !once() {
        return;
    }
    let app = app(&[("MAX_CONNECTIONS", "3"), ("REQUEST_TIMEOUT_SECONDS", "30")]).await;
    // Three requests in progress: their bodies are still coming.
    let body = br#"{"username":"capped","email":"capped@example.com","password":"long-enough"}"#;
    let mut uploads = Vec::new();
    for _ in 0..3 {
        let mut upload = Raw::connect(&app.address).await;
        upload
            .send(format!(
                "POST /auth/register HTTP/1.1\r\nHost: larch.test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            ))
            .await;
        upload.send(&body[..10]).await;
        uploads.push(upload);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A newcomer waits: every slot is busy, and none is taken from a request.
    let newcomer = {
        let client = reqwest::Client::new();
        let url = app.url("/healthz");
        tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!newcomer.is_finished(), "served while every slot was busy");

    // The uploads finish and are answered; then the newcomer is served.
    let mut statuses = Vec::new();
    for upload in &mut uploads {
        upload.send(&body[10..]).await;
        statuses.push(upload.response().await.status);
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409], "each upload answered, none cut");
    let status = tokio::time::timeout(Duration::from_secs(5), newcomer)
        .await
        .expect("served once a slot freed")
        .unwrap()
        .unwrap();
    assert_eq!(status, StatusCode::OK);
}

async fn hypers_own_answers_are_json_errors() {
    if !once() {
        return;
    }
    let app = app(&[]).await;
    let cases: [(&str, Vec<u8>, u16); 4] = [
        ("not HTTP", b"HELLO THERE\r\n\r\n".to_vec(), 400),
        (
            "a bad header line",
            b"GET /healthz HTTP/1.1\r\nHost: larch.test\r\nno colon here\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a 70 KB header",
            format!(
                "GET /healthz HTTP/1.1\r\nHost: larch.test\r\nX-Big: {}\r\n\r\n",
                "a".repeat(70_000)
            )
            .into_bytes(),
            431,
        ),
        (
            "a 70 KB URL",
            format!(
                "GET /healthz?q={} HTTP/1.1\r\nHost: larch.test\r\n\r\n",
                "a".repeat(70_000)
            )
            .into_bytes(),
            431,
        ),
    ];
    for (what, request, status) in cases {
        let mut connection = Raw::connect(&app.address).await;
        connection.send(&request).await;
        let response = connection.response().await;
        assert_eq!(response.status, status, "{what}");
        assert!(
            response
                .header("content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "{what}: {:?}",
            response.headers
        );
        assert!(response.header("x-request-id").is_some(), "{what}");
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
        let body = response.json();
        assert_eq!(body["status"], status, "{what}");
        assert_eq!(
            body["error"],
            StatusCode::from_u16(status)
                .unwrap()
                .canonical_reason()
                .unwrap()
        );
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
        assert!(connection.is_closed(Duration::from_secs(2)).await, "{what}");
    }
    // A head just under the limit is served.
    let mut connection = Raw::connect(&app.address).await;
    connection
        .send(format!(
            "GET /healthz HTTP/1.1\r\nHost: larch.test\r\nX-Big: {}\r\n\r\n",
            "a".repeat(60_000)
        ))
        .await;
    assert_eq!(connection.response().await.status, 200);
}

pub fn tests() -> Vec<Test> {
    trials![
        a_request_head_must_arrive_within_the_header_timeout,
        an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout,
        silent_clients_never_keep_others_from_being_served,
        at_the_cap_connections_being_served_are_never_cut,
        hypers_own_answers_are_json_errors
    ]
}
