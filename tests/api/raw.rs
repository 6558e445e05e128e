//! HTTP/1.1 over a bare socket, for what an HTTP client library will not do: send a request
//! head slowly or never, keep a connection idle, send malformed requests, and watch when the
//! server closes the connection.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Raw {
    stream: TcpStream,
    buffer: Vec<u8>,
}

/// One answer read off the socket.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

impl Raw {
    /// Connects to `url` (`http://host:port` or `host:port`).
    pub async fn connect(url: &str) -> Raw {
        Raw::try_connect(url).await.expect("connect")
    }

    pub async fn try_connect(url: &str) -> std::io::Result<Raw> {
        let address = url.trim_start_matches("http://");
        Ok(Raw {
            stream: TcpStream::connect(address).await?,
            buffer: Vec::new(),
        })
    }

    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream.write_all(bytes.as_ref()).await.expect("send");
    }

    /// Sends without failing when the server has closed the connection; `false` then.
    pub async fn try_send(&mut self, bytes: impl AsRef<[u8]>) -> bool {
        self.stream.write_all(bytes.as_ref()).await.is_ok()
    }

    /// `GET path` with keep-alive.
    pub async fn get(&mut self, path: &str) -> RawResponse {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: larch.test\r\n\r\n"))
            .await;
        self.response().await
    }

    /// Reads one whole answer (head and `Content-Length` body); panics if the connection
    /// closes first or nothing comes within 30 s.
    pub async fn response(&mut self) -> RawResponse {
        tokio::time::timeout(Duration::from_secs(30), self.read_response())
            .await
            .expect("an answer within 30 s")
            .expect("an answer before the connection closed")
    }

    async fn read_response(&mut self) -> Option<RawResponse> {
        let head_end = loop {
            if let Some(at) = find(&self.buffer, b"\r\n\r\n") {
                break at;
            }
            if !self.fill().await {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buffer[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        while self.buffer.len() < head_end + 4 + length {
            if !self.fill().await {
                return None;
            }
        }
        let body = self.buffer[head_end + 4..head_end + 4 + length].to_vec();
        self.buffer.drain(..head_end + 4 + length);
        Some(RawResponse {
            status,
            headers,
            body,
        })
    }

    /// Reads more; `false` at end of stream (or reset).
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Waits for the server to close the connection, reading (and dropping) anything it
    /// sends; how long that took from `since`, or `None` if it is still open after `limit`.
    pub async fn closed_within(&mut self, since: Instant, limit: Duration) -> Option<Duration> {
        let closed =
            tokio::time::timeout_at((since + limit).into(), async { while self.fill().await {} })
                .await;
        closed.ok().map(|()| since.elapsed())
    }

    /// Whether the server has closed the connection, without waiting more than `wait`.
    pub async fn is_closed(&mut self, wait: Duration) -> bool {
        self.closed_within(Instant::now(), wait).await.is_some()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
