//! Configuration from the environment and an optional `.env` file (a variable already set
//! in the environment wins over the file, as python-dotenv does). Variable names are part
//! of the public interface (docs/configuration.md).

pub use crate::db::redact_url;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
    Testing,
}

impl Environment {
    fn parse(value: &str) -> anyhow::Result<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" => Ok(Environment::Development),
            "production" | "prod" => Ok(Environment::Production),
            "testing" | "test" => Ok(Environment::Testing),
            other => bail!("LARCH_ENV must be development, production or testing, not {other:?}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

pub const DEFAULT_PASSWORD_MIN_LENGTH: usize = 8;

#[derive(Clone)]
pub struct Config {
    pub environment: Environment,
    pub database_url: String,
    pub bind: SocketAddr,
    pub jwt_secret: Vec<u8>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// A session not refreshed for this long ends (`SESSION_IDLE_TIMEOUT`).
    pub session_idle_timeout: Duration,
    /// A session ends this long after its login, however often refreshed
    /// (`SESSION_MAX_LIFETIME`).
    pub session_max_lifetime: Duration,
    /// How long a stored `Idempotency-Key` response is replayed (`IDEMPOTENCY_KEY_TTL_SECONDS`).
    pub idempotency_key_ttl: Duration,
    pub password_min_length: usize,
    /// Tokens the auth rate limit's bucket refills per minute (`RATE_LIMIT_AUTH_PER_MINUTE`).
    pub rate_limit_auth_per_minute: u32,
    /// The bucket's size: requests a client may make at once before the refill rate applies.
    pub rate_limit_auth_burst: u32,
    /// Peers whose `X-Forwarded-For` is believed (load balancers, reverse proxies).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub cors_origins: Vec<String>,
    pub log_format: LogFormat,
    /// Largest accepted request body, bytes.
    pub body_limit: usize,
    /// How long one request may take before it is answered with `503`.
    pub request_timeout: Duration,
    /// How many Argon2id hashes may run at once (each takes ~19 MiB).
    pub password_hash_concurrency: usize,
    /// Connections in the database pool.
    pub database_max_connections: u32,
    /// Connections held beside the pool for reads on PostgreSQL and MySQL
    /// (`held_reads`); 0: every read through the pool.
    pub database_read_connections: u32,
    /// Email: where it goes, from whom, and the links in it.
    pub mail: MailConfig,
    /// Background jobs: where the queue is, and how failed jobs are retried.
    pub jobs: JobsConfig,
    /// How long a client has to send a complete request head (from connecting, or from the
    /// first byte of a later request on a kept-alive connection).
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may wait, idle, for its next request.
    pub keep_alive_timeout: Duration,
    /// Open client connections at most; beyond it the longest-idle one is closed, or new
    /// connections wait.
    pub max_connections: usize,
    /// From SIGTERM to exit, at most.
    pub shutdown_grace: Duration,
    /// After SIGTERM, how long idle kept-alive connections are still served (each answer
    /// closing its connection) before they are closed.
    pub shutdown_drain: Duration,
}

impl std::fmt::Debug for Config {
    // Hand-written so the secret can never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("environment", &self.environment)
            .field("database_url", &redact_url(&self.database_url))
            .field("bind", &self.bind)
            .field("jwt_secret", &"<redacted>")
            .field("access_token_ttl", &self.access_token_ttl)
            .field("refresh_token_ttl", &self.refresh_token_ttl)
            .field("session_idle_timeout", &self.session_idle_timeout)
            .field("session_max_lifetime", &self.session_max_lifetime)
            .field("idempotency_key_ttl", &self.idempotency_key_ttl)
            .field("password_min_length", &self.password_min_length)
            .field(
                "rate_limit_auth_per_minute",
                &self.rate_limit_auth_per_minute,
            )
            .field("trusted_proxies", &self.trusted_proxies)
            .field("cors_origins", &self.cors_origins)
            .field("log_format", &self.log_format)
            .field("body_limit", &self.body_limit)
            .field("request_timeout", &self.request_timeout)
            .field("mail", &self.mail)
            .field("jobs", &self.jobs)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("keep_alive_timeout", &self.keep_alive_timeout)
            .field("max_connections", &self.max_connections)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("shutdown_drain", &self.shutdown_drain)
            .finish_non_exhaustive()
    }
}

/// Secrets that appear in tutorials and sample files; production refuses them.
const WELL_KNOWN_SECRETS: &[&str] = &[
    "change-me",
    "change-me-jwt",
    "changeme",
    "secret",
    "super-secret",
    "supersecret",
    "your-secret-key",
    "jwt-secret",
    "dev-secret",
    "test-secret",
    "please-change-me",
];

pub const MIN_SECRET_BYTES: usize = 32;
pub const DEFAULT_DATABASE_URL: &str = "sqlite://larch.db";

impl Config {
    /// Loads `.env` (if present) and then reads the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        // A missing .env is normal; a malformed one is worth stopping for.
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(e).context("reading .env"),
        }
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the configuration from any variable source; tests pass a map.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let environment = match get("LARCH_ENV") {
            Some(v) => Environment::parse(&v)?,
            None => Environment::Development,
        };

