//! The command line: `larch serve`, `larch worker`, `larch jobs`, `larch migrate`,
//! `larch create-admin`, `larch seed`, `larch import-flask`, `larch openapi`, `larch backup`.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use sea_orm_migration::{MigrationStatus, MigratorTrait};

use crate::config::Config;
use crate::migration::{Applied, Migrator};
use crate::passwords::Password;
use crate::passwords::PasswordHasher;
use crate::startup::{
    Application, build_state, connect_database, run_workers_until, shutdown_signal,
};
use crate::users::domain::{Email, Role, Username};
use crate::users::queries::{self as users, NewUser};

#[derive(Debug, Parser)]
#[command(
    name = "larch",
    version,
    about = "A JSON REST API: auth, users, posts and products."
)]
#[command(
    after_help = "Configuration comes from the environment and an optional .env file; see README.md."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the HTTP server (applies pending migrations first unless --no-migrate).
    Serve {
        /// Do not apply pending migrations before serving (another step applies them);
        /// refuses to start while any is still pending.
        #[arg(long)]
        no_migrate: bool,
        /// Do not run the background workers (jobs such as email, and housekeeping) in
        /// this process: `larch worker` runs them elsewhere.
        #[arg(long)]
        no_workers: bool,
        /// Address to listen on; overrides BIND.
        #[arg(long, value_name = "ADDR")]
        bind: Option<SocketAddr>,
    },
    /// Run only the background workers (email jobs and housekeeping), no HTTP server.
    /// Several may run beside `larch serve` on one database: each job runs on one of them.
    Worker,
    /// Show the background jobs: counts by kind and state, and the jobs that failed for
    /// good (with their error); retry them.
    Jobs {
        #[command(subcommand)]
        action: Option<JobsAction>,
    },
    /// Apply, revert or list schema migrations (default: up).
    Migrate {
        #[command(subcommand)]
        action: Option<MigrateAction>,
    },
    /// Create an admin user. The password comes from LARCH_ADMIN_PASSWORD or a hidden
    /// prompt, never from an argument.
    CreateAdmin {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
    },
    /// Fill the database with realistic sample data (for benchmarks and demos). Seeded
    /// users all have the password "seed-password".
    Seed {
        #[arg(long, default_value_t = 0)]
        users: u64,
        #[arg(long, default_value_t = 0)]
        posts: u64,
        #[arg(long, default_value_t = 0)]
        products: u64,
    },
    /// Copy the users, posts and products of the tutorial's Flask app into this database
    /// (DATABASE_URL), keeping ids, dates and passwords. Rows larch cannot take as they are
    /// are listed with the reason and left out; running it again imports nothing twice.
    /// See docs/migrating-from-flask.md.
    ImportFlask {
        /// The Flask app's DATABASE_URL, as SQLAlchemy takes it: sqlite:///app.db,
        /// sqlite:////abs/path/app.db, postgresql://…, mysql+pymysql://…
        #[arg(long, value_name = "URL")]
        from: String,
        /// Check every row and report, but write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Make the imported account with this email an admin.
        #[arg(long, value_name = "EMAIL")]
        admin: Option<String>,
        /// Rows per batch (1 to 10,000); each batch is one transaction.
        #[arg(long, value_name = "ROWS", default_value_t = crate::flask_import::DEFAULT_BATCH_SIZE,
              value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
        batch_size: usize,
    },
    /// Print the OpenAPI 3.1 document (the one served at /openapi.json) and exit.
    Openapi,
    /// Write a consistent copy of the SQLite database (DATABASE_URL) to FILE, while larch
    /// keeps serving and writing. For PostgreSQL and MySQL, use pg_dump / mysqldump.
    Backup {
        /// Where to write the copy; must not exist yet.
        #[arg(long, value_name = "FILE")]
        to: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum JobsAction {
    /// Counts by kind and state, then the jobs that failed for good (the default).
    List {
        /// Failed jobs shown at most.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Put failed jobs back in the queue, with all their attempts.
    Retry {
        /// The ids to retry (from `larch jobs list`).
        ids: Vec<String>,
        /// Retry every job that failed for good.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply pending migrations.
    Up {
        /// Apply at most this many.
        #[arg(long)]
        steps: Option<u32>,
    },
    /// Revert applied migrations, newest first.
    Down {
        /// How many to revert.
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    // Needs no database or secret; the configured password rule is used when there is one.
    if let Command::Openapi = cli.command {
        use std::io::Write;
        let password_min_length = Config::from_env()
            .map(|config| config.password_min_length)
            .unwrap_or(crate::config::DEFAULT_PASSWORD_MIN_LENGTH);
        let json = crate::router::document(password_min_length).to_pretty_json()?;
        let mut out = std::io::stdout().lock();
        return match writeln!(out, "{json}") {
            // `larch openapi | head` is not an error.
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
            _ => Ok(()),
        };
    }
    let mut config = Config::from_env()?;
    crate::telemetry::init(config.log_format);
    match cli.command {
        Command::Serve {
            no_migrate,
            no_workers,
            bind,
        } => {
            if let Some(bind) = bind {
                config.rebind(bind);
            }
            let app = Application::build(config, !no_migrate).await?;
            let app = if no_workers {
                app.without_workers()
            } else {
                app
            };
            app.run_until(shutdown_signal()).await
        }
        Command::Worker => {
            let (state, mailer) = build_state(config, true).await?;
            run_workers_until(state, mailer, shutdown_signal()).await
        }
        Command::Jobs { action } => {
            jobs_command(config, action.unwrap_or(JobsAction::List { limit: 50 })).await
        }
        Command::Migrate { action } => {
            migrate(&config, action.unwrap_or(MigrateAction::Up { steps: None })).await
        }
        Command::Openapi => Ok(()),
        Command::Backup { to } => {
            let backup = crate::backup::backup(&config.database_url, &to).await?;
            println!(
                "backup written to {} ({} bytes, integrity ok) in {:.1} s",
                backup.path.display(),
                backup.bytes,
                backup.elapsed.as_secs_f64()
            );
            Ok(())
        }
        Command::CreateAdmin { username, email } => create_admin(&config, &username, &email).await,
        Command::ImportFlask {
            from,
            dry_run,
            admin,
            batch_size,
        } => import_flask(&config, from, dry_run, admin, batch_size).await,
        Command::Seed {
            users,
            posts,
            products,
        } => {
            let db = connect_database(&config, true).await?;
            let report = crate::seed::seed(
                &db,
                &crate::seed::SeedPlan {
                    users,
                    posts,
                    products,
                },
            )
            .await?;
            println!(
                "seeded {} users, {} posts, {} products in {:.1} s",
                report.users,
                report.posts,
                report.products,
                report.elapsed.as_secs_f64()
            );
            Ok(())
        }
    }
}

async fn jobs_command(config: Config, action: JobsAction) -> anyhow::Result<()> {
    use crate::jobs::{Jobs, admin};
    let db = connect_database(&config, false).await?;
    let Some(jobs) = Jobs::connect(&config.jobs, &db).await? else {
        bail!("there is no job queue: on MySQL, set JOBS_URL=redis://…");
    };
    match action {
        JobsAction::List { limit } => {
            let counts = admin::counts(&jobs).await.context(
                "reading the job queue (is DATABASE_URL right, and has `larch migrate` run?)",
            )?;
            println!("{}", jobs.describe());
            if counts.is_empty() {
                println!("no jobs");
            } else {
                println!("{:<24} {:<8} {:>8}", "KIND", "STATE", "JOBS");
                for count in &counts {
                    println!("{:<24} {:<8} {:>8}", count.kind, count.state, count.jobs);
                }
            }
            let failed = admin::failed(&jobs, limit).await?;
            if !failed.is_empty() {
                println!("\nfailed for good (retry with `larch jobs retry ID…` or `--all`):");
                println!("{:<28} {:<24} {:>8}  ERROR", "ID", "KIND", "ATTEMPTS");
                for job in failed {
                    println!(
                        "{:<28} {:<24} {:>8}  {}",
                        job.id, job.kind, job.attempts, job.error
                    );
                }
            }
        }
        JobsAction::Retry { ids, all } => {
            let ids = if all {
                admin::failed(&jobs, i64::MAX)
                    .await?
                    .into_iter()
                    .map(|j| j.id)
                    .collect()
            } else if ids.is_empty() {
                bail!("name the jobs to retry, or pass --all");
            } else {
                ids
            };
            let mut missing = Vec::new();
            for id in &ids {
                if admin::retry(&jobs, id).await? {
                    println!("queued again: {id}");
                } else {
                    missing.push(id.as_str());
                }
            }
            if !missing.is_empty() {
                bail!("not a job that failed for good: {}", missing.join(", "));
            }
        }
    }
    Ok(())
}

async fn migrate(config: &Config, action: MigrateAction) -> anyhow::Result<()> {
    // One connection, as `serve` migrates: on SQLite each connection keeps its own copy of
    // the schema, and a pooled one that read it before a migration could refuse the next.
    let db = crate::db::connect(&config.database_url, 1).await?;
    match action {
        MigrateAction::Up { steps } => {
            Migrator::up(&db, steps)
                .await
                .context("applying migrations")?;
            crate::jobs::migrate(&db).await?;
            println!("migrations applied");
        }
        MigrateAction::Down { steps } => {
            Migrator::down(&db, Some(steps))
                .await
                .context("reverting migrations")?;
            println!("reverted {steps} migration(s)");
        }
        MigrateAction::Status => {
            for migration in Migrator::get_migration_with_status(&db).await? {
                let state = match migration.status() {
                    MigrationStatus::Applied => "applied",
                    MigrationStatus::Pending => "pending",
                };
                println!("{state:8} {}", migration.name());
            }
        }
    }
    Ok(())
}

async fn import_flask(
    config: &Config,
    from: String,
    dry_run: bool,
    admin: Option<String>,
    batch_size: usize,
) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let admin = admin
        .map(|raw| Email::parse(&raw).map_err(|e| anyhow::anyhow!("--admin {e}")))
        .transpose()?;
    let source = crate::flask_import::open_source(&from).await?;
    // A dry run writes nothing, not even the schema: before the first migration, larch's
    // database is taken as empty.
    let (db, target_is_empty) = if dry_run && !sqlite_file_exists(&config.database_url) {
        // Opening a SQLite file creates it: an in-memory database stands in for none.
        (crate::db::connect("sqlite::memory:", 1).await?, true)
    } else if dry_run {
        let db = connect_database(config, false).await?;
        let applied = Applied::read(&db).await?;
        if !applied.unknown.is_empty() {
            bail!(
                "larch's database has migrations this binary does not know ({}): use the newer version",
                applied.unknown.join(", ")
            );
        }
        match (applied.any, applied.pending.is_empty()) {
            (false, _) => (db, true),
            (true, true) => (db, false),
            (true, false) => {
                bail!("larch's database has pending migrations: apply them first (larch migrate)")
            }
        }
    } else {
        (connect_database(config, true).await?, false)
    };
    let options = crate::flask_import::Options {
        dry_run,
        admin,
        batch_size,
        target_is_empty,
    };
    let mut report = crate::flask_import::report::Report::new(std::io::stderr().is_terminal());
    crate::flask_import::run(&db, source, &options, &mut report).await?;
    Ok(())
}

/// False for a SQLite URL whose file does not exist yet (true for other backends).
fn sqlite_file_exists(url: &str) -> bool {
    let Some(path) = url.strip_prefix("sqlite:") else {
        return true;
    };
    if crate::db::is_in_memory(url) {
        return true;
    }
    let path = path.trim_start_matches("//");
    let path = path.split('?').next().unwrap_or_default();
    std::path::Path::new(path).exists()
}

async fn create_admin(config: &Config, username: &str, email: &str) -> anyhow::Result<()> {
    let username = Username::parse(username).map_err(|e| anyhow::anyhow!("--username {e}"))?;
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("--email {e}"))?;
    let password = match std::env::var("LARCH_ADMIN_PASSWORD") {
        Ok(password) => password,
        Err(_) => prompt_password()?,
    };
    let password = Password::parse(&password, config.password_min_length)
        .map_err(|e| anyhow::anyhow!("the password {e}"))?;

    let db = connect_database(config, true).await?;
    let password_hash = PasswordHasher::new(1).hash(&password).await?;
    let created = users::insert(
        &db,
        NewUser {
            username,
            email,
            password_hash,
            role: Role::Admin,
        },
    )
    .await;
    match created {
        Ok(user) => {
            println!("admin {} created (id {})", user.username, user.id);
            Ok(())
        }
        Err(e)
            if matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            bail!("a user with this email or username already exists")
        }
        Err(e) => Err(e).context("creating the admin"),
    }
}

fn prompt_password() -> anyhow::Result<String> {
    let first = rpassword::prompt_password("Admin password: ")
        .context("reading the password (set LARCH_ADMIN_PASSWORD when there is no terminal)")?;
    let second = rpassword::prompt_password("Repeat it: ")?;
    if first != second {
        bail!("the two passwords differ");
    }
    Ok(first)
}
