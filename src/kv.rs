//! Short-lived shared state (revocations, sessions, lockouts, pending codes, rate windows):
//! Redis when configured, otherwise an in-process map written through to the database
//! ([`durable`]), so the embedded default keeps what matters across a restart.
//! Every Redis command has a response timeout, so an outage is an error, never a hang.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use redis::{AsyncCommands, aio::ConnectionManager};

use sea_orm::DatabaseConnection;

use crate::config::RedisSettings;

mod durable;
mod sentinel;

/// The Redis connection in use, replaceable: with Sentinel, a failover swaps in the new master.
pub struct RedisConn {
    current: RwLock<(ConnectionManager, redis::Client)>,
    config: redis::aio::ConnectionManagerConfig,
}

impl RedisConn {
    fn new(client: redis::Client, config: redis::aio::ConnectionManagerConfig) -> Result<Self, KvError> {
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())?;
        Ok(Self { current: RwLock::new((conn, client)), config })
    }

    fn conn(&self) -> ConnectionManager {
        self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).0.clone()
    }

    fn client(&self) -> redis::Client {
        self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).1.clone()
    }

    fn address(&self) -> String {
        self.client().get_connection_info().addr().to_string()
    }

    /// Points every later command at `client` (a new master).
    fn replace(&self, client: redis::Client) -> Result<(), KvError> {
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), self.config.clone())?;
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = (conn, client);
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("token store: {0}")]
pub struct KvError(String);

impl From<redis::RedisError> for KvError {
    fn from(e: redis::RedisError) -> Self {
        crate::metrics::redis_error();
        Self(e.to_string())
    }
}

pub enum Kv {
    Redis { redis: Arc<RedisConn>, prefix: String },
    Memory { map: Mutex<HashMap<String, (String, Instant)>>, prefix: String, durable: durable::Durable },
}

