//! The real `larch` binary as a server process, for tests of the command line and of
//! several instances on one database.

/// A `larch serve` process of the real binary on a free port; killed when dropped.
pub struct Server {
    child: std::process::Child,
    pub url: String,
}

impl Server {
    /// Adds `serve` to `command` (its address, a free port, in `BIND`), starts it and waits until
    /// `/healthz` answers.
    pub async fn start(command: std::process::Command) -> Server {
        Server::start_with(command, &[]).await
    }

    /// As `start`, with more arguments after `serve` (`--no-workers`, say).
    pub async fn start_with(mut command: std::process::Command, more: &[&str]) -> Server {
        command.arg("serve").args(more);
        // A free port is found by binding port 0 and letting it go, so another test may
        // take it before this server binds it: the server then exits at once ("Address
        // already in use"), and it is started again on another port (given as `BIND`, so
        // that each try replaces the last one's).
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            command.env("BIND", format!("127.0.0.1:{port}"));
            let mut server = Server {
                child: command.spawn().unwrap(),
                url: format!("http://127.0.0.1:{port}"),
            };
            if server
                .answers_within(std::time::Duration::from_secs(30))
                .await
            {
                return server;
            }
            assert!(
                server.child.try_wait().unwrap().is_some(),
                "larch serve did not start"
            );
        }
        panic!("larch serve exited at start five times")
    }

    /// Whether `/healthz` answers before `limit`; `false` at once if the process exits.
    async fn answers_within(&mut self, limit: std::time::Duration) -> bool {
        let client = reqwest::Client::new();
        let started = std::time::Instant::now();
        loop {
            if client
                .get(format!("{}/healthz", self.url))
                .send()
                .await
                .is_ok()
            {
                return true;
            }
            if self.child.try_wait().unwrap().is_some() || started.elapsed() > limit {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
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
