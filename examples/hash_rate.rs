//! Raw Argon2id verification rate with larch's parameters, one thread per core: the ceiling
//! that `POST /auth/login` is compared with in `bench/run.sh`.
//!
//! `cargo run --release --example hash_rate -- [seconds] [kept]`
//!
//! By default each verification is the argon2 crate's `verify_password`, which allocates
//! and zeroes its 19 MiB of blocks every time. With `kept`, each thread verifies on block
//! memory it keeps, as larch's hashing threads do during a burst of logins
//! (`larch::passwords::argon2_matches`): the ceiling of larch's own way.

use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

// The same allocator as the server binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let kept = args.next().as_deref() == Some("kept");
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let password = b"benchmark-password";
    let hash = Argon2::default()
        .hash_password(password)
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let total: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let hash = hash.clone();
                scope.spawn(move || {
                    let mut memory = larch::passwords::BlockMemory::new();
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        // A login verifies: the same work as hashing with the stored salt.
                        let matched = if kept {
                            larch::passwords::argon2_matches(&hash, password, &mut memory)
                        } else {
                            Argon2::default()
                                .verify_password(password, hash.as_str())
                                .is_ok()
                        };
                        assert!(matched);
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
