//! Pages of lists as sent, and totals of filtered lists, each kept with the version of the
//! data it was taken at. The same pages are asked for again and again (the first pages of
//! every list above all), while the data behind them changes far less often.
//!
//! A list reads its version before anything else: a change counter that every write to
//! its table bumps in the writing transaction (`row_counts.changes`, kept by triggers, for
//! posts, users and products). What is cached under a version was
//! read after that version was, so it is never older than it; a write that lands in
//! between bumps the counter past it, and the next request reads afresh. The counter is
//! read from the database on every request, so a write on any instance is seen by the
//! next read on every other.
//!
//! The store is `quick_cache`, bounded by weight (the bytes kept), so that a list of large
//! pages cannot grow the process without bound.

use std::sync::Arc;

use axum::http::HeaderValue;
use bytes::Bytes;
use quick_cache::Weighter;
use quick_cache::sync::Cache;

/// What a value costs to keep, in bytes, roughly.
pub trait Weighed {
    fn weight(&self) -> u64;
}

impl Weighed for u64 {
    fn weight(&self) -> u64 {
        8
    }
}

/// Values by key (built by each list from its filter), each with its version.
pub struct VersionedCache<V> {
    entries: Cache<String, (u64, V), ByWeight>,
}

#[derive(Clone)]
struct ByWeight;

/// A key's allocation, a version, the `Arc` and `Bytes` around a page and quick_cache's
/// bookkeeping of an entry, besides its value, roughly.
const ENTRY_OVERHEAD: u64 = 128;

/// Parts of each cache, each under its own lock (quick_cache's default is four per core,
/// which on a small machine leaves parts too small for a large page).
const SHARDS: usize = 4;

impl<V: Weighed> Weighter<String, (u64, V)> for ByWeight {
    fn weight(&self, key: &String, (_, value): &(u64, V)) -> u64 {
        ENTRY_OVERHEAD + key.len() as u64 + value.weight()
    }
}

impl<V: Weighed + Clone> VersionedCache<V> {
    /// A cache of about `items` entries that keeps at most `bytes` of them, in `SHARDS`
    /// parts: an entry larger than a part (`bytes / SHARDS`) is not kept.
    pub fn new(items: usize, bytes: u64) -> Self {
        let options = quick_cache::OptionsBuilder::new()
            .estimated_items_capacity(items)
            .weight_capacity(bytes)
            .shards(SHARDS)
            .build();
        let entries = match options {
            Ok(options) => {
                Cache::with_options(options, ByWeight, Default::default(), Default::default())
            }
            // Both required options are set above; this is quick_cache's own default.
            Err(_) => Cache::with_weighter(items, bytes, ByWeight),
        };
        VersionedCache { entries }
    }

    /// The value taken at `version`, if there is one.
    pub fn get(&self, key: &str, version: u64) -> Option<V> {
        self.entries
            .get(key)
            .filter(|(at, _)| *at == version)
            .map(|(_, value)| value)
    }

    pub fn put(&self, key: String, version: u64, value: V) {
        self.entries.insert(key, (version, value));
    }
}

/// Totals of filtered lists.
pub type CachedCounts = VersionedCache<u64>;

/// A page of a list as sent, and who sees it otherwise.
pub struct CachedPage {
    /// The JSON body.
    pub body: Bytes,
    /// Its `ETag` (`conditional::etag_of`).
    pub etag: HeaderValue,
    /// Users on the page who are shown more of their own row than others are (`GET /users`
    /// shows a user their email): the page is not theirs to share.
    pub personal: Box<[i64]>,
}

impl Weighed for Arc<CachedPage> {
    fn weight(&self) -> u64 {
        (self.body.len() + self.etag.len() + self.personal.len() * 8) as u64
    }
}

pub type CachedPages = VersionedCache<Arc<CachedPage>>;

/// Filtered totals kept, about.
const COUNTS: usize = 4096;
/// Pages kept, about, and the bytes they may take. A page over a quarter of that (2 MiB:
/// 100 posts of 20 KiB each) is not kept, and is read afresh each time.
const PAGES: usize = 512;
const PAGE_BYTES: u64 = 8 << 20;

/// What the lists keep between requests: each list's keys start with its name.
pub struct ListCache {
    pub counts: CachedCounts,
    pub pages: CachedPages,
}

impl Default for ListCache {
    fn default() -> Self {
        ListCache {
            counts: CachedCounts::new(COUNTS, COUNTS as u64 * (ENTRY_OVERHEAD + 64)),
            pages: CachedPages::new(PAGES, PAGE_BYTES),
        }
    }
}

