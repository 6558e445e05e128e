//! Cached `total`s and pages of product searches, each kept with the version of the data it
//! was taken at. Finding the products whose name contains a term is a scan that grows with
//! the catalogue, while products change rarely (admins only) and the same searches repeat.
//! The products list stores each count and page with the `product_changes` counter read
//! before it was taken; every product write bumps that counter in its own transaction, so a
//! cached value is used only while no product has changed since, on any instance.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Enough for the popular searches; when full it starts again rather than tracking use.
const CAPACITY: usize = 4096;

/// Values by key (a key the list builds from its filter), each with the version of the data
/// it was taken at: counts, and whole pages of product searches.
pub struct VersionedCache<V> {
    entries: Mutex<HashMap<String, (u64, V)>>,
    capacity: usize,
}

/// Totals of filtered lists.
pub type CachedCounts = VersionedCache<u64>;

impl<V: Clone> Default for VersionedCache<V> {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl<V: Clone> VersionedCache<V> {
    /// A cache of at most `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        VersionedCache {
            entries: Mutex::default(),
            capacity,
        }
    }

    /// The value taken at `version`, if there is one.
    pub fn get(&self, key: &str, version: u64) -> Option<V> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| *at == version)
            .map(|(_, value)| value.clone())
    }

    pub fn put(&self, key: String, version: u64, value: V) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(key.as_str()) {
            entries.clear();
        }
        entries.insert(key, (version, value));
    }
}

/// Pages of searches kept, at most (each up to the largest `limit`).
const CACHED_PAGES: usize = 256;

/// What a filtered list keeps between requests: its totals, and its pages (of whatever row
/// type the list reads: the state that holds this knows no domain).
pub struct ListCache {
    pub counts: CachedCounts,
    pages: VersionedCache<Arc<dyn Any + Send + Sync>>,
}

impl Default for ListCache {
    fn default() -> Self {
        ListCache {
            counts: CachedCounts::default(),
            pages: VersionedCache::with_capacity(CACHED_PAGES),
        }
    }
}

impl ListCache {
    /// The page (rows and total) read at `version` under `key`, if there is one.
    pub fn page<T: Send + Sync + 'static>(
        &self,
        key: &str,
        version: u64,
    ) -> Option<Arc<(Vec<T>, u64)>> {
        self.pages.get(key, version)?.downcast().ok()
    }

    pub fn put_page<T: Send + Sync + 'static>(
        &self,
        key: String,
        version: u64,
        page: (Vec<T>, u64),
    ) {
        self.pages.put(key, version, Arc::new(page));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(term: &str) -> String {
        format!("q={term}")
    }

    #[test]
    fn a_count_is_used_only_at_the_version_it_was_taken() {
        let counts = CachedCounts::default();
        counts.put(key("lamp"), 7, 42);
        assert_eq!(counts.get(&key("lamp"), 7), Some(42));
        assert_eq!(counts.get(&key("lamp"), 8), None);
        assert_eq!(counts.get(&key("Lamp"), 7), None);
    }

    #[test]
    fn a_full_cache_starts_again() {
        let counts = CachedCounts::default();
        for i in 0..CAPACITY {
            counts.put(key(&i.to_string()), 1, 1);
        }
        counts.put(key("one more"), 1, 5);
        assert_eq!(counts.get(&key("one more"), 1), Some(5));
        assert_eq!(counts.get(&key("0"), 1), None);
    }

    #[test]
    fn a_page_comes_back_only_at_its_version_and_as_its_type() {
        let cache = ListCache::default();
        cache.put_page(key("lamp"), 3, (vec![1_i64, 2], 9));
        assert_eq!(
            cache.page::<i64>(&key("lamp"), 3).unwrap().as_ref(),
            &(vec![1, 2], 9)
        );
        assert!(cache.page::<i64>(&key("lamp"), 4).is_none());
        assert!(cache.page::<String>(&key("lamp"), 3).is_none());
    }
}
