//! `larch import-flask`: copies the users, posts and products of the tutorial's Flask app
//! into larch's database, so that a team can move to larch without its users noticing.
//!
//! - Rows are judged by the API's own rules (the same newtypes); a row larch cannot take as
//!   it is (invalid, a duplicate under larch's rules, a post whose author was not imported)
//!   is reported with its id and why, and not imported. Nothing is ever changed to fit.
//! - Ids and timestamps are kept; id generators are moved past the Flask ids, so new rows
//!   never collide with imported ones.
//! - Passwords keep working: werkzeug's hashes are stored as they are and checked at login
//!   (`passwords`), which replaces them by Argon2id.
//! - The work goes in batches of rows by id, one transaction each. A batch decides each
//!   row against what larch already has: the same id with the same content is skipped, the
//!   same id with other content is reported and left alone. So a second run imports
//!   nothing twice, and a run stopped half-way (a crash, Ctrl-C) is finished by running it
//!   again.

pub mod domain;
pub mod queries;
pub mod report;
pub mod source;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, SqlErr};

use self::domain::{Post, Product, Shape, Table, User};
use self::report::{Counts, Report};
use self::source::{Source, SourceRow, SourceUrl};
use crate::db::begin_write;
use crate::passwords::needs_rehash;
use crate::users::domain::Email;

/// Rows per batch and transaction. Measured on SQLite: 10,000 imports a million posts a
/// quarter faster than 2,000 (docs/benchmarks.md).
pub const DEFAULT_BATCH_SIZE: usize = 10_000;

pub struct Options {
    /// Check and report everything, write nothing.
    pub dry_run: bool,
    /// The imported account to make an admin.
    pub admin: Option<Email>,
    /// Rows per batch (and transaction).
    pub batch_size: usize,
    /// larch's database has no tables yet (a dry run before the first migration): it is
    /// taken as empty rather than read.
    pub target_is_empty: bool,
}

