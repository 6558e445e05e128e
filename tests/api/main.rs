//! Integration tests: a real larch on a real socket with a fresh database per test.
//!
//! The whole suite runs once per backend: SQLite always; PostgreSQL when
//! `LARCH_TEST_POSTGRES_URL` is set and MySQL/MariaDB when `LARCH_TEST_MYSQL_URL` is set
//! (each test creates its own database there and drops it afterwards). A backend whose
//! variable is unset is reported as skipped, and its tests as ignored. Tests are named
//! `backend::file::test`, e.g. `postgres::posts::a_users_posts`.
//!
//! Where a route's tests are: each file holds the routes under one path.
//!
//! - `auth.rs`: `/auth/*`: registration (and its field rules), login, refresh-token
//!   rotation and reuse, logout, logout-all, password change, token forgery and expiry.
//! - `users.rs`: `/users`, `/users/profile`, `/users/{id}`: listing, paging, search,
//!   who sees emails, updates, roles, the last admin, deletion.
//! - `sessions.rs`: `/auth/sessions`, `/auth/sessions/{id}`, `/users/{id}/sessions`, and
//!   every way a session ends.
//! - `posts.rs`: `/posts`, `/posts/{id}`, `/users/{id}/posts`, `/users/{id}/posts/{post_id}`.
//! - `products.rs`: `/products`, `/products/{id}`, and exact money.
//! - `operations.rs`: `/healthz`, `/readyz`, `/metrics`, `/openapi.json` (and
//!   `larch openapi`), `/docs`.
//!
//! Behaviour that holds across routes:
//!
//! - `conventions.rs`: what every response and request has in common: JSON and security
//!   headers, request ids, trailing slashes, ids in paths, unknown routes and methods,
//!   content types, the body limit, the request timeout, timestamps, CORS.
//! - `errors.rs`: the one error shape; malformed bodies are a `4xx`, never a `500`, and
//!   change nothing; server errors reveal no internals; ambiguous bodies are refused.
//! - `concurrency.rs`: `ETag` / `If-None-Match` / `If-Match` on users, posts and products,
//!   and `Idempotency-Key` on creations.
//! - `rate_limits.rs`: the per-client limit on the auth endpoints.
//! - `connections.rs`: slow and idle clients are disconnected, the connection cap, and
//!   the JSON of the answers hyper makes itself.
//! - `instances.rs`: several larch processes on one database, and a database that goes
//!   away and comes back.
//! - `lifecycle.rs`: SIGTERM (drain, deadline), `kill -9` under write load, and
//!   `larch backup` under write load, restored.
//! - `cli.rs`: the binary's commands (`migrate`, `create-admin`, `seed`, `serve`) and its
//!   configuration (`.env`, production checks, JSON logs).
//! - `import_flask.rs`: `larch import-flask`, from Flask databases written by the tutorial
//!   app's own models (`bench/flask/make_fixture.py`), on every pair of backends that matters.
//! - `migrations.rs`: upgrading a database whose rows were written under earlier rules
//!   (canonical emails, case-folded search keys).
//! - `email_tokens.rs`: the rules of the single-use tokens sent in emails.
//! - `password_reset.rs`: `/auth/password-reset`, `/auth/password-reset/confirm`,
//!   `/users/{id}/password-reset`, through a real SMTP server (`smtp.rs`).
//! - `verify_email.rs`: `/auth/verify-email`, `/auth/verify-email/resend`, what registration
//!   and an address change send, `REQUIRE_EMAIL_VERIFICATION`, the pages the links open.
//! - `jobs.rs`: the background jobs behind every email: retries, failed jobs and
//!   `larch jobs`, `kill -9`, two instances, `larch worker`.
//! - `tutorial.rs`: the Flask tutorial's own tests, ported.
//!
//! And the machinery:
//!
//! - `runner.rs`: the backends, fresh databases, `trials!` (each file ends with
//!   `pub fn tests()` listing its tests) and the loop that runs the suite per backend.
//! - `client.rs`: `spawn_app` (larch in-process), `TestApp` requests, test users, and
//!   assertions on the error shape.
//! - `server.rs`: the real `larch` binary as a server process.
//! - `raw.rs`: HTTP/1.1 on a bare socket (slow, idle and malformed clients).
//! - `smtp.rs`: a real SMTP server in the test process (mailin-embedded), and reading what
//!   it received.

mod client;
mod raw;
mod runner;
mod server;
mod smtp;

mod auth;
mod cli;
mod concurrency;
mod connections;
mod conventions;
mod email_tokens;
mod errors;
mod import_flask;
mod instances;
mod jobs;
mod lifecycle;
mod migrations;
mod operations;
mod password_reset;
mod posts;
mod products;
mod rate_limits;
mod sessions;
mod tutorial;
mod users;
mod verify_email;

fn suite() -> Vec<runner::Test> {
    [
        auth::tests(),
        cli::tests(),
        concurrency::tests(),
        connections::tests(),
        conventions::tests(),
        email_tokens::tests(),
        errors::tests(),
        import_flask::tests(),
        instances::tests(),
        jobs::tests(),
        lifecycle::tests(),
        migrations::tests(),
        operations::tests(),
        password_reset::tests(),
        posts::tests(),
        products::tests(),
        rate_limits::tests(),
        sessions::tests(),
        tutorial::tests(),
        users::tests(),
        verify_email::tests(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn main() -> std::process::ExitCode {
    runner::main(suite)
}
