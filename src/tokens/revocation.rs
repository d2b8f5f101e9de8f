//! The revocation list checked on every verification: one round trip asks about the token's
//! `jti`, its session (`sid`), the "revoked before" times of its user, its tenant and (for
//! tokens issued to a client app) its client. Entries expire with the
//! tokens they cover, so nothing needs cleaning. Keys share a `{tenant}` hash tag so one MGET
//! stays on one Redis Cluster slot.
use std::{sync::Arc, time::Duration};

use uuid::Uuid;

use super::AccessClaims;
use crate::kv::{Kv, KvError};

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
    pub async fn is_revoked(&self, tenant: Uuid, claims: &AccessClaims) -> Result<bool, KvError> {
        let mut keys = vec![
            jti_key(tenant, &claims.jti),
            sid_key(tenant, &claims.sid),
            user_key(tenant, &claims.sub),
            tenant_key(tenant),
        ];
        if let Some(client) = &claims.client_id {
            keys.push(client_key(tenant, client));
        }
        let found = self.kv.get_many(&keys).await?;
        let present = |i: usize| found.get(i).is_some_and(Option::is_some);
        let before = |i: usize| found.get(i).cloned().flatten().and_then(|v| v.parse::<i64>().ok());
        Ok(present(0) || present(1) || (2..found.len()).any(|i| before(i).is_some_and(|t| claims.iat < t)))
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
    /// Whether a whole session was revoked (logout, reuse, admin action) in the shared store.
    ///
    /// # Errors
    /// The store cannot answer.
    pub async fn is_session_revoked(&self, tenant: Uuid, sid: Uuid) -> Result<bool, KvError> {
        Ok(self.kv.get(&sid_key(tenant, &sid.to_string())).await?.is_some())
    }
}