#[derive(Debug)]
pub struct Summary {
    pub users: Counts,
    pub posts: Option<Counts>,
    pub products: Option<Counts>,
    /// For each table, the id new rows start above.
    pub ids_above: Vec<(&'static str, i64)>,
    pub rows: u64,
    pub elapsed: Duration,
}

/// What one batch decided for a row.
enum Outcome<'a, T> {
    Insert(&'a T),
    Same,
    Differs {
        why: String,
        /// The row in larch is the Flask row, edited since (same creation time): a user
        /// that stays an author for the posts that follow.
        same_account: bool,
    },
    Refused(String),
}

/// What the rows read so far settled, for the rows after them.
struct Run {
    dry_run: bool,
    target_is_empty: bool,
    now: DateTime<Utc>,
    /// Flask users that are in larch (imported, already there, or the same account edited
    /// since): the authors posts may name.
    authors: HashSet<i64>,
    /// Flask users that are not.
    refused_users: HashSet<i64>,
    /// Unique values of the rows this run inserted (or, in a dry run, would have).
    usernames: HashMap<String, i64>,
    emails: HashMap<String, i64>,
    skus: HashMap<String, i64>,
}

/// Opens the Flask database (`--from`): first, so that a wrong URL stops the command
/// before larch's database is touched.
pub async fn open_source(from: &str) -> anyhow::Result<Source> {
    Source::open(&SourceUrl::parse(from)?).await
}

/// Runs the import from `source` into `db` and reports on `report`; the summary is printed
/// there too.
pub async fn run(
    db: &DatabaseConnection,
    mut source: Source,
    options: &Options,
    report: &mut Report,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let tables = source.tables().await?;
    let find = |name: &str| {
        tables
            .iter()
            .find(|t| t.eq_ignore_ascii_case(name))
            .cloned()
    };

    let users_table = find("users").context("the Flask database has no users table")?;
    let users = shape(&mut source, Table::Users, &users_table)
        .await?
        .map_err(|missing| anyhow!("the Flask users table has no {missing} column"))?;
    let mut shapes = vec![users];
    for table in [Table::Posts, Table::Products] {
        let Some(name) = find(table.name()) else {
            report.note(format_args!(
                "the Flask database has no {} table",
                table.name()
            ));
            continue;
        };
        match shape(&mut source, table, &name).await? {
            Ok(shape) => shapes.push(shape),
            Err(missing) => report.note(format_args!(
                "{}: not imported, the table has no {missing} column",
                table.name()
            )),
        }
    }
    let mut sizes = HashMap::new();
    for shape in &shapes {
        let name = shape.table.name();
        if !shape.unmapped.is_empty() {
            report.note(format_args!(
                "{name}: column(s) {} not imported: larch has no such field",
                shape.unmapped.join(", ")
            ));
        }
        if !shape.has("created_at") {
            report.note(format_args!(
                "{name}: no created_at column; rows are dated at the import"
            ));
        }
        sizes.insert(
            name,
            source.size(&shape.source_table, &shape.columns[0]).await?,
        );
    }
    report.set_total(sizes.values().map(|(count, _)| count).sum());
    let source_max = |table: &str| sizes.get(table).map(|(_, max)| *max).unwrap_or(0);

    // New rows written while the import runs (registrations on a larch already serving)
    // take ids above the Flask ones from the start.
    if !options.dry_run {
        for table in queries::TABLES {
            queries::raise_next_id(db, table, source_max(table)).await?;
        }
    }

    let mut run = Run {
        dry_run: options.dry_run,
        target_is_empty: options.target_is_empty,
        now: crate::time::now(),
        authors: HashSet::new(),
        refused_users: HashSet::new(),
        usernames: HashMap::new(),
        emails: HashMap::new(),
        skus: HashMap::new(),
    };
    let batch = options.batch_size.max(1);
    let mut summary = Summary {
        users: Counts::default(),
        posts: None,
        products: None,
        ids_above: Vec::new(),
        rows: 0,
        elapsed: Duration::ZERO,
    };
    for shape in &shapes {
        report.start_table(shape.table);
        let counts = import_table(db, &mut source, shape, &mut run, report, batch)
            .await
            .with_context(|| {
                let table = shape.table.name();
                if options.dry_run {
                    format!("checking {table}")
                } else {
                    format!(
                        "importing {table} (the batches before this one are in; run the import again to go on)"
                    )
                }
            })?;
        summary.rows += counts.rows();
        match shape.table {
            Table::Users => summary.users = counts,
            Table::Posts => summary.posts = Some(counts),
            Table::Products => summary.products = Some(counts),
        }
    }
    source.close().await?;

    for table in queries::TABLES {
        let larch_max = if run.target_is_empty {
            0
        } else {
            queries::max_id(db, table).await?
        };
        let above = larch_max.max(source_max(table));
        if !options.dry_run {
            queries::raise_next_id(db, table, above).await?;
        }
        summary.ids_above.push((table, above));
    }
    let admin = match &options.admin {
        Some(email) => Some(make_admin(db, &run, email, report).await?),
        None => None,
    };
    if !options.dry_run {
        crate::db::analyze(db).await?;
    }
    report.finish();
    summary.elapsed = started.elapsed();
    print_summary(&summary, options.dry_run, report);
    if let Some(Err(why)) = admin {
        bail!(why);
    }
    Ok(summary)
}

async fn shape(
    source: &mut Source,
    table: Table,
    name: &str,
) -> anyhow::Result<Result<Shape, String>> {
    let columns = source.columns(name).await?;
    Ok(Shape::new(table, name, &columns).map_err(|missing| missing.join(", ")))
}

/// Reads `shape`'s table in batches by id and imports each.
async fn import_table(
    db: &DatabaseConnection,
    source: &mut Source,
    shape: &Shape,
    run: &mut Run,
    report: &mut Report,
    batch: usize,
) -> anyhow::Result<Counts> {
    let mut counts = Counts::default();
    let mut after = i64::MIN;
    loop {
        let rows = source
            .fetch(&shape.source_table, &shape.columns, after, batch)
            .await?;
        let Some(last) = rows.last() else {
            break;
        };
        after = last.id;
        match shape.table {
            Table::Users => users_batch(db, shape, &rows, run, report, &mut counts).await?,
            Table::Posts => posts_batch(db, shape, &rows, run, report, &mut counts).await?,
            Table::Products => products_batch(db, shape, &rows, run, report, &mut counts).await?,
        }
        report.advance(rows.len() as u64);
    }
    Ok(counts)
}

/// Runs a batch's transaction again when it lost a race (a row that took one of its unique
/// values or ids between the check and the insert, on a larch that is serving): the next
/// attempt sees that row and reports the conflict.
async fn with_retries<T, F, Fut>(mut attempt: F) -> Result<T, DbErr>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, DbErr>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await {
            Err(e)
                if tries < 3
                    && matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {}
            other => return other,
        }
    }
}

