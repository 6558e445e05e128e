//! A load generator for the robustness scripts (`bench/rolling_restart.sh`, `bench/crash.sh`,
//! `bench/soak.sh`): mixed reads and writes, or writes only, or logins, from many concurrent
//! clients, closed-loop (as fast as answered) or open-loop at a fixed rate. It counts every
//! answer by status and every connection error by kind, prints latency percentiles per
//! window, and can record every write the server acknowledged (`--acked FILE`) and check
//! later that each is still there (`verify`).
//!
//! ```text
//! cargo run --release --example load -- mixed --url http://127.0.0.1:8000 --duration 60
//! cargo run --release --example load -- mixed --url … --rate 500 --window 30
//! cargo run --release --example load -- writes --url … --acked acked.txt   # until the server dies
//! cargo run --release --example load -- verify --url … --acked acked.txt
//! cargo run --release --example load -- logins --url … --concurrency 64 --duration 10
//! ```
//!
//! The server needs `RATE_LIMIT_AUTH_PER_MINUTE=0` (the setup registers a user per client).
//! The last line is `TOTAL ok=… non2xx=… errors=… requests=… rps=… p50_ms=… p99_ms=… max_ms=…`.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use rand::Rng;
use serde_json::{Value, json};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Reads and writes: 45% GET /posts/{id}, 20% GET /posts?page, 10% GET /auth/me,
    /// 20% POST /posts, 5% PATCH /posts/{id}.
    Mixed(LoadArgs),
    /// POST /posts only.
    Writes(LoadArgs),
    /// POST /auth/login only (one user).
    Logins(LoadArgs),
    /// Checks that every write in --acked is served, with its title.
    Verify {
        #[arg(long)]
        url: String,
        #[arg(long)]
        acked: std::path::PathBuf,
    },
}

