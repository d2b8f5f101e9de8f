//! Per-instance cache of user rows for the read-only bearer routes (`/me`, userinfo,
//! introspection), so a verification costs no database query.
//!
//! Correct across instances without a pub/sub delay: every write to a user row sets a new
//! change marker in Redis (`RevocationList::user_changed`), and the revocation check already
//! fetches that marker in its single round trip. An entry is used only while the marker it
//! was loaded under is still the current one, and never for longer than [`MAX_AGE`], which
//! also bounds how stale an entry can be if its marker expires unseen.
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use uuid::Uuid;

use crate::store::entities::users;

/// Longest an entry is trusted, whatever the marker says.
pub const MAX_AGE: Duration = Duration::from_secs(60);
/// Bound on entries per instance (~1 KiB each); a full cache drops its expired entries,
/// then everything.
const MAX_ENTRIES: usize = 50_000;

struct Entry {
    version: Option<String>,
    loaded: Instant,
    user: users::Model,
}

#[derive(Default)]
pub struct UserCache {
    entries: Mutex<HashMap<(Uuid, Uuid), Entry>>,
}

impl UserCache {
    /// The cached row, if it was loaded under `version` less than [`MAX_AGE`] ago.
    pub fn get(&self, tenant: Uuid, user: Uuid, version: Option<&str>) -> Option<users::Model> {
        let entries = self.lock();
        let e = entries.get(&(tenant, user))?;
        (e.version.as_deref() == version && e.loaded.elapsed() < MAX_AGE).then(|| e.user.clone())
    }

    /// Remembers a row read from the database under the marker seen before the read: a
    /// write racing the read sets a newer marker, so the entry is never trusted past it.
    pub fn put(&self, tenant: Uuid, version: Option<String>, user: users::Model) {
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| e.loaded.elapsed() < MAX_AGE);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert((tenant, user.id), Entry { version, loaded: Instant::now(), user });
    }

    pub fn forget(&self, tenant: Uuid, user: Uuid) {
        self.lock().remove(&(tenant, user));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Uuid, Uuid), Entry>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