fn keyed<T>(
    rows: &[SourceRow],
    parse: impl Fn(&SourceRow) -> Result<T, String>,
) -> Vec<(i64, Result<T, String>)> {
    rows.iter().map(|row| (row.id, parse(row))).collect()
}

fn id_range<T>(parsed: &[(i64, T)]) -> (i64, i64) {
    let first = parsed.first().map(|(id, _)| *id).unwrap_or(0);
    let last = parsed.last().map(|(id, _)| *id).unwrap_or(0);
    (first, last)
}

fn inserts<'a, T>(outcomes: &[(i64, Outcome<'a, T>)]) -> Vec<&'a T> {
    outcomes
        .iter()
        .filter_map(|(_, outcome)| match outcome {
            Outcome::Insert(row) => Some(*row),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------- users

async fn users_batch(
    db: &DatabaseConnection,
    shape: &Shape,
    rows: &[SourceRow],
    run: &mut Run,
    report: &Report,
    counts: &mut Counts,
) -> anyhow::Result<()> {
    let parsed = keyed(rows, |row| domain::user(shape, row, run.now));
    let dated = shape.has("created_at");
    let outcomes = with_retries(|| write_users(db, &parsed, run, dated)).await?;
    for (id, outcome) in outcomes {
        match outcome {
            Outcome::Insert(user) => {
                counts.imported += 1;
                run.authors.insert(id);
                run.usernames.insert(user.username.key(), id);
                run.emails.insert(user.email.as_str().to_owned(), id);
                if let Some(why) = &user.unusable_password {
                    counts.no_login += 1;
                    report.no_login(id, why);
                }
            }
            Outcome::Same => {
                counts.already_there += 1;
                run.authors.insert(id);
            }
            Outcome::Differs { why, same_account } => {
                counts.differ += 1;
                report.differs(Table::Users, id, &why);
                if same_account {
                    run.authors.insert(id);
                } else {
                    run.refused_users.insert(id);
                }
            }
            Outcome::Refused(why) => {
                counts.refused += 1;
                report.refused(Table::Users, id, &why);
                run.refused_users.insert(id);
            }
        }
    }
    Ok(())
}

async fn write_users<'a>(
    db: &DatabaseConnection,
    parsed: &'a [(i64, Result<User, String>)],
    run: &Run,
    dated: bool,
) -> Result<Vec<(i64, Outcome<'a, User>)>, DbErr> {
    if run.dry_run {
        return decide_users(db, parsed, run, dated).await;
    }
    let tx = begin_write(db).await?;
    let outcomes = decide_users(&tx, parsed, run, dated).await?;
    queries::insert_users(&tx, &inserts(&outcomes)).await?;
    tx.commit().await?;
    Ok(outcomes)
}

/// `dated`: the Flask table has `created_at` (without it, rows are dated at the import, and
/// the date is no part of "the same content"). The same for posts and products.
async fn decide_users<'a>(
    db: &impl ConnectionTrait,
    parsed: &'a [(i64, Result<User, String>)],
    run: &Run,
    dated: bool,
) -> Result<Vec<(i64, Outcome<'a, User>)>, DbErr> {
    let (first, last) = id_range(parsed);
    let mut existing = HashMap::new();
    let mut key_holders = HashMap::new();
    let mut email_holders = HashMap::new();
    if !run.target_is_empty {
        existing = queries::users_between(db, first, last).await?;
        let new: Vec<&User> = parsed
            .iter()
            .filter_map(|(_, user)| user.as_ref().ok())
            .filter(|user| !existing.contains_key(&user.id))
            .collect();
        let keys = new.iter().map(|u| u.username.key()).collect();
        let emails = new.iter().map(|u| u.email.as_str().to_owned()).collect();
        for (id, key, email) in queries::user_key_holders(db, keys, emails).await? {
            key_holders.insert(key, id);
            email_holders.insert(email, id);
        }
    }
    let mut outcomes = Vec::with_capacity(parsed.len());
    for (id, user) in parsed {
        let user = match user {
            Ok(user) => user,
            Err(why) => {
                outcomes.push((*id, Outcome::Refused(why.clone())));
                continue;
            }
        };
        if let Some(there) = existing.get(id) {
            let mut differ = Vec::new();
            if there.username != user.username.as_str() {
                differ.push("username");
            }
            if there.email != user.email.as_str() {
                differ.push("email");
            }
            let same_date = !dated || there.created_at == user.created_at;
            if !same_date {
                differ.push("created_at");
            }
            // A login replaces a werkzeug hash by Argon2id: that is still the same password.
            let upgraded = needs_rehash(&user.password_hash) && !needs_rehash(&there.password_hash);
            if there.password_hash != user.password_hash && !upgraded {
                differ.push("password");
            }
            let outcome = if differ.is_empty() {
                Outcome::Same
            } else {
                differs(
                    Table::Users,
                    *id,
                    &differ,
                    there.created_at == user.created_at,
                )
            };
            outcomes.push((*id, outcome));
            continue;
        }
        let key = user.username.key();
        let email = user.email.as_str();
        let mut taken = Vec::new();
        let holder_of_key = key_holders.get(&key).or_else(|| run.usernames.get(&key));
        if let Some(holder) = holder_of_key.filter(|holder| **holder != *id) {
            taken.push(format!(
                "username {:?} is taken by user #{holder} (usernames are unique ignoring case)",
                user.username.as_str()
            ));
        }
        let holder_of_email = email_holders.get(email).or_else(|| run.emails.get(email));
        if let Some(holder) = holder_of_email.filter(|holder| **holder != *id) {
            taken.push(format!(
                "email {email:?} is taken by user #{holder} (addresses are compared in their canonical form: lower case, IDNA domain)"
            ));
        }
        if taken.is_empty() {
            // Later rows of this batch see this one's values as taken.
            key_holders.insert(key, *id);
            email_holders.insert(email.to_owned(), *id);
            outcomes.push((*id, Outcome::Insert(user)));
        } else {
            outcomes.push((*id, Outcome::Refused(taken.join("; "))));
        }
    }
    Ok(outcomes)
}