impl ListCache {
    /// The page cached under `key` at `version`, unless `viewer` is one of its personal
    /// rows.
    pub fn page(
        &self,
        key: &str,
        version: Option<u64>,
        viewer: Option<i64>,
    ) -> Option<Arc<CachedPage>> {
        let page = self.pages.get(key, version?)?;
        if viewer.is_some_and(|id| page.personal.contains(&id)) {
            return None;
        }
        Some(page)
    }

    /// Keeps `page`, read for `viewer`, under `key` at `version`, unless it was read for one
    /// of its personal rows (and so shows them what others may not see).
    pub fn put_page(
        &self,
        key: String,
        version: Option<u64>,
        viewer: Option<i64>,
        page: CachedPage,
    ) {
        let Some(version) = version else { return };
        if viewer.is_some_and(|id| page.personal.contains(&id)) {
            return;
        }
        self.pages.put(key, version, Arc::new(page));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(term: &str) -> String {
        format!("q={term}")
    }

    fn page(body: &'static str, personal: &[i64]) -> CachedPage {
        CachedPage {
            body: Bytes::from_static(body.as_bytes()),
            etag: HeaderValue::from_static("\"tag\""),
            personal: personal.into(),
        }
    }

    #[test]
    fn a_count_is_used_only_at_the_version_it_was_taken() {
        let counts = CachedCounts::new(16, 4096);
        counts.put(key("lamp"), 7, 42);
        assert_eq!(counts.get(&key("lamp"), 7), Some(42));
        assert_eq!(counts.get(&key("lamp"), 8), None);
        assert_eq!(counts.get(&key("Lamp"), 7), None);
    }

    #[test]
    fn the_cache_keeps_no_more_than_its_bytes() {
        // A page of 1 MiB is kept.
        let cache = ListCache::default();
        let large: &'static str = "x".repeat(1 << 20).leak();
        cache.put_page(key("large"), Some(1), None, page(large, &[]));
        assert!(cache.page(&key("large"), Some(1), None).is_some());

        // 20 MiB of 100 KiB pages: some are kept, the cache stays within its bytes.
        let cache = ListCache::default();
        let body: &'static str = "x".repeat(100 << 10).leak();
        for i in 0..200 {
            cache.put_page(key(&i.to_string()), Some(1), None, page(body, &[]));
        }
        let kept = cache.pages.entries.len();
        assert!(kept > 10 && kept < 200, "{kept} kept");
        assert!(cache.pages.entries.weight() <= PAGE_BYTES);

        // A page larger than a part of the cache is not kept at all.
        let huge: &'static str = "x".repeat(PAGE_BYTES as usize / SHARDS + 1).leak();
        cache.put_page(key("huge"), Some(1), None, page(huge, &[]));
        assert!(cache.page(&key("huge"), Some(1), None).is_none());
    }

    #[test]
    fn a_page_comes_back_only_at_its_version() {
        let cache = ListCache::default();
        cache.put_page(key("lamp"), Some(3), None, page("[1,2]", &[]));
        assert_eq!(
            cache.page(&key("lamp"), Some(3), None).unwrap().body,
            "[1,2]"
        );
        assert!(cache.page(&key("lamp"), Some(4), None).is_none());
        assert!(cache.page(&key("lamp"), None, None).is_none());
        // Without a version (its counter missing), nothing is kept.
        cache.put_page(key("desk"), None, None, page("[3]", &[]));
        assert!(cache.page(&key("desk"), Some(0), None).is_none());
    }

    #[test]
    fn a_page_is_not_shared_with_or_by_its_personal_rows() {
        let cache = ListCache::default();
        // Read for user 5, who is on it: it shows them their own email; not kept.
        cache.put_page(key("p1"), Some(1), Some(5), page("mine", &[5, 6]));
        assert!(cache.page(&key("p1"), Some(1), Some(7)).is_none());
        // Read for user 7, who is not: kept, and given to 8, but not to 5 or 6.
        cache.put_page(key("p1"), Some(1), Some(7), page("theirs", &[5, 6]));
        assert_eq!(
            cache.page(&key("p1"), Some(1), Some(8)).unwrap().body,
            "theirs"
        );
        assert!(cache.page(&key("p1"), Some(1), Some(5)).is_none());
        assert!(cache.page(&key("p1"), Some(1), Some(6)).is_none());
    }
}
