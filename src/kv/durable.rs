//! The embedded store's memory, kept across restarts: with no Redis, every key the in-process
//! map changes is written through to the database (`kv_entries`), and a start loads what has
//! not expired. Revocations, sessions, lockouts and pending codes then survive a restart, so
//! "logout that really works" holds for the embedded default too.
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use chrono::Utc;
use sea_orm::DatabaseConnection;

use super::{KvError, lock};
use crate::store::{self, StoreError};

pub struct Durable {
    db: DatabaseConnection,
    /// One write at a time, each writing the key's value as it is when its turn comes, so a
    /// slower earlier write never overwrites a later one.
    writes: tokio::sync::Mutex<()>,
}

fn unix_ms() -> i64 {
    Utc::now().timestamp_millis()
}

impl From<StoreError> for KvError {
    fn from(e: StoreError) -> Self {
        Self(format!("embedded store: {e}"))
    }
}

impl Durable {
    /// Loads the live entries into a fresh map.
    ///
    /// # Errors
    /// The database failed.
    pub async fn open(db: DatabaseConnection) -> Result<(Self, HashMap<String, (String, Instant)>), KvError> {
        let (now, now_ms) = (Instant::now(), unix_ms());
        let rows = store::kv_entries::live(&db, now_ms).await?;
        let map = rows
            .into_iter()
            .map(|r| {
                let left = Duration::from_millis(u64::try_from(r.expires_at - now_ms).unwrap_or(0));
                (r.key, (r.value, now + left))
            })
            .collect();
        Ok((Self { db, writes: tokio::sync::Mutex::new(()) }, map))
    }

    /// Writes the current state of `keys` (already prefixed) from `map`: present keys are
    /// upserted with their expiry, absent or expired ones deleted.
    ///
    /// # Errors
    /// The database failed; the in-memory change stands, and the caller reports the error.
    pub async fn persist(
        &self,
        map: &Mutex<HashMap<String, (String, Instant)>>,
        keys: &[String],
    ) -> Result<(), KvError> {
        let _turn = self.writes.lock().await;
        let (now, now_ms) = (Instant::now(), unix_ms());
        let rows: Vec<(&String, Option<(String, i64)>)> = {
            let map = lock(map);
            keys.iter()
                .map(|k| {
                    let entry = map.get(k).filter(|(_, exp)| *exp > now).map(|(v, exp)| {
                        let left = i64::try_from(exp.duration_since(now).as_millis()).unwrap_or(i64::MAX / 2);
                        (v.clone(), now_ms + left)
                    });
                    (k, entry)
                })
                .collect()
        };
        for (key, entry) in rows {
            match entry {
                Some((value, expires_at)) => {
                    store::kv_entries::upsert(&self.db, key, &value, expires_at).await?
                }
                None => store::kv_entries::delete(&self.db, key).await?,
            }
        }
        Ok(())
    }

    /// Deletes expired rows; called when the map sweeps its own.
    pub async fn sweep(&self) {
        if let Err(e) = store::kv_entries::purge_expired(&self.db, unix_ms()).await {
            tracing::warn!(error = %e, "embedded store: expired entries stay until the next sweep");
        }
    }
}
