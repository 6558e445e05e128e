//! Password hashes written by werkzeug's `generate_password_hash`, as a Flask app stores
//! them: `method$salt$hex`, where `method` is `scrypt:N:r:p` (werkzeug 3's default) or
//! `pbkdf2:sha256:iterations` (the default before it). larch reads them only to let a user
//! whose account came from a Flask app (`larch import-flask`) log in with the password they
//! had; the first successful login replaces the hash with Argon2id.
//!
//! The check is werkzeug's own `check_password_hash`: derive the key from the password and
//! the salt (the salt's text, as bytes) and compare its lower-case hex with the stored hex,
//! in constant time. Parameters are bounded (see `MAX_SCRYPT_NR`, `MAX_PBKDF2_ROUNDS`): a
//! stored hash that asks for more is refused as unsupported rather than allowed to take
//! gigabytes or minutes of a hashing thread.

use pbkdf2::{Algorithm, Params as Pbkdf2Params};
use scrypt::Params as ScryptParams;

/// The largest `N × r` accepted: scrypt takes `128 × N × r` bytes, so 128 MiB. werkzeug's
/// default (`N = 32768`, `r = 8`) is 2^18, a quarter of this.
const MAX_SCRYPT_NR: u64 = 1 << 20;
/// The largest `N × r × p` accepted (the work): sixteen times werkzeug's default.
const MAX_SCRYPT_NRP: u64 = 1 << 22;
/// The most PBKDF2 iterations accepted: ten times werkzeug 3.1's default of 1,000,000.
const MAX_PBKDF2_ROUNDS: u32 = 10_000_000;
/// The fewest: the pbkdf2 crate's floor (werkzeug has never defaulted to fewer than 50,000).
const MIN_PBKDF2_ROUNDS: u32 = Pbkdf2Params::MIN_ROUNDS;
/// werkzeug's scrypt output: `hashlib.scrypt`'s default length.
const SCRYPT_OUTPUT_LEN: usize = 64;