#[derive(Args, Clone)]
struct LoadArgs {
    #[arg(long)]
    url: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds; 0 runs until the server is gone (every client has hit --give-up errors in a
    /// row) or the process is stopped.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Requests per second in all (open loop); 0 means as fast as answered (closed loop).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Seconds per report line.
    #[arg(long, default_value_t = 10)]
    window: u64,
    /// Appends "id<TAB>title" for every write answered 201, flushed as it comes.
    #[arg(long)]
    acked: Option<std::path::PathBuf>,
    /// A client stops after this many connection errors in a row (0: never).
    #[arg(long, default_value_t = 0)]
    give_up: u32,
    /// Per-request timeout, seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

#[derive(Clone, Copy, PartialEq)]
enum Mix {
    Mixed,
    Writes,
    Logins,
}

#[derive(Default)]
struct Window {
    latencies_us: Vec<u64>,
    statuses: BTreeMap<u16, u64>,
    errors: BTreeMap<String, u64>,
}

impl Window {
    fn merge(&mut self, other: &Window) {
        self.latencies_us.extend_from_slice(&other.latencies_us);
        for (k, v) in &other.statuses {
            *self.statuses.entry(*k).or_default() += v;
        }
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
    }

    fn line(&mut self, label: &str, seconds: f64) -> String {
        self.latencies_us.sort_unstable();
        let pct = |p: f64| -> f64 {
            if self.latencies_us.is_empty() {
                return 0.0;
            }
            let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
            self.latencies_us[i] as f64 / 1000.0
        };
        let ok: u64 = self
            .statuses
            .iter()
            .filter(|(s, _)| (200..300).contains(*s))
            .map(|(_, n)| n)
            .sum();
        let non2xx: u64 = self
            .statuses
            .iter()
            .filter(|(s, _)| !(200..300).contains(*s))
            .map(|(_, n)| n)
            .sum();
        let errors: u64 = self.errors.values().sum();
        let requests = ok + non2xx + errors;
        let mut text = format!(
            "{label} ok={ok} non2xx={non2xx} errors={errors} requests={requests} rps={:.1} p50_ms={:.2} p99_ms={:.2} max_ms={:.2}",
            requests as f64 / seconds.max(0.001),
            pct(0.5),
            pct(0.99),
            pct(1.0)
        );
        if non2xx > 0 {
            text.push_str(&format!(" statuses={:?}", self.statuses));
        }
        if errors > 0 {
            text.push_str(&format!(" error_kinds={:?}", self.errors));
        }
        text
    }
}

struct Shared {
    window: Mutex<Window>,
    acked: Option<Mutex<std::fs::File>>,
    stop: AtomicBool,
}

impl Shared {
    fn record(&self, started: Instant, outcome: &Result<u16, String>) {
        let mut window = self.window.lock().unwrap();
        window
            .latencies_us
            .push(started.elapsed().as_micros() as u64);
        match outcome {
            Ok(status) => *window.statuses.entry(*status).or_default() += 1,
            Err(kind) => *window.errors.entry(kind.clone()).or_default() += 1,
        }
    }
}

fn error_kind(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect".into()
    } else if e.is_body() || e.is_decode() {
        "body".into()
    } else if e.is_request() {
        "request".into()
    } else {
        "other".into()
    }
}

/// One client: its own user, token and posts.
struct Client {
    http: reqwest::Client,
    url: String,
    token: String,
    email: String,
    posts: Vec<i64>,
    n: u64,
    tag: String,
}

impl Client {
    async fn setup(http: reqwest::Client, url: &str, tag: String) -> Result<Client, String> {
        let email = format!("{tag}@load.example");
        let password = "load-password-1";
        for attempt in 0.. {
            let res = http
                .post(format!("{url}/auth/register"))
                .json(&json!({"username": tag, "email": email, "password": password}))
                .send()
                .await;
            match res {
                Ok(r) if r.status().is_success() || r.status().as_u16() == 409 => break,
                other if attempt >= 20 => {
                    return Err(format!("register: {:?}", other.map(|r| r.status())));
                }
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
        let mut token = String::new();
        for attempt in 0.. {
            let res = http
                .post(format!("{url}/auth/login"))
                .json(&json!({"email": email, "password": password}))
                .send()
                .await;
            if let Ok(r) = res
                && r.status().is_success()
                && let Ok(body) = r.json::<Value>().await
            {
                token = body["access_token"].as_str().unwrap_or_default().to_owned();
                break;
            }
            if attempt >= 20 {
                return Err("login failed".into());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(Client {
            http,
            url: url.to_owned(),
            token,
            email,
            posts: Vec::new(),
            n: 0,
            tag,
        })
    }

    async fn one(&mut self, mix: Mix, shared: &Shared) -> Result<u16, String> {
        self.n += 1;
        let roll: u32 = rand::rng().random_range(0..100);
        let (post_write, patch) = match mix {
            Mix::Writes => (true, false),
            Mix::Logins => return self.login().await,
            // No post of its own yet: write one (there is nothing to edit).
            Mix::Mixed => (
                (45..65).contains(&roll) || self.posts.is_empty(),
                roll >= 95 && !self.posts.is_empty(),
            ),
        };
        if patch {
            let id = self.posts[rand::rng().random_range(0..self.posts.len())];
            let res = self
                .http
                .patch(format!("{}/posts/{id}", self.url))
                .bearer_auth(&self.token)
                .json(&json!({"body": format!("edited {}", self.n)}))
                .send()
                .await
                .map_err(|e| error_kind(&e))?;
            let status = res.status().as_u16();
            res.bytes().await.map_err(|e| error_kind(&e))?;
            return Ok(status);
        }
        if post_write {
            let title = format!("{} post {}", self.tag, self.n);
            let res = self
                .http
                .post(format!("{}/posts", self.url))
                .bearer_auth(&self.token)
                .json(&json!({"title": title, "body": "written under load"}))
                .send()
                .await
                .map_err(|e| error_kind(&e))?;
            let status = res.status().as_u16();
            let body: Value = res.json().await.map_err(|e| error_kind(&e))?;
            if status == 201
                && let Some(id) = body["id"].as_i64()
            {
                if self.posts.len() < 1000 {
                    self.posts.push(id);
                }
                if let Some(file) = &shared.acked {
                    let mut file = file.lock().unwrap();
                    let _ = writeln!(file, "{id}\t{title}");
                    let _ = file.flush();
                }
            }
            return Ok(status);
        }
        let request = if roll < 45 {
            let id = self.posts[rand::rng().random_range(0..self.posts.len())];
            self.http.get(format!("{}/posts/{id}", self.url))
        } else if roll < 85 {
            let page = rand::rng().random_range(1..=5);
            self.http
                .get(format!("{}/posts?page={page}&limit=20", self.url))
        } else {
            self.http
                .get(format!("{}/auth/me", self.url))
                .bearer_auth(&self.token)
        };
        let res = request.send().await.map_err(|e| error_kind(&e))?;
        let status = res.status().as_u16();
        res.bytes().await.map_err(|e| error_kind(&e))?;
        Ok(status)
    }

    async fn login(&mut self) -> Result<u16, String> {
        let res = self
            .http
            .post(format!("{}/auth/login", self.url))
            .json(&json!({"email": self.email, "password": "load-password-1"}))
            .send()
            .await
            .map_err(|e| error_kind(&e))?;
        let status = res.status().as_u16();
        res.bytes().await.map_err(|e| error_kind(&e))?;
        Ok(status)
    }
}

async fn run_load(mix: Mix, args: LoadArgs) -> bool {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout))
        .pool_max_idle_per_host(args.concurrency)
        .build()
        .unwrap();
    let run_tag = format!("l{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let acked = args.acked.as_ref().map(|path| {
        Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("opening --acked"),
        )
    });
    let shared = Arc::new(Shared {
        window: Mutex::new(Window::default()),
        acked,
        stop: AtomicBool::new(false),
    });
    // Setup: every client's user, then one shared user for login storms.
    let mut clients = Vec::new();
    let setups = (0..args.concurrency).map(|i| {
        let http = http.clone();
        let url = args.url.clone();
        let tag = if mix == Mix::Logins {
            format!("{run_tag}s")
        } else {
            format!("{run_tag}c{i}")
        };
        async move { Client::setup(http, &url, tag).await }
    });
    if mix == Mix::Logins {
        // One registration, then copies.
        let first = Client::setup(http.clone(), &args.url, format!("{run_tag}s")).await;
        let Ok(first) = first else {
            eprintln!("setup failed");
            return false;
        };
        for _ in 0..args.concurrency {
            clients.push(Client {
                http: http.clone(),
                url: first.url.clone(),
                token: first.token.clone(),
                email: first.email.clone(),
                posts: Vec::new(),
                n: 0,
                tag: first.tag.clone(),
            });
        }
    } else {
        for client in futures::future::join_all(setups).await {
            match client {
                Ok(c) => clients.push(c),
                Err(e) => {
                    eprintln!("setup failed: {e}");
                    return false;
                }
            }
        }
    }
    println!(
        "load: {} clients, mix {}, {}, {} s",
        clients.len(),
        match mix {
            Mix::Mixed => "mixed",
            Mix::Writes => "writes",
            Mix::Logins => "logins",
        },
        if args.rate > 0.0 {
            format!("{} req/s", args.rate)
        } else {
            "closed loop".into()
        },
        args.duration
    );
    let _ = std::io::stdout().flush();

