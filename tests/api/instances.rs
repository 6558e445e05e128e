//! Several larch processes on one database behave as one service, and a database that goes
//! away and comes back is survived without a restart (issue: one code path, three databases).

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

use crate::client::{assert_error, json_of};
use crate::runner::{Backend, Test, current_backend, fresh_database, trials};
use crate::server::Server;

/// A fleet member: the real binary on `database_url`, with the secret the fleet shares.
pub(crate) async fn instance(
    database_url: &str,
    dir: &std::path::Path,
    extra: &[(&str, &str)],
) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_larch"));
    command
        .current_dir(dir)
        .env_clear()
        .envs(crate::server::kept_env())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env(
            "JWT_SECRET_KEY",
            "shared-secret-of-the-whole-fleet-0123456789",
        )
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .envs(extra.iter().copied());
    Server::start(command).await
}

async fn post(
    client: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut request = client.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// A TCP forwarder in front of the database server that can be cut and restored, to play
/// an unreachable database. A cut closes every forwarded connection before it returns.
struct FlakyLink {
    address: SocketAddr,
    up: Arc<AtomicBool>,
    connections: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl FlakyLink {
    async fn start(target: SocketAddr) -> FlakyLink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let connections = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (up2, connections2) = (up.clone(), connections.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                // Checked under the lock that `cut` takes, so a connection is either refused
                // here or registered before the cut aborts them all.
                let mut open = connections2.lock().unwrap();
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let forward = tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
                open.push(forward.abort_handle());
            }
        });
        FlakyLink {
            address,
            up,
            connections,
        }
    }

    fn cut(&self) {
        let mut open = self.connections.lock().unwrap();
        self.up.store(false, Ordering::SeqCst);
        for connection in open.drain(..) {
            connection.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn wait_for_status(client: &reqwest::Client, url: &str, status: StatusCode) -> Duration {
    let started = Instant::now();
    loop {
        let res = client.get(url).send().await.unwrap();
        if res.status() == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{url} never became {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn two_instances_on_one_database_behave_as_one_service() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database(dir.path()).await;
    let a = instance(
        &database_url,
        dir.path(),
        &[("RATE_LIMIT_AUTH_PER_MINUTE", "0")],
    )
    .await;
    let b = instance(
        &database_url,
        dir.path(),
        &[("RATE_LIMIT_AUTH_PER_MINUTE", "0")],
    )
    .await;
    let client = reqwest::Client::new();

    // Registered on A, logged in on B.
    let res = post(
        &client,
        format!("{}/auth/register", a.url),
        None,
        json!({"username": "fleet", "email": "fleet@example.com", "password": "long-enough"}),
    )
    .await;
    let user_id = json_of(res, StatusCode::CREATED).await["id"]
        .as_i64()
        .unwrap();
    let res = post(
        &client,
        format!("{}/auth/login", b.url),
        None,
        json!({"email": "fleet@example.com", "password": "long-enough"}),
    )
    .await;
    let pair = json_of(res, StatusCode::OK).await;
    let (access, first_refresh) = (
        pair["access_token"].as_str().unwrap().to_owned(),
        pair["refresh_token"].as_str().unwrap().to_owned(),
    );

    // Rotated on A: the used token is refused on B, and that reuse ends the session for A
    // as well: its refresh token and its access token are refused on both.
    let rotated = json_of(
        post(
            &client,
            format!("{}/auth/refresh", a.url),
            Some(&first_refresh),
            json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let second_refresh = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_error(
        post(
            &client,
            format!("{}/auth/refresh", b.url),
            Some(&first_refresh),
            json!({}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_error(
        post(
            &client,
            format!("{}/auth/refresh", a.url),
            Some(&second_refresh),
            json!({}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    for url in [&a.url, &b.url] {
        let res = client
            .get(format!("{url}/auth/me"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_error(res, StatusCode::UNAUTHORIZED).await;
    }
    let res = post(
        &client,
        format!("{}/auth/login", a.url),
        None,
        json!({"email": "fleet@example.com", "password": "long-enough"}),
    )
    .await;
    let access = json_of(res, StatusCode::OK).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // An admin demoted through A loses admin rights on B at once.
    let admin_env = [("LARCH_ADMIN_PASSWORD", "admin-password-123")];
    for (username, email) in [
        ("boss1", "boss1@example.com"),
        ("boss2", "boss2@example.com"),
    ] {
        let status = Command::new(env!("CARGO_BIN_EXE_larch"))
            .current_dir(dir.path())
            .env("DATABASE_URL", &database_url)
            .envs(admin_env)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .args(["create-admin", "--username", username, "--email", email])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let login = |email: &'static str| {
        let client = client.clone();
        let url = format!("{}/auth/login", a.url);
        async move {
            json_of(
                post(
                    &client,
                    url,
                    None,
                    json!({"email": email, "password": "admin-password-123"}),
                )
                .await,
                StatusCode::OK,
            )
            .await["access_token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let boss1 = login("boss1@example.com").await;
    let boss2 = login("boss2@example.com").await;
    let seen = json_of(
        client
            .get(format!("{}/users/{user_id}", b.url))
            .bearer_auth(&boss2)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(seen["email"].is_string(), "admin sees emails");
    let boss2_id = json_of(
        client
            .get(format!("{}/auth/me", a.url))
            .bearer_auth(&boss2)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let res = client
        .patch(format!("{}/users/{boss2_id}", a.url))
        .bearer_auth(&boss1)
        .json(&json!({"role": "user"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let seen = json_of(
        client
            .get(format!("{}/users/{user_id}", b.url))
            .bearer_auth(&boss2)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(
        seen.get("email").is_none(),
        "demoted on A, no longer admin on B"
    );

    // A search total and page read (and cached) on B follow a product written through A.
    let search = |url: String| {
        let client = client.clone();
        async move {
            json_of(
                client
                    .get(format!("{url}/products?q=lamp&sort=price"))
                    .send()
                    .await
                    .unwrap(),
                StatusCode::OK,
            )
            .await["total"]
                .as_u64()
                .unwrap()
        }
    };
    assert_eq!(search(b.url.clone()).await, 0);
    let res = post(
        &client,
        format!("{}/products", a.url),
        Some(&boss1),
        json!({"name": "Desk lamp", "price": "12.00"}),
    )
    .await;
    let lamp = json_of(res, StatusCode::CREATED).await["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        search(b.url.clone()).await,
        1,
        "a creation on A is counted on B"
    );
    let res = client
        .patch(format!("{}/products/{lamp}", a.url))
        .bearer_auth(&boss1)
        .json(&json!({"stock": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = json_of(
        client
            .get(format!("{}/products?q=lamp&sort=price", b.url))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        page["products"][0]["stock"], 3,
        "a stock change on A is in B's search page"
    );
    let res = client
        .patch(format!("{}/products/{lamp}", a.url))
        .bearer_auth(&boss1)
        .json(&json!({"name": "Desk light"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        search(b.url.clone()).await,
        0,
        "a rename on A is seen by B's search"
    );

    // Pages of posts and of users read (and kept) on B follow a rename made through A, and
    // a page kept on A follows a deletion made through B.
    let res = post(
        &client,
        format!("{}/posts", a.url),
        Some(&access),
        json!({"title": "Fleet news", "body": "b"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let first_page = |url: String, list: &'static str, token: Option<String>| {
        let client = client.clone();
        async move {
            let mut request = client.get(format!("{url}/{list}"));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            json_of(request.send().await.unwrap(), StatusCode::OK).await
        }
    };
    let names = |page: Value, list: &str| -> Vec<String> {
        page[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| {
                let name = item
                    .get("author")
                    .map_or(&item["username"], |a| &a["username"]);
                name.as_str().unwrap().to_owned()
            })
            .collect()
    };
    for instance in [&a, &b] {
        let posts = first_page(instance.url.clone(), "posts", None).await;
        assert_eq!(names(posts, "posts"), ["fleet"]);
        let users = first_page(instance.url.clone(), "users", Some(boss1.clone())).await;
        assert!(names(users, "users").contains(&"fleet".to_owned()));
    }
    let res = client
        .patch(format!("{}/users/{user_id}", a.url))
        .bearer_auth(&access)
        .json(&json!({"username": "fleet_renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let posts = first_page(b.url.clone(), "posts", None).await;
    assert_eq!(
        names(posts, "posts"),
        ["fleet_renamed"],
        "B's kept page follows A's rename"
    );
    let users = first_page(b.url.clone(), "users", Some(boss1.clone())).await;
    assert!(names(users, "users").contains(&"fleet_renamed".to_owned()));

    // A user deleted through B loses access through A at once.
    let res = client
        .delete(format!("{}/users/{user_id}", b.url))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(
        client
            .get(format!("{}/auth/me", a.url))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let posts = first_page(a.url.clone(), "posts", None).await;
    assert_eq!(
        posts["total"], 0,
        "A's kept page follows B's deletion: {posts}"
    );
}

async fn the_auth_rate_limit_holds_across_instances() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database(dir.path()).await;
    // A burst of 4 (then one every 15 s), shared by both instances.
    let limit = [("RATE_LIMIT_AUTH_PER_MINUTE", "4")];
    let a = instance(&database_url, dir.path(), &limit).await;
    let b = instance(&database_url, dir.path(), &limit).await;
    let client = reqwest::Client::new();
    let body = json!({"email": "nobody@example.com", "password": "wrong-password"});
    for instance in [&a, &b, &a, &b] {
        let res = post(
            &client,
            format!("{}/auth/login", instance.url),
            None,
            body.clone(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    for instance in [&a, &b] {
        let res = post(
            &client,
            format!("{}/auth/login", instance.url),
            None,
            body.clone(),
        )
        .await;
        assert!(res.headers().contains_key("retry-after"));
        assert_error(res, StatusCode::TOO_MANY_REQUESTS).await;
    }
}

async fn readiness_follows_the_database_and_recovers_without_a_restart() {
    let backend = current_backend();
    if backend == Backend::Sqlite {
        // An embedded database cannot become unreachable; the pool-closed case is
        // covered in operations.rs.
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let direct = fresh_database(dir.path()).await;
    let mut url = url::Url::parse(&direct).unwrap();
    let target: SocketAddr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap())
        .parse()
        .unwrap();
    let link = FlakyLink::start(target).await;
    url.set_port(Some(link.address.port())).unwrap();
    let instance = instance(
        url.as_str(),
        dir.path(),
        &[("RATE_LIMIT_AUTH_PER_MINUTE", "0")],
    )
    .await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let ready = format!("{}/readyz", instance.url);
    assert_eq!(
        client.get(&ready).send().await.unwrap().status(),
        StatusCode::OK
    );
    let res = post(
        &client,
        format!("{}/auth/register", instance.url),
        None,
        json!({"username": "steady", "email": "steady@example.com", "password": "long-enough"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    link.cut();
    wait_for_status(&client, &ready, StatusCode::SERVICE_UNAVAILABLE).await;
    // Requests in between fail fast with a JSON 503, not a hang.
    let started = Instant::now();
    let res = post(
        &client,
        format!("{}/auth/login", instance.url),
        None,
        json!({"email": "steady@example.com", "password": "long-enough"}),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_error(res, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(
        client
            .get(format!("{}/healthz", instance.url))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    link.restore();
    wait_for_status(&client, &ready, StatusCode::OK).await;
    let res = post(
        &client,
        format!("{}/auth/login", instance.url),
        None,
        json!({"email": "steady@example.com", "password": "long-enough"}),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "works again without a restart"
    );
}

pub fn tests() -> Vec<Test> {
    trials![
        two_instances_on_one_database_behave_as_one_service,
        the_auth_rate_limit_holds_across_instances,
        readiness_follows_the_database_and_recovers_without_a_restart
    ]
}