/// The outcome for a row whose id larch already has with other content.
fn differs<T>(table: Table, id: i64, fields: &[&str], same_account: bool) -> Outcome<'static, T> {
    let fields = fields.join(", ");
    let why = if same_account {
        format!(
            "larch's {} #{id} has another {fields}; left as larch has it",
            singular(table)
        )
    } else {
        let dependents = if table == Table::Users {
            ", nor are its posts"
        } else {
            ""
        };
        format!(
            "larch already has another {} with id {id} (its {fields} differ); not imported{dependents}",
            singular(table)
        )
    };
    Outcome::Differs { why, same_account }
}

fn singular(table: Table) -> &'static str {
    match table {
        Table::Users => "user",
        Table::Posts => "post",
        Table::Products => "product",
    }
}

// ---------------------------------------------------------------- posts

async fn posts_batch(
    db: &DatabaseConnection,
    shape: &Shape,
    rows: &[SourceRow],
    run: &mut Run,
    report: &Report,
    counts: &mut Counts,
) -> anyhow::Result<()> {
    let parsed = keyed(rows, |row| domain::post(shape, row, run.now));
    let dated = shape.has("created_at");
    let outcomes = with_retries(|| write_posts(db, &parsed, run, dated)).await?;
    tally(Table::Posts, outcomes, report, counts);
    Ok(())
}

async fn write_posts<'a>(
    db: &DatabaseConnection,
    parsed: &'a [(i64, Result<Post, String>)],
    run: &Run,
    dated: bool,
) -> Result<Vec<(i64, Outcome<'a, Post>)>, DbErr> {
    if run.dry_run {
        return decide_posts(db, parsed, run, dated).await;
    }
    let tx = begin_write(db).await?;
    let outcomes = decide_posts(&tx, parsed, run, dated).await?;
    queries::insert_posts(&tx, &inserts(&outcomes)).await?;
    tx.commit().await?;
    Ok(outcomes)
}

