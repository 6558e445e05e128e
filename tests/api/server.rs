//! The real `larch` binary as a server process, for tests of the command line and of
//! several instances on one database.

/// A `larch serve` process of the real binary on a free port; killed when dropped.
pub struct Server {
    child: std::process::Child,
    pub url: String,
}

impl Server {
    /// Adds `serve --bind 127.0.0.1:<free port>` to `command`, starts it and waits until
    /// `/healthz` answers.
    pub async fn start(command: std::process::Command) -> Server {
        Server::start_with(command, &[]).await
    }

    /// As `start`, with more arguments after `serve --bind …` (`--no-workers`, say).
    pub async fn start_with(mut command: std::process::Command, more: &[&str]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = command
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .args(more)
            .spawn()
            .unwrap();
        let server = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let started = std::time::Instant::now();
        while client
            .get(format!("{}/healthz", server.url))
            .send()
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "larch serve did not start"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        server
    }

    /// Stops it with SIGTERM, as a supervisor would, and returns how it exited.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        self.child.wait().unwrap()
    }

    /// Sends a signal (`TERM`, `KILL`, …) without waiting.
    pub fn signal(&self, name: &str) {
        let sent = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{name}");
    }

    /// Waits up to `limit` for the process to exit; its status, or `None` if it is still
    /// running.
    pub async fn exited_within(
        &mut self,
        limit: std::time::Duration,
    ) -> Option<std::process::ExitStatus> {
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if started.elapsed() >= limit {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// What a child `larch` keeps of the test's environment after `env_clear()`: where a
/// coverage run (scripts/coverage.sh) wants its profile written, so that what runs only in
/// the child is counted too; nothing in an ordinary run.
pub fn kept_env() -> Vec<(&'static str, String)> {
    ["LLVM_PROFILE_FILE"]
        .into_iter()
        .filter_map(|name| std::env::var(name).ok().map(|value| (name, value)))
        .collect()
}
