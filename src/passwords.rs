//! Argon2id password hashing with the OWASP parameters (m = 19 MiB, t = 2, p = 1: the argon2
//! crate's defaults). Hashes run on a few dedicated threads, never on the async workers, and
//! those threads are the bound on how many run at once: each hash takes ~19 MiB, so a burst
//! of 64 logins queues instead of taking 1.2 GiB. Dedicated, long-lived threads matter for
//! memory too: on a general blocking pool every new thread gets its own malloc arena and
//! keeps its 19 MiB after the hash, which grew the process past 500 MiB under 64 logins.
//!
//! A verification runs on its thread's block memory, kept from one hash to the next while
//! logins keep coming and given back after `KEEP_MEMORY_FOR` without one: allocating,
//! zeroing and faulting in 19 MiB per hash cost 2–4% of the hash on idle cores, up to 10%
//! on busy ones (docs/benchmarks.md).
//!
//! Besides Argon2id, a stored hash may be one a Flask app wrote (werkzeug's scrypt or
//! PBKDF2, brought over by `larch import-flask`): it is checked on the same threads, and
//! replaced by Argon2id once its password is known (`needs_rehash`). A stored value larch
//! cannot check (an unknown or malformed format) is a failed check that costs an Argon2id
//! verification, never an error.

mod werkzeug;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use argon2::{Algorithm, Argon2, Block, Params, PasswordHasher as _, Version};
use tokio::sync::{OnceCell, oneshot};

use std::fmt;

use serde_json::Value;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use utoipa::{PartialSchema, ToSchema};

use crate::text::{NO_NUL_PATTERN, char_count};
use crate::validation::{FieldValue, ParseContext, json_string, text_schema};

/// The longest password taken: hashing is bounded work.
pub const PASSWORD_MAX_LENGTH: usize = 1024;