async fn decide_posts<'a>(
    db: &impl ConnectionTrait,
    parsed: &'a [(i64, Result<Post, String>)],
    run: &Run,
    dated: bool,
) -> Result<Vec<(i64, Outcome<'a, Post>)>, DbErr> {
    let (first, last) = id_range(parsed);
    let existing = if run.target_is_empty {
        HashMap::new()
    } else {
        queries::posts_between(db, first, last).await?
    };
    let outcomes = parsed
        .iter()
        .map(|(id, post)| {
            let outcome = match post {
                Err(why) => Outcome::Refused(why.clone()),
                Ok(post) => match existing.get(id) {
                    Some(there) => {
                        let mut differ = Vec::new();
                        if there.title != post.title.as_str() {
                            differ.push("title");
                        }
                        if there.body != post.body.as_str() {
                            differ.push("body");
                        }
                        if there.user_id != post.user_id {
                            differ.push("user_id");
                        }
                        if dated && there.created_at != post.created_at {
                            differ.push("created_at");
                        }
                        if differ.is_empty() {
                            Outcome::Same
                        } else {
                            differs(Table::Posts, *id, &differ, false)
                        }
                    }
                    None if run.authors.contains(&post.user_id) => Outcome::Insert(post),
                    None if run.refused_users.contains(&post.user_id) => Outcome::Refused(format!(
                        "its author, user #{}, was not imported",
                        post.user_id
                    )),
                    None => Outcome::Refused(format!(
                        "user_id: there is no user #{} in the Flask database",
                        post.user_id
                    )),
                },
            };
            (*id, outcome)
        })
        .collect();
    Ok(outcomes)
}

/// Counts and reports a batch's outcomes (posts and products: nothing depends on them).
fn tally<T>(
    table: Table,
    outcomes: Vec<(i64, Outcome<'_, T>)>,
    report: &Report,
    counts: &mut Counts,
) {
    for (id, outcome) in outcomes {
        match outcome {
            Outcome::Insert(_) => counts.imported += 1,
            Outcome::Same => counts.already_there += 1,
            Outcome::Differs { why, .. } => {
                counts.differ += 1;
                report.differs(table, id, &why);
            }
            Outcome::Refused(why) => {
                counts.refused += 1;
                report.refused(table, id, &why);
            }
        }
    }
}

// ---------------------------------------------------------------- products

async fn products_batch(
    db: &DatabaseConnection,
    shape: &Shape,
    rows: &[SourceRow],
    run: &mut Run,
    report: &Report,
    counts: &mut Counts,
) -> anyhow::Result<()> {
    let parsed = keyed(rows, |row| domain::product(shape, row, run.now));
    let dated = shape.has("created_at");
    let outcomes = with_retries(|| write_products(db, &parsed, run, dated)).await?;
    for (id, outcome) in &outcomes {
        if let Outcome::Insert(Product { sku: Some(sku), .. }) = outcome {
            run.skus.insert(sku.as_str().to_owned(), *id);
        }
    }
    tally(Table::Products, outcomes, report, counts);
    Ok(())
}

async fn write_products<'a>(
    db: &DatabaseConnection,
    parsed: &'a [(i64, Result<Product, String>)],
    run: &Run,
    dated: bool,
) -> Result<Vec<(i64, Outcome<'a, Product>)>, DbErr> {
    if run.dry_run {
        return decide_products(db, parsed, run, dated).await;
    }
    let tx = begin_write(db).await?;
    let outcomes = decide_products(&tx, parsed, run, dated).await?;
    let new = inserts(&outcomes);
    if !new.is_empty() {
        queries::insert_products(&tx, &new).await?;
    }
    tx.commit().await?;
    Ok(outcomes)
}