        let jwt_secret = match get("JWT_SECRET_KEY") {
            Some(secret) => {
                if environment == Environment::Production {
                    check_production_secret(&secret)?;
                }
                secret.into_bytes()
            }
            None if environment == Environment::Production => bail!(
                "JWT_SECRET_KEY is required in production: set it to a random value of at least \
                 {MIN_SECRET_BYTES} bytes (for example `openssl rand -base64 48`)"
            ),
            None => {
                // Development and testing: a fresh random key per start, so no guessable
                // default exists. Tokens do not survive a restart, which is fine there.
                let mut bytes = [0u8; 48];
                rand::fill(&mut bytes);
                bytes.to_vec()
            }
        };

        let database_max_connections = positive(
            parse_var(&get, "DATABASE_MAX_CONNECTIONS", 8u32)?,
            "DATABASE_MAX_CONNECTIONS",
        )?;
        let log_format = match get("LOG_FORMAT").as_deref().map(str::to_ascii_lowercase) {
            Some(f) if f == "json" => LogFormat::Json,
            Some(f) if f == "pretty" || f == "text" => LogFormat::Pretty,
            Some(f) => bail!("LOG_FORMAT must be pretty or json, not {f:?}"),
            None if environment == Environment::Production => LogFormat::Json,
            None => LogFormat::Pretty,
        };

        let parallelism = std::thread::available_parallelism().map_or(2, |n| n.get());

        let bind = parse_var(&get, "BIND", "127.0.0.1:8000".parse()?)?;
        let mail = MailConfig::from_lookup(&get, environment, bind)?;
        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        let jobs = JobsConfig::from_lookup(&get)?;
        if (mail.require_verification || mail.smtp_url.is_some())
            && environment == Environment::Production
            && jobs.url.is_none()
            && is_mysql(&database_url)
        {
            bail!(
                "on MySQL, sending email (SMTP_URL, REQUIRE_EMAIL_VERIFICATION) needs \
                 JOBS_URL=redis://…: emails are sent by background jobs, whose queue cannot \
                 live in MySQL"
            );
        }
        let rate_limit_auth_per_minute = parse_var(&get, "RATE_LIMIT_AUTH_PER_MINUTE", 10u32)?;
        if rate_limit_auth_per_minute > 60_000 {
            bail!("RATE_LIMIT_AUTH_PER_MINUTE must be at most 60000");
        }
        let rate_limit_auth_burst = positive(
            parse_var(
                &get,
                "RATE_LIMIT_AUTH_BURST",
                DEFAULT_AUTH_BURST.min(rate_limit_auth_per_minute.max(1)),
            )?,
            "RATE_LIMIT_AUTH_BURST",
        )?;
        let shutdown_grace = seconds(&get, "SHUTDOWN_GRACE_SECONDS", 30)?;
        let shutdown_drain = Duration::from_secs(parse_var(&get, "SHUTDOWN_DRAIN_SECONDS", 0u64)?);
        if shutdown_drain >= shutdown_grace {
            bail!("SHUTDOWN_DRAIN_SECONDS must be less than SHUTDOWN_GRACE_SECONDS");
        }