impl Kv {
    /// Redis when a URL is configured, else the embedded store kept in `db`.
    ///
    /// # Errors
    /// The Redis URL is invalid, or the embedded store cannot be read. An unreachable Redis is
    /// not an error here: the connection is established lazily and retried, so the service
    /// starts and recovers on its own.
    pub async fn connect(settings: &RedisSettings, db: &DatabaseConnection) -> Result<Self, KvError> {
        let Some(url) = &settings.url else {
            tracing::info!(
                "no GATEHOUSE__REDIS__URL: using the embedded store in the database (single instance only)"
            );
            let (durable, map) = durable::Durable::open(db.clone()).await?;
            return Ok(Self::Memory { map: Mutex::new(map), prefix: settings.key_prefix.clone(), durable });
        };
        let timeout = Duration::from_millis(settings.command_timeout_ms);
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(timeout))
            .set_connection_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let redis = match sentinel::parse(url.expose()) {
            Some(spec) => sentinel::connect(spec?, config).await?,
            None => Arc::new(RedisConn::new(redis::Client::open(url.expose())?, config)?),
        };
        Ok(Self::Redis { redis, prefix: settings.key_prefix.clone() })
    }

    /// Writes the embedded store's changed keys (already prefixed) through to the database.
    async fn persist(&self, keys: &[String]) -> Result<(), KvError> {
        match self {
            Self::Memory { map, durable, .. } => durable.persist(map, keys).await,
            Self::Redis { .. } => Ok(()),
        }
    }

    fn key(&self, key: &str) -> String {
        let prefix = match self {
            Self::Redis { prefix, .. } | Self::Memory { prefix, .. } => prefix,
        };
        format!("{prefix}{key}")
    }

    /// # Errors
    /// Redis is unreachable or too slow.
    pub async fn ping(&self) -> Result<(), KvError> {
        match self {
            Self::Redis { redis, .. } => {
                let mut conn = redis.conn();
                let _: String = redis::cmd("PING").query_async(&mut conn).await?;
                Ok(())
            }
            Self::Memory { .. } => Ok(()),
        }
    }

    /// Sets several keys, each with its own expiry, in one round trip.
    ///
    /// # Errors
    /// Redis is unreachable or too slow.
    pub async fn set_many_ex(&self, entries: &[(String, String, Duration)]) -> Result<(), KvError> {
        if entries.is_empty() {
            return Ok(());
        }
        match self {
            Self::Redis { redis, .. } => {
                let mut pipe = redis::pipe();
                for (k, v, ttl) in entries {
                    pipe.set_ex(self.key(k), v, ttl.as_secs().max(1)).ignore();
                }
                let mut conn = redis.conn();
                let () = pipe.query_async(&mut conn).await?;
                Ok(())
            }
            Self::Memory { map, durable, .. } => {
                let now = Instant::now();
                let swept = {
                    let mut map = lock(map);
                    let sweep = map.len() > 10_000;
                    if sweep {
                        map.retain(|_, (_, exp)| *exp > now);
                    }
                    for (k, v, ttl) in entries {
                        map.insert(self.key(k), (v.clone(), now + *ttl));
                    }
                    sweep
                };
                if swept {
                    durable.sweep().await;
                }
                let keys: Vec<String> = entries.iter().map(|(k, _, _)| self.key(k)).collect();
                self.persist(&keys).await
            }
        }
    }

    /// Reads several keys in one round trip.
    ///
    /// # Errors
    /// Redis is unreachable or too slow.
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, KvError> {
        match self {
            Self::Redis { redis, .. } => {
                let full: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
                let mut conn = redis.conn();
                Ok(conn.mget(full).await?)
            }
            Self::Memory { map, .. } => {
                let now = Instant::now();
                let map = lock(map);
                Ok(keys
                    .iter()
                    .map(|k| map.get(&self.key(k)).filter(|(_, exp)| *exp > now).map(|(v, _)| v.clone()))
                    .collect())
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Kv {
    /// Publishes `message` to every instance listening on `channel`. In-process: a no-op.
    ///
    /// # Errors
    /// Redis is unreachable or too slow.
    pub async fn publish(&self, channel: &str, message: &str) -> Result<(), KvError> {
        if let Self::Redis { redis, .. } = self {
            let mut conn = redis.conn();
            let _: i64 = conn.publish(self.key(channel), message).await?;
        }
        Ok(())
    }

    /// Calls `on_message` for every message on `channel` until the process ends, reconnecting
    /// after failures; `on_reconnect` runs after each (re)subscription, since messages sent
    /// while disconnected are lost. Returns at once for the in-process store.
    pub async fn listen(
        &self,
        channel: &str,
        on_message: impl Fn(String) + Send + Sync,
        on_reconnect: impl Fn() + Send + Sync,
    ) {
        use futures_util::StreamExt;
        let Self::Redis { redis, .. } = self else { return };
        let channel = self.key(channel);
        let mut delay = Duration::from_millis(200);
        loop {
            // The current client: after a Sentinel failover, the new master.
            match redis.client().get_async_pubsub().await {
                Ok(mut pubsub) => {
                    if pubsub.subscribe(&channel).await.is_ok() {
                        delay = Duration::from_millis(200);
                        on_reconnect();
                        let mut messages = pubsub.on_message();
                        while let Some(msg) = messages.next().await {
                            if let Ok(payload) = msg.get_payload::<String>() {
                                on_message(payload);
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "invalidation channel unavailable; retrying"),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
}

impl Kv {
    /// # Errors
    /// Redis is unreachable or too slow.
    pub async fn get(&self, key: &str) -> Result<Option<String>, KvError> {
        Ok(self.get_many(&[key.to_string()]).await?.into_iter().next().flatten())
    }

    /// Replaces the value of an existing key and returns the old one, atomically; a missing
    /// key stays missing and gives `None`. This is what makes a code single-use.
    ///
    /// # Errors
    /// Redis is unreachable or too slow.
    pub async fn replace(&self, key: &str, value: &str, ttl: Duration) -> Result<Option<String>, KvError> {
        match self {
            Self::Redis { redis, .. } => {
                let mut conn = redis.conn();
                Ok(redis::cmd("SET")
                    .arg(self.key(key))
                    .arg(value)
                    .arg("XX")
                    .arg("GET")
                    .arg("EX")
                    .arg(ttl.as_secs().max(1))
                    .query_async(&mut conn)
                    .await?)
            }
            Self::Memory { map, .. } => {
                let now = Instant::now();
                let k = self.key(key);
                let old = match lock(map).get_mut(&k) {
                    Some(entry) if entry.1 > now => {
                        Some(std::mem::replace(entry, (value.to_string(), now + ttl)).0)
                    }
                    _ => None,
                };
                if old.is_some() {
                    self.persist(&[k]).await?;
                }
                Ok(old)
            }
        }
    }

    /// # Errors
    /// Redis is unreachable or too slow.
    pub async fn delete(&self, key: &str) -> Result<(), KvError> {
        match self {
            Self::Redis { redis, .. } => {
                let mut conn = redis.conn();
                let _: i64 = conn.del(self.key(key)).await?;
            }
            Self::Memory { map, .. } => {
                let k = self.key(key);
                lock(map).remove(&k);
                self.persist(&[k]).await?;
            }
        }
        Ok(())
    }
}

impl Kv {
    /// [`Kv::incr_window`] for several counters in one round trip.
    ///
    /// # Errors
    /// Redis is unreachable or too slow.
    pub async fn incr_windows(&self, keys: &[String], ttl: Duration) -> Result<Vec<(u64, u64)>, KvError> {
        match self {
            Self::Redis { redis, .. } => {
                let mut pipe = redis::pipe();
                pipe.atomic();
                for key in keys {
                    let k = self.key(key);
                    pipe.incr(&k, 1)
                        .cmd("EXPIRE")
                        .arg(&k)
                        .arg(ttl.as_secs().max(1))
                        .arg("NX")
                        .ignore()
                        .ttl(&k);
                }
                let mut conn = redis.conn();
                let flat: Vec<i64> = pipe.query_async(&mut conn).await?;
                Ok(flat
                    .chunks(2)
                    .map(|c| {
                        let count = c.first().copied().unwrap_or(0);
                        let left = c.get(1).copied().unwrap_or(0);
                        (u64::try_from(count).unwrap_or(0), u64::try_from(left).unwrap_or(ttl.as_secs()))
                    })
                    .collect())
            }
            Self::Memory { .. } => {
                let mut out = Vec::with_capacity(keys.len());
                for key in keys {
                    out.push(self.incr_window(key, ttl).await?);
                }
                Ok(out)
            }
        }
    }

    /// Adds one to a counter that expires `ttl` after its first increment; returns the new
    /// count and the seconds left until it expires. One round trip.
    ///
    /// # Errors
    /// Redis is unreachable or too slow.
    pub async fn incr_window(&self, key: &str, ttl: Duration) -> Result<(u64, u64), KvError> {
        match self {
            Self::Redis { redis, .. } => {
                let k = self.key(key);
                let mut pipe = redis::pipe();
                pipe.atomic()
                    .incr(&k, 1)
                    .cmd("EXPIRE")
                    .arg(&k)
                    .arg(ttl.as_secs().max(1))
                    .arg("NX")
                    .ignore()
                    .ttl(&k);
                let mut conn = redis.conn();
                let (count, left): (u64, i64) = pipe.query_async(&mut conn).await?;
                Ok((count, u64::try_from(left).unwrap_or(ttl.as_secs())))
            }
            Self::Memory { map, .. } => {
                let now = Instant::now();
                let k = self.key(key);
                let counted = {
                    let mut map = lock(map);
                    let entry = map.entry(k.clone()).or_insert_with(|| ("0".into(), now + ttl));
                    if entry.1 <= now {
                        *entry = ("0".into(), now + ttl);
                    }
                    let count = entry.0.parse::<u64>().unwrap_or(0) + 1;
                    entry.0 = count.to_string();
                    (count, entry.1.saturating_duration_since(now).as_secs().max(1))
                };
                self.persist(&[k]).await?;
                Ok(counted)
            }
        }
    }

    /// The current value of a [`Kv::incr_window`] counter and its seconds left (0, 0 if absent).
    ///
    /// # Errors
    /// Redis is unreachable or too slow.
    pub async fn window(&self, key: &str) -> Result<(u64, u64), KvError> {
        match self {
            Self::Redis { redis, .. } => {
                let k = self.key(key);
                let mut pipe = redis::pipe();
                pipe.get(&k).ttl(&k);
                let mut conn = redis.conn();
                let (count, left): (Option<u64>, i64) = pipe.query_async(&mut conn).await?;
                Ok((count.unwrap_or(0), u64::try_from(left).unwrap_or(0)))
            }
            Self::Memory { map, .. } => {
                let now = Instant::now();
                let map = lock(map);
                Ok(map
                    .get(&self.key(key))
                    .filter(|(_, exp)| *exp > now)
                    .map(|(v, exp)| {
                        (v.parse().unwrap_or(0), exp.saturating_duration_since(now).as_secs().max(1))
                    })
                    .unwrap_or((0, 0)))
            }
        }
    }
}
