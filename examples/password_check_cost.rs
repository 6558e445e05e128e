//! What one password check costs at login, by the kind of hash stored: larch's Argon2id, an
//! unknown email (a dummy Argon2id check), and the werkzeug hashes a Flask app leaves
//! (`larch import-flask`) until their first login replaces them. Median and spread of
//! `PasswordHasher::verify` on one hashing thread, the machine otherwise idle.
//!
//! `cargo run --release --example password_check_cost -- [runs]`

use std::time::{Duration, Instant};

use larch::passwords::{Password, PasswordHasher};

// The same allocator as the server binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PASSWORD: &str = "benchmark-password";

// werkzeug 3.1.9's generate_password_hash("benchmark-password"), with its default method
// (scrypt), method="pbkdf2" (1,000,000 rounds) and werkzeug 2's default (600,000 rounds).
const SCRYPT: &str = "scrypt:32768:8:1$FHJLck3Y8oLbrtDf$7766fff5fba3296764cd5b6220b7c59709be2fc0083a64cb02183c0ef9de70528d0680a0fa6caf445519721a004c423d6901d07270d5ae1678393236848bd0c4";
const PBKDF2_1M: &str = "pbkdf2:sha256:1000000$jd3lZjCubjZbbsI9$053faf114beeb2cd50aee48ef6839621e52ad19358b2faa25ee61628d92a866e";
const PBKDF2_600K: &str = "pbkdf2:sha256:600000$LJKUkttfN3cqHWu5$f60d3e09862248faebaff8bef2025d3b3dea3a9539055d80fde404b4fa409750";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(21);
    let hasher = PasswordHasher::new(1);
    let argon2 = hasher
        .hash(&Password::parse(PASSWORD, 8).unwrap())
        .await
        .unwrap();
    let cases: [(&str, Option<&str>, bool); 6] = [
        ("Argon2id (larch)", Some(&argon2), true),
        ("unknown email (dummy Argon2id)", None, false),
        ("unsupported hash (dummy Argon2id)", Some("hunter22"), false),
        ("werkzeug scrypt:32768:8:1", Some(SCRYPT), true),
        ("werkzeug pbkdf2:sha256:1000000", Some(PBKDF2_1M), true),
        ("werkzeug pbkdf2:sha256:600000", Some(PBKDF2_600K), true),
    ];
    // The dummy hash is made at the first unknown email; not part of a check.
    hasher.verify(PASSWORD, None).await.unwrap();
    println!(
        "{:<36} {:>9} {:>9} {:>9}",
        "stored hash", "min ms", "median", "max"
    );
    for (name, stored, expected) in cases {
        let mut times: Vec<Duration> = Vec::with_capacity(runs);
        for _ in 0..runs {
            let started = Instant::now();
            let ok = hasher.verify(PASSWORD, stored).await.unwrap();
            times.push(started.elapsed());
            assert_eq!(ok, expected, "{name}");
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{name:<36} {:>9.1} {:>9.1} {:>9.1}",
            ms(times[0]),
            ms(times[times.len() / 2]),
            ms(times[times.len() - 1])
        );
    }
}