        Ok(Config {
            environment,
            database_url,
            bind,
            jwt_secret,
            access_token_ttl: lifetime(&get, "JWT_ACCESS_TOKEN_EXPIRES", 900)?,
            refresh_token_ttl: lifetime(&get, "JWT_REFRESH_TOKEN_EXPIRES", 2_592_000)?,
            session_idle_timeout: lifetime(&get, "SESSION_IDLE_TIMEOUT", 1_209_600)?,
            session_max_lifetime: lifetime(&get, "SESSION_MAX_LIFETIME", 7_776_000)?,
            idempotency_key_ttl: lifetime(&get, "IDEMPOTENCY_KEY_TTL_SECONDS", 86_400)?,
            password_min_length: {
                let n = parse_var(&get, "PASSWORD_MIN_LENGTH", DEFAULT_PASSWORD_MIN_LENGTH)?;
                if !(1..=crate::passwords::PASSWORD_MAX_LENGTH).contains(&n) {
                    bail!(
                        "PASSWORD_MIN_LENGTH must be between 1 and {}",
                        crate::passwords::PASSWORD_MAX_LENGTH
                    );
                }
                n
            },
            rate_limit_auth_per_minute,
            rate_limit_auth_burst,
            trusted_proxies: parse_proxies(get("TRUSTED_PROXIES").as_deref().unwrap_or_default())?,
            cors_origins: parse_origins(get("CORS_ORIGINS").as_deref().unwrap_or_default())?,
            log_format,
            body_limit: positive(
                parse_var(&get, "BODY_LIMIT_BYTES", 1_048_576usize)?,
                "BODY_LIMIT_BYTES",
            )?,
            request_timeout: seconds(&get, "REQUEST_TIMEOUT_SECONDS", 30)?,
            password_hash_concurrency: positive(
                parse_var(&get, "PASSWORD_HASH_CONCURRENCY", parallelism)?,
                "PASSWORD_HASH_CONCURRENCY",
            )?,
            database_max_connections,
            database_read_connections: parse_var(
                &get,
                "DATABASE_READ_CONNECTIONS",
                database_max_connections,
            )?,
            header_read_timeout: seconds(&get, "HEADER_READ_TIMEOUT_SECONDS", 10)?,
            keep_alive_timeout: seconds(&get, "KEEP_ALIVE_TIMEOUT_SECONDS", 30)?,
            max_connections: positive(
                parse_var(&get, "MAX_CONNECTIONS", 1024usize)?,
                "MAX_CONNECTIONS",
            )?,
            shutdown_grace,
            shutdown_drain,
            mail,
            jobs,
        })
    }
}

/// Email settings: `SMTP_URL`, `MAIL_FROM`, `PUBLIC_URL`, the link templates and the token
/// lifetimes, and whether logging in needs a verified address.
#[derive(Clone)]
pub struct MailConfig {
    /// `smtp://…` or `smtps://…`; `None`: emails are written to the log (development,
    /// testing) or refused with `503` (production).
    pub smtp_url: Option<String>,
    pub from: String,
    /// The address users reach larch at; links in emails start with it.
    pub public_url: String,
    /// With `{token}` where the token goes.
    pub password_reset_url: String,
    pub email_verify_url: String,
    pub password_reset_ttl: Duration,
    pub email_verify_ttl: Duration,
    pub require_verification: bool,
}