/// A new password that meets the length rules (`PASSWORD_MIN_LENGTH`, configurable, to
/// 1024 characters). Its `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str, min_length: usize) -> Result<Self, String> {
        let length = char_count(raw);
        if length < min_length {
            return Err(format!("must be at least {min_length} characters long"));
        }
        if length > PASSWORD_MAX_LENGTH {
            return Err(format!(
                "must be at most {PASSWORD_MAX_LENGTH} characters long"
            ));
        }
        Ok(Password(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl FieldValue for Password {
    fn from_json(value: &Value, cx: &ParseContext) -> Result<Self, String> {
        Password::parse(json_string(value)?, cx.password_min_length)
    }
}

/// The configured minimum is set in the served document (`router::document`); this is the
/// default.
impl PartialSchema for Password {
    fn schema() -> RefOr<Schema> {
        text_schema(
            format!(
                "At least `PASSWORD_MIN_LENGTH` (default 8) and at most {PASSWORD_MAX_LENGTH} characters"
            ),
            Some(8),
            Some(PASSWORD_MAX_LENGTH),
            Some(NO_NUL_PATTERN.into()),
        )
    }
}

impl ToSchema for Password {}

/// A stored password hash, as larch can use it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredHash {
    /// A PHC string of Argon2 (larch's own, or any Argon2 variant).
    Argon2(String),
    /// werkzeug's scrypt or PBKDF2, from a Flask app.
    Werkzeug(WerkzeugHash),
    /// Nothing larch can check (plain text, another scheme, a malformed hash), and why.
    Unsupported(String),
}

pub use werkzeug::WerkzeugHash;

impl StoredHash {
    pub fn classify(stored: &str) -> StoredHash {
        if stored.starts_with("$argon2") {
            return match argon2::PasswordHash::new(stored) {
                Ok(_) => StoredHash::Argon2(stored.to_owned()),
                Err(_) => StoredHash::Unsupported("a malformed Argon2 hash".into()),
            };
        }
        if WerkzeugHash::looks_like(stored) {
            return match WerkzeugHash::parse(stored) {
                Ok(hash) => StoredHash::Werkzeug(hash),
                Err(why) => StoredHash::Unsupported(why),
            };
        }
        StoredHash::Unsupported(
            "not a password hash larch can check (Argon2, or werkzeug's scrypt or pbkdf2)".into(),
        )
    }
}

/// Whether a hash whose password was just verified should be replaced by a fresh one: true
/// for everything but an Argon2id hash with larch's parameters (so werkzeug's hashes, and
/// Argon2 hashes of other variants or costs).
pub fn needs_rehash(stored: &str) -> bool {
    let current = format!(
        "$argon2id$v=19$m={},t={},p={}$",
        Params::DEFAULT_M_COST,
        Params::DEFAULT_T_COST,
        Params::DEFAULT_P_COST
    );
    !stored.starts_with(&current)
}

/// A hashing thread's Argon2 block memory (`Vec<Block>`), kept between verifications.
pub type BlockMemory = Vec<Block>;

/// How long a hashing thread keeps its block memory without a job of its own: through a
/// burst of logins, and not much longer (an idle server holds none).
const KEEP_MEMORY_FOR: Duration = Duration::from_secs(1);

type Job = Box<dyn FnOnce(&mut BlockMemory) + Send>;

#[derive(Clone)]
pub struct PasswordHasher {
    jobs: flume::Sender<Job>,
    /// Hash of a random password, verified against when the email is unknown, so a login
    /// for an unknown email costs the same as one with a wrong password.
    dummy_hash: Arc<OnceCell<String>>,
}

impl PasswordHasher {
    /// Starts `threads` hashing threads; they end when the last clone of the hasher is
    /// dropped.
    pub fn new(threads: usize) -> Self {
        let (jobs, queue) = flume::unbounded::<Job>();
        for n in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("larch-argon2-{n}"))
                .spawn(move || {
                    let mut memory = BlockMemory::new();
                    loop {
                        // Each thread waits on its own timer: one without a job for
                        // KEEP_MEMORY_FOR lets its memory go, whatever the others do.
                        match queue.recv_timeout(KEEP_MEMORY_FOR) {
                            Ok(job) => job(&mut memory),
                            Err(flume::RecvTimeoutError::Timeout) => memory = BlockMemory::new(),
                            Err(flume::RecvTimeoutError::Disconnected) => return,
                        }
                    }
                })
                .expect("spawning a password-hashing thread");
        }
        PasswordHasher {
            jobs,
            dummy_hash: Arc::new(OnceCell::new()),
        }
    }

    pub async fn hash(&self, password: &Password) -> anyhow::Result<String> {
        let password = password.expose().to_owned();
        self.run(move |memory| hash_blocking(&password, memory))
            .await?
    }

    /// Argon2id of a password that has just been verified against an older hash: no length
    /// rule applies (the Flask app that set it had none).
    pub async fn rehash(&self, password: &str) -> anyhow::Result<String> {
        let password = password.to_owned();
        self.run(move |memory| hash_blocking(&password, memory))
            .await?
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no
    /// stored hash (unknown user) or one larch cannot check, in which case the answer is
    /// always `false`.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> anyhow::Result<bool> {
        let check = match stored.map(StoredHash::classify) {
            Some(known @ (StoredHash::Argon2(_) | StoredHash::Werkzeug(_))) => known,
            Some(StoredHash::Unsupported(_)) | None => {
                let dummy = StoredHash::Argon2(self.dummy_hash().await?.clone());
                let password = password.to_owned();
                self.run(move |memory| password_matches(&dummy, &password, memory))
                    .await?;
                return Ok(false);
            }
        };
        let password = password.to_owned();
        self.run(move |memory| password_matches(&check, &password, memory))
            .await
    }

    async fn dummy_hash(&self) -> anyhow::Result<&String> {
        self.dummy_hash
            .get_or_try_init(|| async {
                let mut random = [0u8; 32];
                rand::fill(&mut random);
                let password = hex::encode(random);
                self.run(move |memory| hash_blocking(&password, memory))
                    .await?
            })
            .await
    }

    /// Runs `work` on a hashing thread. A job whose request has gone away (client gone,
    /// timeout) by the time a thread is free is skipped rather than hashed for nobody.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut BlockMemory) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |memory| {
            if !reply.is_closed() {
                let _ = reply.send(work(memory));
            }
        });
        self.jobs
            .send(job)
            .ok()
            .context("password hasher stopped")?;
        answer.await.context("password hashing failed")
    }
}

fn password_matches(stored: &StoredHash, password: &str, memory: &mut BlockMemory) -> bool {
    match stored {
        StoredHash::Argon2(hash) => argon2_matches(hash, password.as_bytes(), memory),
        StoredHash::Werkzeug(hash) => {
            // scrypt allocates its own memory (32 MiB at werkzeug's cost): not beside ours.
            *memory = BlockMemory::new();
            hash.verify(password)
        }
        StoredHash::Unsupported(_) => false,
    }
}

/// What the argon2 crate's `verify_password` does (the algorithm, version, parameters and
/// salt of the PHC string; the output compared in constant time), on `memory` instead of a
/// fresh allocation. `memory` is made the hash's block count (reallocated only when that
/// changes) and reused as it is: Argon2 writes every block before it reads it. A block
/// count that cannot be allocated is a failed check, as it was for the crate.
pub fn argon2_matches(stored: &str, password: &[u8], memory: &mut BlockMemory) -> bool {
    let Ok(hash) = argon2::PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(hash.algorithm.as_str()),
        Params::try_from(&hash),
    ) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let argon2 = Argon2::new(algorithm, version, params);
    let blocks = argon2.params().block_count();
    if memory.len() != blocks {
        *memory = BlockMemory::new();
        if memory.try_reserve_exact(blocks).is_err() {
            return false;
        }
        memory.resize(blocks, Block::default());
    }
    let mut output = vec![0u8; expected.len()];
    if argon2
        .hash_password_into_with_memory(password, salt.as_ref(), &mut output, &mut memory[..])
        .is_err()
    {
        return false;
    }
    // `Output`'s equality is constant-time.
    argon2::password_hash::phc::Output::new(&output).is_ok_and(|computed| computed == *expected)
}