/// A werkzeug hash larch can check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WerkzeugHash {
    kdf: Kdf,
    salt: String,
    /// The stored derived key, as werkzeug wrote it (lower-case hex).
    hex: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kdf {
    Scrypt { log_n: u8, r: u32, p: u32 },
    Pbkdf2 { digest: Digest, rounds: u32 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Digest {
    Sha256,
    Sha512,
}

impl WerkzeugHash {
    /// Whether `stored` looks like werkzeug's format at all (`method$salt$hash` with a
    /// method werkzeug has used), whether or not larch can check it.
    pub fn looks_like(stored: &str) -> bool {
        let method = stored.split('$').next().unwrap_or_default();
        stored.matches('$').count() == 2
            && !method.is_empty()
            && method
                .split(':')
                .next()
                .is_some_and(|name| name.chars().all(|c| c.is_ascii_alphanumeric()))
    }

    /// Parses a werkzeug hash, or says why larch cannot check it.
    pub fn parse(stored: &str) -> Result<Self, String> {
        let mut parts = stored.splitn(3, '$');
        let (Some(method), Some(salt), Some(hex)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err("not in werkzeug's method$salt$hash form".into());
        };
        let mut args = method.split(':');
        let name = args.next().unwrap_or_default();
        let args: Vec<&str> = args.collect();
        let (kdf, output_len) = match name {
            "scrypt" => (parse_scrypt(&args)?, SCRYPT_OUTPUT_LEN),
            "pbkdf2" => parse_pbkdf2(&args)?,
            "" => return Err("not in werkzeug's method$salt$hash form".into()),
            other => {
                return Err(format!(
                    "werkzeug method {other:?} is not supported (only scrypt and pbkdf2)"
                ));
            }
        };
        if hex.len() != 2 * output_len
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(format!(
                "the derived key is not {} lower-case hex digits, so no password can match it",
                2 * output_len
            ));
        }
        Ok(WerkzeugHash {
            kdf,
            salt: salt.to_owned(),
            hex: hex.to_owned(),
        })
    }

    /// Whether `password` is the one this hash was made from (werkzeug's
    /// `check_password_hash`). Takes as long as the hash's parameters say (bounded).
    pub fn verify(&self, password: &str) -> bool {
        let mut derived = vec![0u8; self.hex.len() / 2];
        let password = password.as_bytes();
        let salt = self.salt.as_bytes();
        match self.kdf {
            Kdf::Scrypt { log_n, r, p } => {
                let Ok(params) = ScryptParams::new(log_n, r, p) else {
                    return false;
                };
                if scrypt::scrypt(password, salt, &params, &mut derived).is_err() {
                    return false;
                }
            }
            Kdf::Pbkdf2 { digest, rounds } => {
                // Monomorphised inside the pbkdf2 crate, so optimised even in a debug build.
                let Ok(params) = Pbkdf2Params::new_with_output_len(rounds, derived.len()) else {
                    return false;
                };
                let algorithm = match digest {
                    Digest::Sha256 => Algorithm::Pbkdf2Sha256,
                    Digest::Sha512 => Algorithm::Pbkdf2Sha512,
                };
                pbkdf2::pbkdf2_hmac_with_params(password, salt, algorithm, params, &mut derived);
            }
        }
        constant_time_eq(hex::encode(derived).as_bytes(), self.hex.as_bytes())
    }
}

/// `scrypt:N:r:p`, or plain `scrypt` with werkzeug's defaults.
fn parse_scrypt(args: &[&str]) -> Result<Kdf, String> {
    let (n, r, p) = match args {
        [] => (1u64 << 15, 8u32, 1u32),
        [n, r, p] => {
            let bad = || format!("scrypt parameters {n}:{r}:{p} are not whole numbers");
            (
                n.parse::<u64>().map_err(|_| bad())?,
                r.parse::<u32>().map_err(|_| bad())?,
                p.parse::<u32>().map_err(|_| bad())?,
            )
        }
        _ => return Err("scrypt takes three parameters (N:r:p)".into()),
    };
    if n < 2 || !n.is_power_of_two() || r == 0 || p == 0 {
        return Err(format!(
            "scrypt parameters N={n} r={r} p={p} are invalid (N a power of two above 1)"
        ));
    }
    let nr = n.saturating_mul(u64::from(r));
    if nr > MAX_SCRYPT_NR || nr.saturating_mul(u64::from(p)) > MAX_SCRYPT_NRP {
        return Err(format!(
            "scrypt parameters N={n} r={r} p={p} exceed larch's bound (N·r at most {MAX_SCRYPT_NR}, N·r·p at most {MAX_SCRYPT_NRP})"
        ));
    }
    Ok(Kdf::Scrypt {
        log_n: n.trailing_zeros() as u8,
        r,
        p,
    })
}

/// `pbkdf2:HASH:ITERATIONS`. The iteration count is required: werkzeug has always written
/// it, and its default has changed between versions.
fn parse_pbkdf2(args: &[&str]) -> Result<(Kdf, usize), String> {
    let [hash_name, rounds] = args else {
        return Err("pbkdf2 hashes must name their digest and iteration count".into());
    };
    let (digest, output_len) = match *hash_name {
        "sha256" => (Digest::Sha256, 32),
        "sha512" => (Digest::Sha512, 64),
        other => {
            return Err(format!(
                "pbkdf2 with {other:?} is not supported (only sha256 and sha512)"
            ));
        }
    };
    let rounds: u32 = rounds
        .parse()
        .map_err(|_| format!("pbkdf2 iteration count {rounds:?} is not a whole number"))?;
    if !(MIN_PBKDF2_ROUNDS..=MAX_PBKDF2_ROUNDS).contains(&rounds) {
        return Err(format!(
            "pbkdf2 iteration count {rounds} is outside {MIN_PBKDF2_ROUNDS} to {MAX_PBKDF2_ROUNDS}"
        ));
    }
    Ok((Kdf::Pbkdf2 { digest, rounds }, output_len))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    // Written by werkzeug 3.1.9: generate_password_hash("correct horse") and
    // generate_password_hash("correct horse", method="pbkdf2:sha512:2000").
    const SCRYPT: &str = "scrypt:32768:8:1$rsFCA7q0hbuDN1tD$8a8cae83263b30ad932ee8545673691e1603dbd40b5cbdcce4cfbc96a316a782a5a65ed7e4a05e6985d851904f3337c13e5af86244a4814be2e66ca5fad8e551";
    const PBKDF2_SHA512: &str = "pbkdf2:sha512:2000$xM5v0Fc2XnQgTXOw$6b7489032236a084cbbfc7d442d34eadedc146f1476470a574b76d609774e34c14b9803ea122aada515da012acce03d4ca60ff76125bc0af1c254ed752210654";

    #[test]
    fn checks_werkzeugs_own_hashes() {
        for stored in [SCRYPT, PBKDF2_SHA512] {
            let hash = WerkzeugHash::parse(stored).unwrap();
            assert!(hash.verify("correct horse"), "{stored}");
            assert!(!hash.verify("correct horse "), "{stored}");
        }
    }

    #[test]
    fn parses_werkzeugs_forms() {
        assert!(WerkzeugHash::parse(SCRYPT).is_ok());
        let pbkdf2 = format!("pbkdf2:sha256:600000$salt${}", "0".repeat(64));
        assert!(WerkzeugHash::parse(&pbkdf2).is_ok());
        let sha512 = format!("pbkdf2:sha512:1000$salt${}", "0".repeat(128));
        assert!(WerkzeugHash::parse(&sha512).is_ok());
        let default_scrypt = format!("scrypt$salt${}", "0".repeat(128));
        assert!(WerkzeugHash::parse(&default_scrypt).is_ok());
    }

    #[test]
    fn recognises_the_form_before_the_method() {
        // `method$salt$hash` with a method name of letters and digits, whatever the method.
        for form in [
            "pbkdf2:sha256:1000$salt$00ff",
            "scrypt:32768:8:1$salt$00ff",
            "md5$salt$00ff",
        ] {
            assert!(WerkzeugHash::looks_like(form), "{form}");
        }
        for other in [
            "password",
            "md5$salt",
            "md5$salt$00ff$more",
            "$salt$00ff",
            "pbk-df2$salt$00ff",
        ] {
            assert!(!WerkzeugHash::looks_like(other), "{other}");
        }
    }

    #[test]
    fn refuses_what_it_cannot_check() {
        for bad in [
            "hunter22".to_owned(),
            "sha256$salt$abc".to_owned(),
            "plain$$hunter22".to_owned(),
            format!("pbkdf2:sha1:1000$salt${}", "0".repeat(40)),
            format!("pbkdf2:sha256$salt${}", "0".repeat(64)),
            format!("pbkdf2:sha256:999$salt${}", "0".repeat(64)),
            format!("pbkdf2:sha256:99999999$salt${}", "0".repeat(64)),
            format!("pbkdf2:sha256:1000$salt${}", "0".repeat(63)),
            format!("pbkdf2:sha256:1000$salt${}", "A".repeat(64)),
            format!("scrypt:1000:8:1$salt${}", "0".repeat(128)),
            format!("scrypt:1073741824:8:1$salt${}", "0".repeat(128)),
            format!("scrypt:32768:8:1000$salt${}", "0".repeat(128)),
            format!("scrypt:32768:8$salt${}", "0".repeat(128)),
            format!("scrypt:a:b:c$salt${}", "0".repeat(128)),
        ] {
            assert!(WerkzeugHash::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn equal_means_every_byte_equal() {
        assert!(constant_time_eq(b"00ff", b"00ff"));
        // Two differences that would cancel out if they were combined with XOR.
        assert!(!constant_time_eq(b"aa", b"``"));
        assert!(!constant_time_eq(b"00ff", b"00f"));
    }

    #[test]
    fn scrypt_parameters_at_their_bounds() {
        let scrypt = |params: &str| {
            WerkzeugHash::parse(&format!("scrypt:{params}$salt${}", "0".repeat(128)))
        };
        // The smallest N, and N·r and N·r·p exactly at larch's bounds, are taken.
        for taken in ["2:8:1", "131072:8:1", "131072:8:4"] {
            assert!(scrypt(taken).is_ok(), "{taken}");
        }
        // N of 1, a zero r or p, and one step past either bound are not.
        for refused in [
            "1:8:1",
            "32768:0:1",
            "32768:8:0",
            "262144:8:1",
            "131072:8:5",
        ] {
            assert!(scrypt(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn verifies_pbkdf2_as_werkzeug_does() {
        // hashlib.pbkdf2_hmac("sha256", b"password", b"salt", 1000).hex()
        let stored = "pbkdf2:sha256:1000$salt$632c2812e46d4604102ba7618e9d6d7d2f8128f6266b4a03264d2a0460b7dcb3";
        let hash = WerkzeugHash::parse(stored).unwrap();
        assert!(hash.verify("password"));
        assert!(!hash.verify("Password"));
        assert!(!hash.verify(""));
    }

    #[test]
    fn verifies_scrypt_as_werkzeug_does() {
        assert!(
            WerkzeugHash::parse("scrypt:16:1:1$NaCl$f3e4a3a7").is_err(),
            "too short a key"
        );
        let stored = format!("scrypt:1024:8:16$NaCl${RFC_7914_VECTOR_2}");
        let hash = WerkzeugHash::parse(&stored).unwrap();
        assert!(hash.verify("password"));
        assert!(!hash.verify("passwore"));
    }

    /// RFC 7914, section 12: scrypt("password", "NaCl", N=1024, r=8, p=16, dkLen=64).
    const RFC_7914_VECTOR_2: &str = "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640";
}