// By hand, so the SMTP password can never reach a log line.
impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailConfig")
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("from", &self.from)
            .field("public_url", &self.public_url)
            .field("password_reset_url", &self.password_reset_url)
            .field("email_verify_url", &self.email_verify_url)
            .field("password_reset_ttl", &self.password_reset_ttl)
            .field("email_verify_ttl", &self.email_verify_ttl)
            .field("require_verification", &self.require_verification)
            .finish()
    }
}

impl MailConfig {
    fn from_lookup(
        get: &impl Fn(&str) -> Option<String>,
        environment: Environment,
        bind: SocketAddr,
    ) -> anyhow::Result<Self> {
        let smtp_url = get("SMTP_URL").map(|url| url.trim().to_owned());
        if let Some(url) = &smtp_url {
            let scheme = url
                .split("://")
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            if !(url.contains("://") && matches!(scheme.as_str(), "smtp" | "smtps")) {
                bail!(
                    "SMTP_URL must start with smtp:// or smtps://, not {}",
                    redact_url(url)
                );
            }
        }
        let public_url = get("PUBLIC_URL")
            .unwrap_or_else(|| format!("http://{bind}"))
            .trim()
            .trim_end_matches('/')
            .to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            bail!("PUBLIC_URL must start with http:// or https://, not {public_url:?}");
        }
        let link = |name: &str, path: &str| -> anyhow::Result<String> {
            let template =
                get(name).unwrap_or_else(|| format!("{public_url}{path}?token={{token}}"));
            if !template.contains("{token}") {
                bail!("{name} must contain {{token}}, where the token goes");
            }
            Ok(template)
        };
        let require_verification = match get("REQUIRE_EMAIL_VERIFICATION") {
            None => false,
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                other => bail!("REQUIRE_EMAIL_VERIFICATION must be true or false, not {other:?}"),
            },
        };
        if require_verification && smtp_url.is_none() && environment == Environment::Production {
            bail!(
                "REQUIRE_EMAIL_VERIFICATION=true needs SMTP_URL in production: without email, \
                 nobody could verify an address, so nobody could log in"
            );
        }
        Ok(MailConfig {
            smtp_url,
            from: get("MAIL_FROM").unwrap_or_else(|| "larch <no-reply@localhost>".to_owned()),
            password_reset_url: link("PASSWORD_RESET_URL", "/reset-password")?,
            email_verify_url: link("EMAIL_VERIFY_URL", "/verify-email")?,
            public_url,
            password_reset_ttl: lifetime(get, "PASSWORD_RESET_TOKEN_EXPIRES", 1800)?,
            email_verify_ttl: lifetime(get, "EMAIL_VERIFY_TOKEN_EXPIRES", 86_400)?,
            require_verification,
        })
    }
}

fn is_mysql(database_url: &str) -> bool {
    database_url.starts_with("mysql:") || database_url.starts_with("mariadb:")
}

/// Background jobs (`JOBS_*`): the queue lives in larch's own database (SQLite or
/// PostgreSQL) unless `JOBS_URL` points at Redis, which MySQL deployments need. A failed
/// attempt is retried after a growing delay (`JOBS_RETRY_MIN_MS` doubling up to
/// `JOBS_RETRY_MAX_SECONDS`, with jitter) until `JOBS_MAX_ATTEMPTS`; then the job is kept
/// as failed. The defaults retry first within 30 s and for the last time within a day.
#[derive(Clone)]
pub struct JobsConfig {
    /// `redis://…`; `None`: the queue is in the database.
    pub url: Option<String>,
    /// The queue's name (jobs of one name are run only by workers of that name).
    pub queue: String,
    pub max_attempts: u32,
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// One attempt may take this long (an SMTP server that accepts and then stalls).
    pub attempt_timeout: Duration,
    /// Jobs one worker process runs at once.
    pub concurrency: usize,
    /// How often an idle worker looks for new jobs (SQLite and Redis; PostgreSQL is told).
    pub poll_interval: Duration,
    /// How often a worker says it is alive; a job whose worker missed two is run again
    /// elsewhere (after a crash).
    pub heartbeat: Duration,
    /// How often housekeeping (expired tokens, sessions, idempotency keys) runs.
    pub housekeeping_interval: Duration,
}

