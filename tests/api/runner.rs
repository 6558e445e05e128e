//! The test runner: the database backends, how a module registers its tests (`trials!`),
//! and how each test runs once per backend on its own runtime, with fresh databases that
//! are dropped when it ends.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use libtest_mimic::{Arguments, Completion, Failed, Trial};

/// One registered test: its name within the suite and how to start it.
pub struct Test {
    pub name: &'static str,
    pub run: fn() -> Pin<Box<dyn Future<Output = ()> + Send>>,
}

/// The tests of a module, for the runner: `trials![a, b]` registers `async fn a()` and
/// `async fn b()` under `module::a` and `module::b`. A test left out of the list is dead
/// code, which the lints refuse.
macro_rules! trials {
    ($($name:ident),* $(,)?) => {
        vec![$($crate::runner::Test {
            name: concat!(module_path!(), "::", stringify!($name)),
            run: || Box::pin($name()),
        }),*]
    };
}
pub(crate) use trials;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    pub const ALL: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::MySql];

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MySql => "mysql",
        }
    }

    /// The variable that points the suite at a server of this backend.
    pub fn variable(self) -> Option<&'static str> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some("LARCH_TEST_POSTGRES_URL"),
            Backend::MySql => Some("LARCH_TEST_MYSQL_URL"),
        }
    }

    /// The server URL to create test databases on; `None` when the variable is unset.
    /// SQLite needs none: each test gets a file in a temporary directory.
    pub fn server_url(self) -> Option<Option<String>> {
        match self.variable() {
            None => Some(None),
            Some(var) => std::env::var(var)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(Some),
        }
    }
}

/// What the running test knows about its backend, and the databases it made (dropped by
/// the runner when the test ends).
pub struct TestContext {
    pub backend: Backend,
    pub server_url: Option<String>,
    pub created: Mutex<Vec<String>>,
}

tokio::task_local! {
    pub static CONTEXT: Arc<TestContext>;
}

pub fn current_backend() -> Backend {
    CONTEXT.with(|c| c.backend)
}

/// A fresh, empty database for the running test: a SQLite file in `dir`, or a new database
/// on the PostgreSQL / MySQL server.
pub async fn fresh_database(dir: &std::path::Path) -> String {
    let context = CONTEXT.with(Arc::clone);
    match (context.backend, &context.server_url) {
        (Backend::Sqlite, _) | (_, None) => format!(
            "sqlite://{}",
            dir.join(format!("{}.db", uuid::Uuid::new_v4().simple()))
                .display()
        ),
        (backend, Some(server)) => {
            let name = format!("larch_t_{}", uuid::Uuid::new_v4().simple());
            admin_execute(backend, server, &create_database_sql(backend, &name)).await;
            context.created.lock().unwrap().push(name.clone());
            let mut url = url::Url::parse(server).expect("backend URL");
            url.set_path(&format!("/{name}"));
            url.to_string()
        }
    }
}

fn create_database_sql(backend: Backend, name: &str) -> String {
    match backend {
        Backend::MySql => {
            format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        }
        _ => format!("CREATE DATABASE \"{name}\""),
    }
}

fn drop_database_sql(backend: Backend, name: &str) -> String {
    match backend {
        Backend::MySql => format!("DROP DATABASE IF EXISTS `{name}`"),
        _ => format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
    }
}

/// Runs one statement on the server's own database (the one in its URL).
async fn admin_execute(backend: Backend, server: &str, sql: &str) {
    use sea_orm::sqlx::{Connection, Executor};
    match backend {
        Backend::Postgres => {
            let mut conn = sea_orm::sqlx::PgConnection::connect(server)
                .await
                .expect("connect to PostgreSQL");
            conn.execute(sea_orm::sqlx::AssertSqlSafe(sql.to_owned()))
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            conn.close().await.ok();
        }
        Backend::MySql => {
            let mut conn = sea_orm::sqlx::MySqlConnection::connect(server)
                .await
                .expect("connect to MySQL");
            conn.execute(sea_orm::sqlx::AssertSqlSafe(sql.to_owned()))
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            conn.close().await.ok();
        }
        Backend::Sqlite => {}
    }
}

/// Why a test did not run: raised by `skip`, reported as ignored with this reason.
struct Skipped(String);

/// Ends the running test as skipped, listed as `ignored` with `reason`: for a test that
/// needs a tool this machine does not have (CI has them all). Call it from the test's own
/// task, before it starts anything.
pub fn skip(reason: impl Into<String>) -> ! {
    // `resume_unwind`, not `panic!`: no panic message for what is not a failure.
    std::panic::resume_unwind(Box::new(Skipped(reason.into())))
}

/// Runs the suite once per backend, listing the tests of a backend whose variable is
/// unset as ignored (and saying so on stderr).
pub fn main(suite: fn() -> Vec<Test>) -> std::process::ExitCode {
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
                Some(server_url) => run(backend, server_url, test),
            }));
        }
    }
    libtest_mimic::run(&args, trials).exit_code()
}

/// Runs one test on its own runtime, then drops the databases it created.
fn run(backend: Backend, server_url: Option<String>, test: Test) -> Result<Completion, Failed> {
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
                    admin_execute(backend, &server, &drop_database_sql(backend, &name)).await;
                }
            });
        }
    }
    let panic = match outcome {
        Ok(()) => return Ok(Completion::Completed),
        Err(panic) => panic,
    };
    match panic.downcast::<Skipped>() {
        Ok(skipped) => Ok(Completion::ignored_with(skipped.0)),
        Err(panic) => Err({
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "test panicked".to_owned());
            Failed::from(message)
        }),
    }
}