    let started = Instant::now();
    let deadline = (args.duration > 0).then(|| started + Duration::from_secs(args.duration));
    let per_client_interval =
        (args.rate > 0.0).then(|| Duration::from_secs_f64(args.concurrency as f64 / args.rate));
    let workers: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut client)| {
            let shared = shared.clone();
            let give_up = args.give_up;
            let concurrency = args.concurrency;
            tokio::spawn(async move {
                let mut next = per_client_interval
                    .map(|every| Instant::now() + every.mul_f64(i as f64 / concurrency as f64));
                let mut failures_in_a_row = 0;
                loop {
                    if shared.stop.load(Ordering::Relaxed) {
                        return;
                    }
                    if let (Some(at), Some(every)) = (next, per_client_interval) {
                        let now = Instant::now();
                        if at > now {
                            tokio::time::sleep(at - now).await;
                        }
                        // More than a second behind: do not try to catch up in a burst.
                        let behind = Instant::now().saturating_duration_since(at);
                        next = Some(if behind > Duration::from_secs(1) {
                            Instant::now() + every
                        } else {
                            at + every
                        });
                    }
                    if let Some(deadline) = deadline
                        && Instant::now() >= deadline
                    {
                        return;
                    }
                    let t = Instant::now();
                    let outcome = client.one(mix, &shared).await;
                    shared.record(t, &outcome);
                    if outcome.is_err() {
                        failures_in_a_row += 1;
                        if give_up > 0 && failures_in_a_row >= give_up {
                            return;
                        }
                    } else {
                        failures_in_a_row = 0;
                    }
                }
            })
        })
        .collect();

    let mut total = Window::default();
    let mut window_started = Instant::now();
    let all_done = futures::future::join_all(workers);
    tokio::pin!(all_done);
    let stop_signal = tokio::signal::ctrl_c();
    tokio::pin!(stop_signal);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    loop {
        let tick =
            tokio::time::sleep_until((window_started + Duration::from_secs(args.window)).into());
        let finished = tokio::select! {
            _ = &mut all_done => true,
            () = tick => false,
            _ = &mut stop_signal => { shared.stop.store(true, Ordering::SeqCst); false }
            _ = term.recv() => { shared.stop.store(true, Ordering::SeqCst); false }
        };
        let mut window = std::mem::take(&mut *shared.window.lock().unwrap());
        total.merge(&window);
        println!(
            "{}",
            window.line(
                &format!("t={:.0}s", started.elapsed().as_secs_f64()),
                window_started.elapsed().as_secs_f64()
            )
        );
        let _ = std::io::stdout().flush();
        window_started = Instant::now();
        if finished {
            break;
        }
        if shared.stop.load(Ordering::SeqCst) {
            (&mut all_done).await;
            let window = std::mem::take(&mut *shared.window.lock().unwrap());
            total.merge(&window);
            break;
        }
    }
    println!("{}", total.line("TOTAL", started.elapsed().as_secs_f64()));
    true
}

