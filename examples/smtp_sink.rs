//! An SMTP server that accepts every message and counts them, for `bench/email.sh`: larch's
//! jobs hand their emails to it over a real SMTP conversation.
//!
//! `cargo run --release --example smtp_sink -- 127.0.0.1:2525 /tmp/count` writes the number
//! of messages received so far to the file, rewritten whenever it changes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mailin_embedded::{Handler, Response, Server, SslConfig, response};

#[derive(Clone)]
struct Counter {
    received: Arc<AtomicU64>,
}

impl Handler for Counter {
    fn data_end(&mut self) -> Response {
        self.received.fetch_add(1, Ordering::Relaxed);
        response::OK
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let address = args.next().unwrap_or_else(|| "127.0.0.1:2525".to_owned());
    let count_file = args.next().unwrap_or_else(|| "smtp_sink.count".to_owned());
    let received = Arc::new(AtomicU64::new(0));
    let counter = Counter {
        received: received.clone(),
    };
    std::thread::spawn(move || {
        let mut last = u64::MAX;
        loop {
            let now = received.load(Ordering::Relaxed);
            if now != last {
                std::fs::write(&count_file, format!("{now}\n")).ok();
                last = now;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    });
    let mut server = Server::new(counter);
    server
        .with_name("localhost")
        .with_ssl(SslConfig::None)
        .expect("no TLS")
        .with_num_threads(32)
        .with_addr(address.as_str())
        .expect("an address to listen on");
    if let Err(e) = server.serve() {
        eprintln!("smtp_sink: {e}");
        std::process::exit(1);
    }
}
