//! The revocation list checked on every verification: one round trip asks about the token's
//! `jti`, its session (`sid`), the "revoked before" times of its user, its tenant and (for
//! tokens issued to a client app) its client. Entries expire with the
//! tokens they cover, so nothing needs cleaning. Keys share a `{tenant}` hash tag so one MGET
//! stays on one Redis Cluster slot.
use std::{sync::Arc, time::Duration};

use uuid::Uuid;

use super::AccessClaims;
use crate::kv::{Kv, KvError};

/// What one revocation round trip learned about a token.
pub struct Checked {
    pub revoked: bool,
    /// The user's change marker (`None` until the user is first changed).
    pub user_version: Option<String>,
}

pub struct RevocationList {
    kv: Arc<Kv>,
    /// How long session and user entries live: the longest an access token can be valid.
    horizon: Duration,
}

fn jti_key(tenant: Uuid, jti: &str) -> String {
    format!("rv:{{{tenant}}}:j:{jti}")
}
fn sid_key(tenant: Uuid, sid: &str) -> String {
    format!("rv:{{{tenant}}}:s:{sid}")
}
fn user_key(tenant: Uuid, sub: &str) -> String {
    format!("rv:{{{tenant}}}:u:{sub}")
}
/// A per-user change marker, fetched in the same round trip so instances can trust their
/// cached copy of the user row (see `crate::cache`).
fn version_key(tenant: Uuid, sub: &str) -> String {
    format!("rv:{{{tenant}}}:v:{sub}")
}
fn client_version_key(tenant: Uuid, client_id: &str) -> String {
    format!("rv:{{{tenant}}}:cv:{client_id}")
}
fn tenant_key(tenant: Uuid) -> String {
    format!("rv:{{{tenant}}}:t")
}
fn client_key(tenant: Uuid, client_id: &str) -> String {
    format!("rv:{{{tenant}}}:c:{client_id}")
}

impl RevocationList {
    pub fn new(kv: Arc<Kv>, horizon: Duration) -> Self {
        Self { kv, horizon }
    }

    /// # Errors
    /// The store cannot answer; callers must then refuse the token (fail closed).
    pub async fn check(&self, tenant: Uuid, claims: &AccessClaims) -> Result<Checked, KvError> {
        // A token without a session asks about no session: "" is nobody's sid.
        let sid = claims.sid.as_deref().map_or_else(|| jti_key(tenant, &claims.jti), |s| sid_key(tenant, s));
        let mut keys = vec![
            jti_key(tenant, &claims.jti),
            sid,
            version_key(tenant, &claims.sub),
            user_key(tenant, &claims.sub),
            tenant_key(tenant),
        ];
        if let Some(client) = &claims.client_id {
            keys.push(client_key(tenant, client));
        }
        let mut found = self.kv.get_many(&keys).await?;
        let present = |i: usize| found.get(i).is_some_and(Option::is_some);
        let before = |i: usize| found.get(i).cloned().flatten().and_then(|v| v.parse::<i64>().ok());
        let revoked =
            present(0) || present(1) || (3..found.len()).any(|i| before(i).is_some_and(|t| claims.iat < t));
        let user_version = found.get_mut(2).and_then(Option::take);
        Ok(Checked { revoked, user_version })
    }

    /// Marks the user row as changed, so every instance reloads it on its next request
    /// instead of answering from its cache. The marker outlives any cache entry.
    ///
    /// # Errors
    /// The store cannot be written.
    pub async fn user_changed(&self, tenant: Uuid, user: Uuid) -> Result<(), KvError> {
        self.mark_changed(version_key(tenant, &user.to_string())).await
    }

    /// The client app's change marker (`None` until it is first changed).
    ///
    /// # Errors
    /// The store cannot answer.
    pub async fn client_version(&self, tenant: Uuid, client_id: &str) -> Result<Option<String>, KvError> {
        self.kv.get(&client_version_key(tenant, client_id)).await
    }

