//! Raw Argon2id hash rate with larch's parameters, one thread per core: the ceiling that
//! `POST /auth/login` is compared with in `bench/run.sh`.
//!
//! `cargo run --release --example hash_rate -- [seconds]`

use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordHasher};

// The same allocator as the server binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let hash = Argon2::default()
        .hash_password(b"benchmark-password")
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let total: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let hash = hash.clone();
                scope.spawn(move || {
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        // A login verifies: the same work as hashing with the stored salt.
                        use argon2::PasswordVerifier;
                        Argon2::default()
                            .verify_password(b"benchmark-password", hash.as_str())
                            .unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    println!("{:.1}", total as f64 / started.elapsed().as_secs_f64());
}
