//! Redis Sentinel: `redis+sentinel://[[user]:password@]host:26379[,host:26379...]/service[/db]`.
//! The sentinels name the master; a watcher asks them again every second and, after a
//! failover, points every instance's commands at the new master. Commands sent during the
//! switch fail, and fail closed (503), like any Redis outage.
use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};

use super::{KvError, RedisConn};

pub struct Spec {
    sentinels: Vec<String>,
    service: String,
    username: Option<String>,
    password: Option<String>,
    db: i64,
}

/// `None` when `url` is not a Sentinel URL.
pub fn parse(url: &str) -> Option<Result<Spec, KvError>> {
    let rest = url.strip_prefix("redis+sentinel://")?;
    let bad = |why: &str| KvError(format!("GATEHOUSE__REDIS__URL: {why}"));
    Some((|| {
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((a, r)) => (Some(a), r),
            None => (None, rest),
        };
        let (hosts, path) = rest.split_once('/').ok_or_else(|| bad("name the service: .../<service>"))?;
        let mut parts = path.split('/');
        let service =
            parts.next().filter(|s| !s.is_empty()).ok_or_else(|| bad("the service name is empty"))?;
        let db = match parts.next() {
            Some(d) => d.parse().map_err(|_| bad("the database must be a number"))?,
            None => 0,
        };
        let sentinels: Vec<String> =
            hosts.split(',').filter(|h| !h.is_empty()).map(|h| format!("redis://{h}")).collect();
        if sentinels.is_empty() {
            return Err(bad("list at least one sentinel host:port"));
        }
        let (username, password) = match auth.map(|a| a.split_once(':').unwrap_or(("", a))) {
            Some((u, p)) => ((!u.is_empty()).then(|| u.to_string()), (!p.is_empty()).then(|| p.to_string())),
            None => (None, None),
        };
        Ok(Spec { sentinels, service: service.to_string(), username, password, db })
    })())
}

/// Asks the sentinels for the master and keeps following it.
///
/// # Errors
/// No sentinel answered with a master for the service.
pub async fn connect(
    spec: Spec,
    config: redis::aio::ConnectionManagerConfig,
) -> Result<Arc<RedisConn>, KvError> {
    let mut info = redis::RedisConnectionInfo::default().set_db(spec.db);
    if let Some(u) = &spec.username {
        info = info.set_username(u);
    }
    if let Some(p) = &spec.password {
        info = info.set_password(p);
    }
    let node = SentinelNodeConnectionInfo::default().set_redis_connection_info(info);
    let mut sentinels = SentinelClient::build(
        spec.sentinels.clone(),
        spec.service.clone(),
        Some(node),
        SentinelServerType::Master,
    )?;
    let master = tokio::time::timeout(Duration::from_secs(5), sentinels.async_get_client())
        .await
        .map_err(|_| KvError(format!("the sentinels did not name a master for {} in time", spec.service)))?
        .map_err(|e| KvError(format!("no master for {} from the sentinels: {e}", spec.service)))?;
    tracing::info!(service = %spec.service, master = %master.get_connection_info().addr(), "Redis master from Sentinel");
    let conn = Arc::new(RedisConn::new(master, config)?);
    tokio::spawn(watch(sentinels, spec.service, Arc::downgrade(&conn)));
    Ok(conn)
}

async fn watch(mut sentinels: SentinelClient, service: String, conn: Weak<RedisConn>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(conn) = conn.upgrade() else { return };
        match tokio::time::timeout(Duration::from_secs(2), sentinels.async_get_client()).await {
            Ok(Ok(master)) => {
                let address = master.get_connection_info().addr().to_string();
                if address != conn.address() {
                    tracing::warn!(%service, master = %address, "Redis master changed; switching");
                    if let Err(e) = conn.replace(master) {
                        tracing::error!(error = %e, "could not switch to the new Redis master");
                    }
                }
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "sentinels did not answer; keeping the current master"),
            Err(_) => tracing::debug!("sentinels too slow; keeping the current master"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_urls_name_hosts_service_password_and_db() {
        let s = parse("redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2:26379/gh/2").unwrap().unwrap();
        assert_eq!(s.sentinels, ["redis://10.0.0.1:26379", "redis://10.0.0.2:26379"]);
        assert_eq!((s.service.as_str(), s.password.as_deref(), s.db), ("gh", Some("pw"), 2));
        assert!(parse("redis://127.0.0.1:6379").is_none());
        for bad in [
            "redis+sentinel://h:1",
            "redis+sentinel://h:1/",
            "redis+sentinel:///gh",
            "redis+sentinel://h:1/gh/x",
        ] {
            assert!(parse(bad).unwrap().is_err(), "{bad}");
        }
    }
}