impl std::fmt::Debug for JobsConfig {
    // By hand: a Redis URL may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobsConfig")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("queue", &self.queue)
            .field("max_attempts", &self.max_attempts)
            .field("retry_min", &self.retry_min)
            .field("retry_max", &self.retry_max)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("concurrency", &self.concurrency)
            .field("poll_interval", &self.poll_interval)
            .field("heartbeat", &self.heartbeat)
            .field("housekeeping_interval", &self.housekeeping_interval)
            .finish()
    }
}

impl JobsConfig {
    fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let url = get("JOBS_URL")
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty());
        if let Some(url) = &url
            && !url.starts_with("redis://")
        {
            bail!("JOBS_URL must start with redis:// (unset, the queue is in DATABASE_URL)");
        }
        let queue = get("JOBS_QUEUE").unwrap_or_else(|| "larch::email".to_owned());
        if queue.is_empty() || queue.len() > 100 || !queue.bytes().all(|b| b.is_ascii_graphic()) {
            bail!("JOBS_QUEUE must be 1-100 printable ASCII characters");
        }
        let max_attempts = parse_var(get, "JOBS_MAX_ATTEMPTS", 12u32)?;
        if !(1..=100).contains(&max_attempts) {
            bail!("JOBS_MAX_ATTEMPTS must be between 1 and 100");
        }
        let retry_min = Duration::from_millis(parse_var(get, "JOBS_RETRY_MIN_MS", 10_000u64)?);
        let retry_max = seconds(get, "JOBS_RETRY_MAX_SECONDS", 14_400)?;
        if retry_min.is_zero() || retry_min > retry_max {
            bail!("JOBS_RETRY_MIN_MS must be at least 1 and at most JOBS_RETRY_MAX_SECONDS");
        }
        let poll_interval = Duration::from_millis(parse_var(get, "JOBS_POLL_INTERVAL_MS", 500u64)?);
        if !(10..=60_000).contains(&poll_interval.as_millis()) {
            bail!("JOBS_POLL_INTERVAL_MS must be between 10 and 60000");
        }
        Ok(JobsConfig {
            url,
            queue,
            max_attempts,
            retry_min,
            retry_max,
            attempt_timeout: seconds(get, "JOBS_ATTEMPT_TIMEOUT_SECONDS", 60)?,
            concurrency: positive(
                parse_var(get, "JOBS_CONCURRENCY", 4usize)?,
                "JOBS_CONCURRENCY",
            )?,
            poll_interval,
            heartbeat: seconds(get, "JOBS_HEARTBEAT_SECONDS", 30)?,
            housekeeping_interval: seconds(get, "HOUSEKEEPING_INTERVAL_SECONDS", 300)?,
        })
    }
}

impl Config {
    /// Listens on `bind` instead (`larch serve --bind`). Links in emails follow when they
    /// were derived from `BIND` (no `PUBLIC_URL` set).
    pub fn rebind(&mut self, bind: SocketAddr) {
        let derived = format!("http://{}", self.bind);
        if self.mail.public_url == derived {
            let public_url = format!("http://{bind}");
            for link in [
                &mut self.mail.password_reset_url,
                &mut self.mail.email_verify_url,
            ] {
                if let Some(rest) = link.strip_prefix(&derived) {
                    *link = format!("{public_url}{rest}");
                }
            }
            self.mail.public_url = public_url;
        }
        self.bind = bind;
    }
}

/// The auth rate limit's burst unless `RATE_LIMIT_AUTH_BURST` says otherwise (never more
/// than the refill per minute).
pub const DEFAULT_AUTH_BURST: u32 = 5;

/// A duration in whole seconds, 1 to one day.
fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: u64,
) -> anyhow::Result<Duration> {
    let value = parse_var(get, name, default)?;
    if !(1..=86_400).contains(&value) {
        bail!("{name} must be between 1 and 86400 seconds");
    }
    Ok(Duration::from_secs(value))
}