async fn verify(url: &str, acked: &std::path::Path) -> bool {
    let text = std::fs::read_to_string(acked).expect("reading --acked");
    let writes: Vec<(i64, String)> = text
        .lines()
        .filter_map(|line| {
            let (id, title) = line.split_once('\t')?;
            Some((id.parse().ok()?, title.to_owned()))
        })
        .collect();
    let http = reqwest::Client::new();
    let missing = Arc::new(Mutex::new(Vec::new()));
    for chunk in writes.chunks(64) {
        let checks = chunk.iter().map(|(id, title)| {
            let (http, missing) = (http.clone(), missing.clone());
            async move {
                let found = match http.get(format!("{url}/posts/{id}")).send().await {
                    Ok(res) if res.status().is_success() => res
                        .json::<Value>()
                        .await
                        .is_ok_and(|post| post["title"] == json!(title)),
                    _ => false,
                };
                if !found {
                    missing.lock().unwrap().push(*id);
                }
            }
        });
        futures::future::join_all(checks).await;
    }
    let missing = missing.lock().unwrap();
    println!(
        "VERIFY acknowledged={} missing={}{}",
        writes.len(),
        missing.len(),
        if missing.is_empty() {
            String::new()
        } else {
            format!(" ids={:?}", &missing[..missing.len().min(20)])
        }
    );
    missing.is_empty()
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let ok = match cli.command {
        Command::Mixed(args) => run_load(Mix::Mixed, args).await,
        Command::Writes(args) => run_load(Mix::Writes, args).await,
        Command::Logins(args) => run_load(Mix::Logins, args).await,
        Command::Verify { url, acked } => verify(&url, &acked).await,
    };
    if ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