/// A new hash allocates its own blocks: the kept ones are let go first, so that a thread
/// never holds two sets.
fn hash_blocking(password: &str, memory: &mut BlockMemory) -> anyhow::Result<String> {
    *memory = BlockMemory::new();
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_lengths() {
        assert!(Password::parse("1234567", 8).is_err());
        assert!(Password::parse("12345678", 8).is_ok());
        assert!(
            Password::parse("ééééééé", 8).is_err(),
            "length counts characters"
        );
        assert!(Password::parse(&"x".repeat(1024), 8).is_ok());
        assert!(Password::parse(&"x".repeat(1025), 8).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("hunter22", 8).unwrap()),
            "Password(<redacted>)"
        );
    }

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let hasher = PasswordHasher::new(2);
        let password = Password::parse("correct horse", 8).unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hasher.verify("correct horse", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("wrong horse", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("correct horse", None).await.unwrap());
        assert!(!hasher.verify("x", Some("not a hash")).await.unwrap());
        assert!(!hasher.verify("x", Some("$argon2id$broken")).await.unwrap());
        assert!(!needs_rehash(&hash));
        // An unknown user costs a real verification: the dummy is a hash like any other.
        let dummy = hasher.dummy_hash().await.unwrap();
        assert!(
            dummy.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{dummy}"
        );
        assert!(matches!(StoredHash::classify(dummy), StoredHash::Argon2(_)));
    }

    #[tokio::test]
    async fn other_argon2_variants_and_costs_verify_on_one_threads_memory() {
        // One thread: every verification below runs on the same kept block memory, which
        // grows for the larger cost and is reused as it is for the smaller ones.
        let hasher = PasswordHasher::new(1);
        let hash_with = |algorithm, m_cost, t_cost| {
            let params = Params::new(m_cost, t_cost, 1, None).unwrap();
            Argon2::new(algorithm, Version::V0x13, params)
                .hash_password(b"s3cret")
                .unwrap()
                .to_string()
        };
        let hashes = [
            hash_with(Algorithm::Argon2id, 32 * 1024, 1),
            hash_with(Algorithm::Argon2i, 8 * 1024, 3),
            hash_with(Algorithm::Argon2d, 1024, 2),
            Argon2::default()
                .hash_password(b"s3cret")
                .unwrap()
                .to_string(),
        ];
        for _ in 0..2 {
            for hash in &hashes {
                assert!(hasher.verify("s3cret", Some(hash)).await.unwrap(), "{hash}");
                assert!(
                    !hasher.verify("s3cret!", Some(hash)).await.unwrap(),
                    "{hash}"
                );
            }
        }
        // The version 0x10 form of the same parameters is a different hash.
        let v10 = hashes[3].replace("$v=19$", "$v=16$");
        assert!(!hasher.verify("s3cret", Some(&v10)).await.unwrap());
        // A tampered output never matches, whatever its length.
        let short = hashes[3].rsplit_once('$').unwrap().0.to_owned() + "$AAAAAAAAAAAAAAAAAAAAAA";
        assert!(!hasher.verify("s3cret", Some(&short)).await.unwrap());
    }

    #[tokio::test]
    async fn werkzeug_hashes_verify_and_need_replacing() {
        let hasher = PasswordHasher::new(1);
        // hashlib.pbkdf2_hmac("sha256", b"password", b"salt", 1000).hex()
        let stored = "pbkdf2:sha256:1000$salt$632c2812e46d4604102ba7618e9d6d7d2f8128f6266b4a03264d2a0460b7dcb3";
        assert!(matches!(
            StoredHash::classify(stored),
            StoredHash::Werkzeug(_)
        ));
        assert!(hasher.verify("password", Some(stored)).await.unwrap());
        assert!(!hasher.verify("wrong", Some(stored)).await.unwrap());
        assert!(needs_rehash(stored));
        let fresh = hasher.rehash("pw").await.unwrap();
        assert!(!needs_rehash(&fresh));
        assert!(hasher.verify("pw", Some(&fresh)).await.unwrap());
        // Plain text is never compared with the password.
        assert!(matches!(
            StoredHash::classify("password"),
            StoredHash::Unsupported(_)
        ));
        assert!(!hasher.verify("password", Some("password")).await.unwrap());
    }
}
