//! Per-instance caches of rows that the hot paths read on every request (users for `/me`,
//! userinfo and introspection; client apps for client authentication), so those requests
//! cost no database query.
//!
//! Correct across instances without a pub/sub delay: every write to such a row sets a new
//! change marker in Redis (see `RevocationList::user_changed`, `client_changed`), and the
//! request reads the current marker (for users, in the revocation check's single round
//! trip). An entry is used only while the marker it was loaded under is still the current
//! one, and never for longer than [`MAX_AGE`], which also bounds how stale an entry can be
//! if its marker expires unseen.
use std::{
    collections::HashMap,
    hash::Hash,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Longest an entry is trusted, whatever the marker says.
pub const MAX_AGE: Duration = Duration::from_secs(60);
/// Bound on entries per cache and instance (~1 KiB each); a full cache drops its expired
/// entries, then everything.
const MAX_ENTRIES: usize = 50_000;

struct Entry<V> {
    version: Option<String>,
    loaded: Instant,
    value: V,
}

pub struct VersionedCache<K, V> {
    entries: Mutex<HashMap<K, Entry<V>>>,
}

impl<K, V> Default for VersionedCache<K, V> {
    fn default() -> Self {
        Self { entries: Mutex::new(HashMap::new()) }
    }
}

impl<K: Eq + Hash, V: Clone> VersionedCache<K, V> {
    /// The cached value, if it was loaded under `version` less than [`MAX_AGE`] ago.
    pub fn get(&self, key: &K, version: Option<&str>) -> Option<V> {
        let entries = self.lock();
        let e = entries.get(key)?;
        (e.version.as_deref() == version && e.loaded.elapsed() < MAX_AGE).then(|| e.value.clone())
    }

    /// Remembers a row read from the database under the marker seen before the read: a
    /// write racing the read sets a newer marker, so the entry is never trusted past it.
    pub fn put(&self, key: K, version: Option<String>, value: V) {
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| e.loaded.elapsed() < MAX_AGE);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, Entry { version, loaded: Instant::now(), value });
    }

    /// The cached value under `version`, else what `load` reads (remembered under `version`
    /// when found).
    ///
    /// # Errors
    /// Whatever `load` fails with.
    pub async fn get_or_load<E>(
        &self,
        key: K,
        version: Option<String>,
        load: impl Future<Output = Result<Option<V>, E>>,
    ) -> Result<Option<V>, E> {
        if let Some(v) = self.get(&key, version.as_deref()) {
            return Ok(Some(v));
        }
        let found = load.await?;
        if let Some(v) = &found {
            self.put(key, version, v.clone());
        }
        Ok(found)
    }

    pub fn forget(&self, key: &K) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Entry<V>>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