    /// As [`Self::user_changed`], for a client app's row.
    ///
    /// # Errors
    /// The store cannot be written.
    pub async fn client_changed(&self, tenant: Uuid, client_id: &str) -> Result<(), KvError> {
        self.mark_changed(client_version_key(tenant, client_id)).await
    }

    /// A new random marker. It only has to outlive the cache entries loaded before it: they
    /// are trusted for at most `MAX_AGE`, so after twice that no entry can still match an
    /// older marker, and a missing marker is safe again.
    async fn mark_changed(&self, key: String) -> Result<(), KvError> {
        let ttl = crate::cache::MAX_AGE * 2;
        self.kv.set_many_ex(&[(key, crate::crypto::random_id(), ttl)]).await
    }

    /// Revokes one access token until it would have expired anyway.
    ///
    /// # Errors
    /// The store cannot be written.
    pub async fn revoke_token(&self, tenant: Uuid, claims: &AccessClaims, now: i64) -> Result<(), KvError> {
        let remaining = Duration::from_secs(u64::try_from(claims.exp - now).unwrap_or(0) + 60);
        self.kv.set_many_ex(&[(jti_key(tenant, &claims.jti), "1".into(), remaining)]).await
    }

    /// Revokes every access token of these sessions.
    ///
    /// # Errors
    /// The store cannot be written.
    pub async fn revoke_sessions(&self, tenant: Uuid, sids: &[Uuid]) -> Result<(), KvError> {
        let entries: Vec<_> =
            sids.iter().map(|s| (sid_key(tenant, &s.to_string()), "1".to_string(), self.horizon)).collect();
        self.kv.set_many_ex(&entries).await
    }

    /// Revokes every access token of the user issued before `at` (unix seconds).
    ///
    /// # Errors
    /// The store cannot be written.
    pub async fn revoke_user_before(&self, tenant: Uuid, user: Uuid, at: i64) -> Result<(), KvError> {
        self.kv.set_many_ex(&[(user_key(tenant, &user.to_string()), at.to_string(), self.horizon)]).await
    }
}

impl RevocationList {
    /// Revokes every access token issued to a client before `at` (client disabled or deleted).
    ///
    /// # Errors
    /// The store cannot be written.
    pub async fn revoke_client_before(&self, tenant: Uuid, client_id: &str, at: i64) -> Result<(), KvError> {
        self.kv.set_many_ex(&[(client_key(tenant, client_id), at.to_string(), self.horizon)]).await
    }

    /// Revokes every access token of the tenant issued before `at` (disable, delete).
    ///
    /// # Errors
    /// The store cannot be written.
    pub async fn revoke_tenant_before(&self, tenant: Uuid, at: i64) -> Result<(), KvError> {
        self.kv.set_many_ex(&[(tenant_key(tenant), at.to_string(), self.horizon)]).await
    }
}

impl RevocationList {
    /// Whether a whole session was revoked (logout, reuse, admin action) in the shared store,
    /// with its user's change marker, in one round trip (for refresh rotation).
    ///
    /// # Errors
    /// The store cannot answer.
    pub async fn check_session(&self, tenant: Uuid, sid: Uuid, user: Uuid) -> Result<Checked, KvError> {
        let keys = [sid_key(tenant, &sid.to_string()), version_key(tenant, &user.to_string())];
        let mut found = self.kv.get_many(&keys).await?;
        let user_version = found.get_mut(1).and_then(Option::take);
        Ok(Checked { revoked: found.first().is_some_and(Option::is_some), user_version })
    }

    /// Whether a whole session was revoked (logout, reuse, admin action) in the shared store.
    ///
    /// # Errors
    /// The store cannot answer.
    pub async fn is_session_revoked(&self, tenant: Uuid, sid: Uuid) -> Result<bool, KvError> {
        Ok(self.kv.get(&sid_key(tenant, &sid.to_string())).await?.is_some())
    }
}
