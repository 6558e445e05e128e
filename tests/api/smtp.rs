//! A real SMTP server inside the test process (mailin-embedded): larch talks SMTP to it over
//! a socket, and the tests read what arrived.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailin_embedded::{Handler, Response, Server, SslConfig, response};

/// One message as the server received it.
#[derive(Clone, Debug, Default)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

#[derive(Clone, Default)]
struct Collector {
    messages: Arc<Mutex<Vec<Received>>>,
    current: Received,
}

impl Handler for Collector {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Received {
            from: from.to_owned(),
            to: to.to_vec(),
            data: Vec::new(),
        };
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let message = std::mem::take(&mut self.current);
        self.messages.lock().unwrap().push(message);
        response::OK
    }
}

/// A mailbox server on a port of its own.
pub struct Inbox {
    pub port: u16,
    messages: Arc<Mutex<Vec<Received>>>,
}

/// A free port with nothing listening on it yet: larch's sends fail (connection refused)
/// until `Inbox::start_on` opens it.
pub fn reserve_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn smtp_url(port: u16) -> String {
    format!("smtp://127.0.0.1:{port}")
}

impl Inbox {
    pub fn start() -> Inbox {
        Inbox::start_on(reserve_port())
    }

    /// Starts the server on `port` (a server cannot be stopped: its thread ends with the
    /// test process).
    pub fn start_on(port: u16) -> Inbox {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("SMTP port free");
        let collector = Collector::default();
        let messages = collector.messages.clone();
        let mut server = Server::new(collector);
        server
            .with_name("localhost")
            .with_ssl(SslConfig::None)
            .unwrap()
            // More than lettre's pool keeps open, so no session waits for a thread.
            .with_num_threads(16)
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            server.serve().ok();
        });
        Inbox { port, messages }
    }

    pub fn url(&self) -> String {
        smtp_url(self.port)
    }

    /// Messages to `address` so far.
    pub fn to(&self, address: &str) -> Vec<Received> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
            .cloned()
            .collect()
    }

    pub fn all(&self) -> Vec<Received> {
        self.messages.lock().unwrap().clone()
    }

    /// Waits until `address` has `count` messages (at most 20 s); returns them.
    pub async fn wait_for(&self, address: &str, count: usize) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let got = self.to(address);
            if got.len() >= count {
                return got;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{address} got {} email(s), expected {count}: {:?}",
                got.len(),
                got.iter().map(Received::subject).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Received {
    /// The header `name` (unfolded, RFC 2047 words left as they are).
    pub fn header(&self, name: &str) -> Option<String> {
        let text = String::from_utf8_lossy(&self.data);
        let head = text
            .split("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .replace("\r\n ", " ");
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }

    pub fn subject(&self) -> String {
        self.header("Subject").unwrap_or_default()
    }

    /// The body, decoded from its transfer encoding.
    pub fn body(&self) -> String {
        let text = String::from_utf8_lossy(&self.data).into_owned();
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let encoding = self
            .header("Content-Transfer-Encoding")
            .unwrap_or_default()
            .to_ascii_lowercase();
        match encoding.as_str() {
            "quoted-printable" => decode_quoted_printable(body),
            "base64" => {
                use base64::Engine;
                let compact: String = body.split_whitespace().collect();
                String::from_utf8(
                    base64::engine::general_purpose::STANDARD
                        .decode(compact)
                        .expect("base64 body"),
                )
                .expect("UTF-8 body")
            }
            _ => body.to_owned(),
        }
    }

    /// The first link in the body.
    pub fn link(&self) -> String {
        let body = self.body();
        let start = body
            .find("http")
            .unwrap_or_else(|| panic!("no link in {body}"));
        body[start..].split_whitespace().next().unwrap().to_owned()
    }

    /// The token in the link.
    pub fn token(&self) -> String {
        let link = self.link();
        let url = url::Url::parse(&link).unwrap();
        url.query_pairs()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no token in {link}"))
    }
}

fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 3 <= bytes.len()
            && let Ok(byte) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).expect("UTF-8 body")
}