async fn decide_products<'a>(
    db: &impl ConnectionTrait,
    parsed: &'a [(i64, Result<Product, String>)],
    run: &Run,
    dated: bool,
) -> Result<Vec<(i64, Outcome<'a, Product>)>, DbErr> {
    let (first, last) = id_range(parsed);
    let mut existing = HashMap::new();
    let mut sku_holders = HashMap::new();
    if !run.target_is_empty {
        existing = queries::products_between(db, first, last).await?;
        let skus = parsed
            .iter()
            .filter_map(|(_, product)| product.as_ref().ok())
            .filter(|product| !existing.contains_key(&product.id))
            .filter_map(|product| product.sku.as_ref().map(|sku| sku.as_str().to_owned()))
            .collect();
        sku_holders = queries::sku_holders(db, skus)
            .await?
            .into_iter()
            .map(|(id, sku)| (sku, id))
            .collect();
    }
    let mut outcomes = Vec::with_capacity(parsed.len());
    for (id, product) in parsed {
        let product = match product {
            Ok(product) => product,
            Err(why) => {
                outcomes.push((*id, Outcome::Refused(why.clone())));
                continue;
            }
        };
        if let Some(there) = existing.get(id) {
            let mut differ = Vec::new();
            if there.name != product.name.as_str() {
                differ.push("name");
            }
            if there.description != product.description.as_str() {
                differ.push("description");
            }
            if there.price_cents != product.price.cents() {
                differ.push("price");
            }
            if there.sku.as_deref() != product.sku.as_ref().map(|sku| sku.as_str()) {
                differ.push("sku");
            }
            if there.stock != product.stock {
                differ.push("stock");
            }
            if dated && there.created_at != product.created_at {
                differ.push("created_at");
            }
            let outcome = if differ.is_empty() {
                Outcome::Same
            } else {
                differs(Table::Products, *id, &differ, false)
            };
            outcomes.push((*id, outcome));
            continue;
        }
        if let Some(sku) = &product.sku {
            let holder = sku_holders
                .get(sku.as_str())
                .or_else(|| run.skus.get(sku.as_str()));
            if let Some(holder) = holder.filter(|holder| **holder != *id) {
                outcomes.push((
                    *id,
                    Outcome::Refused(format!(
                        "sku {:?} is taken by product #{holder}",
                        sku.as_str()
                    )),
                ));
                continue;
            }
            sku_holders.insert(sku.as_str().to_owned(), *id);
        }
        outcomes.push((*id, Outcome::Insert(product)));
    }
    Ok(outcomes)
}

// ---------------------------------------------------------------- the end

/// `--admin`: makes the imported account with this address an admin. `Err` (a message)
/// when no account brought over from the Flask app has it.
async fn make_admin(
    db: &DatabaseConnection,
    run: &Run,
    email: &Email,
    report: &Report,
) -> anyhow::Result<Result<(), String>> {
    let id = match run.emails.get(email.as_str()) {
        Some(id) => Some(*id),
        None if !run.target_is_empty => crate::users::queries::find_by_email(db, email)
            .await?
            .map(|user| user.id)
            .filter(|id| run.authors.contains(id)),
        None => None,
    };
    let Some(id) = id else {
        return Ok(Err(format!(
            "--admin {}: no account imported from the Flask app has this address",
            email.as_str()
        )));
    };
    if run.dry_run {
        report.note(format_args!(
            "user #{id} ({}) would be made an admin",
            email.as_str()
        ));
    } else {
        queries::promote(db, id).await?;
        report.note(format_args!("user #{id} ({}) is an admin", email.as_str()));
    }
    Ok(Ok(()))
}

fn print_summary(summary: &Summary, dry_run: bool, report: &Report) {
    let verb = if dry_run { "would import" } else { "imported" };
    report.line(if dry_run {
        "summary (dry run: nothing was written)"
    } else {
        "summary"
    });
    let tables = [
        ("users", Some(summary.users)),
        ("posts", summary.posts),
        ("products", summary.products),
    ];
    for (name, counts) in tables {
        let Some(counts) = counts else {
            continue;
        };
        let mut line = format!(
            "  {name:<9} {verb} {}, already there {}, differ {}, refused {}",
            counts.imported, counts.already_there, counts.differ, counts.refused
        );
        if name == "users" && counts.no_login > 0 {
            line.push_str(&format!(
                "; {} cannot log in until a password reset",
                counts.no_login
            ));
        }
        report.line(line);
    }
    let ids: Vec<String> = summary
        .ids_above
        .iter()
        .map(|(table, above)| format!("{table} above {above}"))
        .collect();
    report.line(format_args!("  new ids   {}", ids.join(", ")));
    let seconds = summary.elapsed.as_secs_f64();
    report.line(format_args!(
        "  {} rows in {seconds:.1} s ({:.0} rows/s)",
        summary.rows,
        summary.rows as f64 / seconds.max(0.001)
    ));
}
