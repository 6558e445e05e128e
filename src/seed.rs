//! `larch seed`: fills a database with realistic users, posts and products, quickly, for
//! benchmarks and demos. Rows go in with multi-row inserts inside large transactions;
//! timestamps are spread over the past year in id order, as real traffic would leave them.
//! Every seeded user shares one password (`SEED_PASSWORD`), hashed once.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder, QuerySelect, Set, TransactionTrait};

use crate::passwords::Password;
use crate::passwords::PasswordHasher;
use crate::{posts, products, users};

pub const SEED_PASSWORD: &str = "seed-password";
/// Rows per INSERT: well under every backend's bound-parameter limit.
const BATCH: usize = 1_000;
/// Rows per transaction.
const ROWS_PER_TRANSACTION: usize = 50_000;

pub struct SeedPlan {
    pub users: u64,
    pub posts: u64,
    pub products: u64,
}

pub struct SeedReport {
    pub users: u64,
    pub posts: u64,
    pub products: u64,
    pub elapsed: Duration,
}

const WORDS: &[&str] = &[
    "rust", "async", "database", "index", "query", "latency", "cache", "tokio", "design", "api",
    "garden", "coffee", "travel", "music", "river", "mountain", "winter", "summer", "city", "book",
    "recipe", "bread", "cheese", "bicycle", "camera", "review", "guide", "notes", "ideas", "story",
];
const ADJECTIVES: &[&str] = &[
    "Compact", "Deluxe", "Classic", "Wireless", "Oak", "Steel", "Mini", "Smart", "Vintage", "Eco",
];
const NOUNS: &[&str] = &[
    "desk lamp",
    "chair",
    "kettle",
    "backpack",
    "keyboard",
    "mug",
    "notebook",
    "speaker",
    "shelf",
    "clock",
];

fn sentence(rng: &mut StdRng, words: usize) -> String {
    let text: Vec<&str> = (0..words)
        .map(|_| WORDS[rng.random_range(0..WORDS.len())])
        .collect();
    let mut sentence = text.join(" ");
    if let Some(first) = sentence.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    sentence
}

pub async fn seed(db: &DatabaseConnection, plan: &SeedPlan) -> anyhow::Result<SeedReport> {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(0x1a7c4);
    let tag: u32 = rand::random::<u32>() % 0x10000;
    // Row n of `total` is dated n/total of the way through the past year (ms precision).
    let start = crate::time::now() - chrono::Duration::days(365);
    let spread = |n: u64, total: u64| {
        const YEAR_MS: i64 = 365 * 24 * 3600 * 1000;
        start + chrono::Duration::milliseconds(YEAR_MS / total.max(1) as i64 * n as i64)
    };

    // Users: one hash for all of them (hashing each would take ~15 ms apiece).
    let password = Password::parse(SEED_PASSWORD, 1).map_err(anyhow::Error::msg)?;
    let password_hash = PasswordHasher::new(1).hash(&password).await?;
    for chunk_start in (0..plan.users).step_by(ROWS_PER_TRANSACTION) {
        let tx = db.begin().await?;
        let chunk_end = (chunk_start + ROWS_PER_TRANSACTION as u64).min(plan.users);
        for batch_start in (chunk_start..chunk_end).step_by(BATCH) {
            let rows = (batch_start..(batch_start + BATCH as u64).min(chunk_end)).map(|n| {
                let username = format!("s{tag:04x}_{n}");
                let at = spread(n, plan.users);
                users::model::ActiveModel {
                    username_key: Set(username.clone()),
                    email: Set(format!("{username}@seed.example")),
                    username: Set(username),
                    password_hash: Set(password_hash.clone()),
                    role: Set("user".into()),
                    email_verified: Set(false),
                    created_at: Set(at),
                    updated_at: Set(at),
                    ..Default::default()
                }
            });
            let inserted = users::model::Entity::insert_many(rows)
                .exec_without_returning(&tx)
                .await?;
            crate::row_counts::adjust(&tx, crate::row_counts::USERS, inserted as i64).await?;
        }
        tx.commit().await?;
    }

    // Authors for the posts: every user id (seeded or not), read once.
    let author_ids: Vec<i64> = users::model::Entity::find()
        .select_only()
        .column(users::model::Column::Id)
        .order_by_asc(users::model::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    if plan.posts > 0 && author_ids.is_empty() {
        anyhow::bail!("posts need authors: seed some users too (--users)");
    }

    for chunk_start in (0..plan.posts).step_by(ROWS_PER_TRANSACTION) {
        let tx = db.begin().await?;
        let chunk_end = (chunk_start + ROWS_PER_TRANSACTION as u64).min(plan.posts);
        for batch_start in (chunk_start..chunk_end).step_by(BATCH) {
            let rows: Vec<_> = (batch_start..(batch_start + BATCH as u64).min(chunk_end))
                .map(|n| {
                    let title = format!("{} #{n}", sentence(&mut rng, 4));
                    let words = rng.random_range(15..40);
                    let at = spread(n, plan.posts);
                    posts::model::ActiveModel {
                        user_id: Set(author_ids[rng.random_range(0..author_ids.len())]),
                        title_key: Set(crate::text::fold_case(&title)),
                        title: Set(title),
                        body: Set(format!("{}.", sentence(&mut rng, words))),
                        created_at: Set(at),
                        updated_at: Set(at),
                        ..Default::default()
                    }
                })
                .collect();
            posts::model::Entity::insert_many(rows)
                .exec_without_returning(&tx)
                .await?;
        }
        let inserted = (chunk_end - chunk_start) as i64;
        crate::row_counts::adjust(&tx, crate::row_counts::POSTS, inserted).await?;
        tx.commit().await?;
    }

    for chunk_start in (0..plan.products).step_by(ROWS_PER_TRANSACTION) {
        let tx = db.begin().await?;
        let chunk_end = (chunk_start + ROWS_PER_TRANSACTION as u64).min(plan.products);
        for batch_start in (chunk_start..chunk_end).step_by(BATCH) {
            let rows: Vec<_> = (batch_start..(batch_start + BATCH as u64).min(chunk_end))
                .map(|n| {
                    let name = format!(
                        "{} {} {n}",
                        ADJECTIVES[rng.random_range(0..ADJECTIVES.len())],
                        NOUNS[rng.random_range(0..NOUNS.len())]
                    );
                    let at = spread(n, plan.products);
                    products::model::ActiveModel {
                        name_key: Set(crate::text::fold_case(&name)),
                        name: Set(name),
                        description: Set(format!("{}.", sentence(&mut rng, 12))),
                        price_cents: Set(rng.random_range(99..=250_000)),
                        sku: Set(Some(format!("S{tag:04X}-{n}"))),
                        stock: Set(rng.random_range(0..500)),
                        created_at: Set(at),
                        updated_at: Set(at),
                        ..Default::default()
                    }
                })
                .collect();
            products::model::Entity::insert_many(rows)
                .exec_without_returning(&tx)
                .await?;
        }
        let inserted = (chunk_end - chunk_start) as i64;
        crate::row_counts::adjust(&tx, crate::row_counts::PRODUCTS, inserted).await?;
        tx.commit().await?;
    }
    crate::db::analyze(db).await?;

    Ok(SeedReport {
        users: plan.users,
        posts: plan.posts,
        products: plan.products,
        elapsed: started.elapsed(),
    })
}