/// Token and idempotency-key lifetimes: 1 second to 10 years (beyond that, timestamps stop being meaningful).
fn lifetime(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: u64,
) -> anyhow::Result<Duration> {
    const TEN_YEARS: u64 = 10 * 366 * 24 * 3600;
    let seconds = parse_var(get, name, default)?;
    if !(1..=TEN_YEARS).contains(&seconds) {
        bail!("{name} must be between 1 and {TEN_YEARS} seconds");
    }
    Ok(Duration::from_secs(seconds))
}

/// `TRUSTED_PROXIES`: comma-separated addresses or networks (`10.0.0.0/8`, `127.0.0.1`).
fn parse_proxies(raw: &str) -> anyhow::Result<Vec<ipnet::IpNet>> {
    raw.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<ipnet::IpNet>()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    anyhow::anyhow!("TRUSTED_PROXIES entry {p:?} is not an IP address or network")
                })
        })
        .collect()
}

/// `CORS_ORIGINS`: comma-separated origins such as `https://app.example.com`, or `*` for
/// any origin (safe here: credentials travel in a header, never in cookies).
fn parse_origins(raw: &str) -> anyhow::Result<Vec<String>> {
    let origins: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(str::to_owned)
        .collect();
    for origin in &origins {
        let well_formed = origin == "*"
            || ((origin.starts_with("http://") || origin.starts_with("https://"))
                && !origin.ends_with('/')
                && origin.bytes().all(|b| b.is_ascii_graphic()));
        if !well_formed {
            bail!(
                "CORS_ORIGINS entry {origin:?} is not an origin like https://app.example.com (or *)"
            );
        }
    }
    if origins.len() > 1 && origins.iter().any(|o| o == "*") {
        bail!("CORS_ORIGINS: * cannot be combined with other origins");
    }
    Ok(origins)
}

fn check_production_secret(secret: &str) -> anyhow::Result<()> {
    let lowered = secret.trim().to_ascii_lowercase();
    if WELL_KNOWN_SECRETS.contains(&lowered.as_str()) {
        bail!(
            "JWT_SECRET_KEY is a well-known default; set a random value of at least {MIN_SECRET_BYTES} bytes"
        );
    }
    if secret.len() < MIN_SECRET_BYTES {
        bail!(
            "JWT_SECRET_KEY is {} bytes; production needs at least {MIN_SECRET_BYTES} \
             (for example `openssl rand -base64 48`)",
            secret.len()
        );
    }
    if secret.bytes().all(|b| b == secret.as_bytes()[0]) {
        bail!("JWT_SECRET_KEY repeats one character; set a random value");
    }
    Ok(())
}

fn parse_var<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: T,
) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match get(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("{name}={raw:?} is not valid: {e}")),
    }
}

