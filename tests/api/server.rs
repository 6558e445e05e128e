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
    pub async fn start(mut command: std::process::Command) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = command
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
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
        std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
