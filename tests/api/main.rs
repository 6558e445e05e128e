//! Integration tests: a real larch on a real socket with a fresh database per test, grouped
//! like the contract (`../shared/spec/API.md`).
//!
//! The whole suite runs once per backend: SQLite always; PostgreSQL when
//! `LARCH_TEST_POSTGRES_URL` is set and MySQL/MariaDB when `LARCH_TEST_MYSQL_URL` is set
//! (each test creates its own database there and drops it afterwards). A backend whose
//! variable is unset is reported as skipped, and its tests as ignored.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use libtest_mimic::{Arguments, Completion, Failed, Trial};

mod auth;
mod cli;
mod concurrency;
mod conventions;
mod errors;
mod helpers;
mod instances;
mod operations;
mod posts;
mod products;
mod rate_limits;
mod tutorial;
mod users;

use helpers::{Backend, CONTEXT, Test, TestContext};

fn suite() -> Vec<Test> {
    [
        auth::tests(),
        cli::tests(),
        concurrency::tests(),
        conventions::tests(),
        errors::tests(),
        instances::tests(),
        operations::tests(),
        posts::tests(),
        products::tests(),
        rate_limits::tests(),
        tutorial::tests(),
        users::tests(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    for backend in Backend::ALL {
        let server_url = backend.server_url();
        match (&server_url, backend.variable()) {
            (Some(Some(url)), _) => eprintln!(
                "larch tests: {} ON ({})",
                backend.name(),
                larch::config::redact_url(url)
            ),
            (Some(None), _) => eprintln!(
                "larch tests: {} ON (a temporary file per test)",
                backend.name()
            ),
            (None, Some(var)) => eprintln!(
                "larch tests: {} SKIPPED: set {var} to run the suite on it",
                backend.name()
            ),
            (None, None) => {}
        }
        for test in suite() {
            let name = format!(
                "{}::{}",
                backend.name(),
                test.name.trim_start_matches("api::")
            );
            let server_url = server_url.clone();
            trials.push(Trial::ignorable_test(name, move || match server_url {
                None => Ok(Completion::ignored_with(format!(
                    "{} not configured",
                    backend.name()
                ))),
                Some(server_url) => run(backend, server_url, test).map(|()| Completion::Completed),
            }));
        }
    }
    libtest_mimic::run(&args, trials).exit_code()
}

/// Runs one test on its own runtime, then drops the databases it created.
fn run(backend: Backend, server_url: Option<String>, test: Test) -> Result<(), Failed> {
    let context = Arc::new(TestContext {
        backend,
        server_url: server_url.clone(),
        created: Mutex::new(Vec::new()),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(CONTEXT.scope(context.clone(), (test.run)()))
    }));
    // Ends the test's servers and pools before their databases are dropped.
    drop(runtime);
    if let Some(server) = server_url {
        let names = std::mem::take(&mut *context.created.lock().unwrap());
        if !names.is_empty() {
            let cleanup = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            cleanup.block_on(async {
                for name in names {
                    helpers::admin_execute(
                        backend,
                        &server,
                        &helpers::drop_database_sql(backend, &name),
                    )
                    .await;
                }
            });
        }
    }
    outcome.map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "test panicked".to_owned());
        Failed::from(message)
    })
}