fn positive<T: PartialOrd + Default>(value: T, name: &str) -> anyhow::Result<T> {
    if value > T::default() {
        Ok(value)
    } else {
        bail!("{name} must be greater than zero")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> anyhow::Result<Config> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn mail_defaults_and_links() {
        let c = config(&[("BIND", "0.0.0.0:9000")]).unwrap();
        assert_eq!(c.mail.smtp_url, None);
        assert_eq!(c.mail.from, "larch <no-reply@localhost>");
        assert_eq!(c.mail.public_url, "http://0.0.0.0:9000");
        assert_eq!(
            c.mail.password_reset_url,
            "http://0.0.0.0:9000/reset-password?token={token}"
        );
        assert_eq!(
            c.mail.email_verify_url,
            "http://0.0.0.0:9000/verify-email?token={token}"
        );
        assert_eq!(c.mail.password_reset_ttl.as_secs(), 1800);
        assert_eq!(c.mail.email_verify_ttl.as_secs(), 86_400);
        assert!(!c.mail.require_verification);
        let c = config(&[
            ("PUBLIC_URL", "https://api.example.com/"),
            ("EMAIL_VERIFY_URL", "https://app.example.com/verify#{token}"),
        ])
        .unwrap();
        assert_eq!(
            c.mail.password_reset_url,
            "https://api.example.com/reset-password?token={token}"
        );
        assert_eq!(
            c.mail.email_verify_url,
            "https://app.example.com/verify#{token}"
        );
    }

    #[test]
    fn mail_settings_are_checked() {
        assert!(config(&[("SMTP_URL", "http://mail.example.com")]).is_err());
        assert!(config(&[("SMTP_URL", "smtp://mail.example.com:587")]).is_ok());
        assert!(config(&[("SMTP_URL", "smtps://u:p@mail.example.com")]).is_ok());
        assert!(config(&[("PUBLIC_URL", "api.example.com")]).is_err());
        assert!(config(&[("PASSWORD_RESET_URL", "https://x.example/reset")]).is_err());
        assert!(config(&[("REQUIRE_EMAIL_VERIFICATION", "maybe")]).is_err());
        let production = [
            ("LARCH_ENV", "production"),
            ("JWT_SECRET_KEY", "k8s7d6f5g4h3j2k1l0z9x8c7v6b5n4m3q2w1e0r9"),
            ("REQUIRE_EMAIL_VERIFICATION", "true"),
        ];
        let refused = config(&production).unwrap_err().to_string();
        assert!(refused.contains("SMTP_URL"), "{refused}");
        let mut with_smtp = production.to_vec();
        with_smtp.push(("SMTP_URL", "smtp://mail.example.com"));
        assert!(config(&with_smtp).unwrap().mail.require_verification);
    }

    #[test]
    fn the_smtp_password_is_never_shown() {
        let c = config(&[("SMTP_URL", "smtp://user:hunter2@mail.example.com")]).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("mail.example.com"));
    }

    #[test]
    fn defaults_match_the_documentation() {
        let c = config(&[]).unwrap();
        assert_eq!(c.environment, Environment::Development);
        assert_eq!(c.database_url, "sqlite://larch.db");
        assert_eq!(c.bind.to_string(), "127.0.0.1:8000");
        assert_eq!(c.access_token_ttl.as_secs(), 900);
        assert_eq!(c.refresh_token_ttl.as_secs(), 2_592_000);
        assert_eq!(c.session_idle_timeout.as_secs(), 1_209_600);
        assert_eq!(c.session_max_lifetime.as_secs(), 7_776_000);
        assert_eq!(c.password_min_length, 8);
        assert_eq!(c.rate_limit_auth_per_minute, 10);
        assert_eq!(c.rate_limit_auth_burst, 5);
        assert_eq!(c.header_read_timeout.as_secs(), 10);
        assert_eq!(c.keep_alive_timeout.as_secs(), 30);
        assert_eq!(c.max_connections, 1024);
        assert_eq!(c.shutdown_grace.as_secs(), 30);
        assert_eq!(c.shutdown_drain.as_secs(), 0);
        assert!(c.cors_origins.is_empty());
        assert_eq!(c.log_format, LogFormat::Pretty);
        assert_eq!(c.body_limit, 1_048_576);
        assert!(c.jwt_secret.len() >= MIN_SECRET_BYTES);
    }

    #[test]
    fn development_secrets_are_random_per_start() {
        assert_ne!(
            config(&[]).unwrap().jwt_secret,
            config(&[]).unwrap().jwt_secret
        );
    }

    #[test]
    fn production_requires_a_strong_secret() {
        let missing = config(&[("LARCH_ENV", "production")])
            .err()
            .unwrap()
            .to_string();
        assert!(missing.contains("JWT_SECRET_KEY is required"), "{missing}");
        let short = config(&[("LARCH_ENV", "production"), ("JWT_SECRET_KEY", "short")])
            .err()
            .unwrap()
            .to_string();
        assert!(short.contains("at least 32"), "{short}");
        let default = config(&[
            ("LARCH_ENV", "production"),
            ("JWT_SECRET_KEY", "change-me-jwt"),
        ])
        .err()
        .unwrap()
        .to_string();
        assert!(default.contains("well-known"), "{default}");
        let ok = config(&[
            ("LARCH_ENV", "production"),
            (
                "JWT_SECRET_KEY",
                "kX9v2mQ7rT4wZ8pL1nB6cF3hJ5dS0gA2eY7uI9oP4",
            ),
        ])
        .unwrap();
        assert_eq!(ok.log_format, LogFormat::Json);
    }

    #[test]
    fn origins_and_lifetimes_are_checked() {
        assert_eq!(
            config(&[("CORS_ORIGINS", "https://a.example, http://localhost:3000")])
                .unwrap()
                .cors_origins
                .len(),
            2
        );
        assert_eq!(
            config(&[("CORS_ORIGINS", "*")]).unwrap().cors_origins,
            ["*"]
        );
        for bad in [
            "a.example",
            "https://a.example/",
            "*, https://a.example",
            "ftp://x",
        ] {
            assert!(config(&[("CORS_ORIGINS", bad)]).is_err(), "{bad}");
        }
        assert!(config(&[("JWT_ACCESS_TOKEN_EXPIRES", "99999999999999")]).is_err());
        assert_eq!(
            config(&[("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1,::1")])
                .unwrap()
                .trusted_proxies
                .len(),
            3
        );
        assert!(config(&[("TRUSTED_PROXIES", "10.0.0.0/33")]).is_err());
        assert!(config(&[("TRUSTED_PROXIES", "proxy.local")]).is_err());
        assert!(config(&[("JWT_REFRESH_TOKEN_EXPIRES", "0")]).is_err());
    }

    #[test]
    fn connection_and_shutdown_settings_are_checked() {
        assert_eq!(
            config(&[("RATE_LIMIT_AUTH_PER_MINUTE", "3")])
                .unwrap()
                .rate_limit_auth_burst,
            3,
            "the burst is never more than a minute's refill unless set"
        );
        assert_eq!(
            config(&[("RATE_LIMIT_AUTH_BURST", "20")])
                .unwrap()
                .rate_limit_auth_burst,
            20
        );
        for bad in [
            ("RATE_LIMIT_AUTH_BURST", "0"),
            ("HEADER_READ_TIMEOUT_SECONDS", "0"),
            ("KEEP_ALIVE_TIMEOUT_SECONDS", "100000"),
            ("MAX_CONNECTIONS", "0"),
            ("SHUTDOWN_GRACE_SECONDS", "0"),
            ("SHUTDOWN_DRAIN_SECONDS", "30"),
        ] {
            assert!(config(&[bad]).is_err(), "{bad:?}");
        }
        let c = config(&[
            ("SHUTDOWN_GRACE_SECONDS", "10"),
            ("SHUTDOWN_DRAIN_SECONDS", "3"),
        ])
        .unwrap();
        assert_eq!(
            (c.shutdown_grace.as_secs(), c.shutdown_drain.as_secs()),
            (10, 3)
        );
    }

    #[test]
    fn bad_values_are_refused_with_their_name() {
        let err = config(&[("JWT_ACCESS_TOKEN_EXPIRES", "soon")])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("JWT_ACCESS_TOKEN_EXPIRES"), "{err}");
        let err = config(&[("LARCH_ENV", "staging")])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("LARCH_ENV"), "{err}");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let c = config(&[
            ("JWT_SECRET_KEY", "a-very-secret-value-that-must-not-leak"),
            ("DATABASE_URL", "postgres://app:hunter2@db/larch"),
        ])
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("a-very-secret"));
        assert!(!shown.contains("hunter2"));
        assert_eq!(
            redact_url("postgres://db/larch?user=a&password=hunter2&sslmode=require"),
            "postgres://db/larch?user=a&password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("mysql://root:pw@127.0.0.1:3306/test"),
            "mysql://root:***@127.0.0.1:3306/test"
        );
    }
}
