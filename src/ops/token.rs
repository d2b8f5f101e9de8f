//! `gatehouse token`: an admin access token for scripts, from the configured database and master
//! key, so no password goes on a command line or into shell history. The token opens a session
//! of its own (its `sid`), so logging it out or ending the admin's sessions revokes it.
use anyhow::{anyhow, bail};
use chrono::{Duration, Utc};
use serde_json::json;

use super::Ops;
use crate::{
    auth::{self, AccessGrant, Audience, ROLE_ADMIN, ROLE_TENANT_ADMIN},
    domain::Username,
    store::{self, sessions::NewSession},
    tenancy::TenantDirectory,
};

/// An issued admin token and how long it lives, in seconds.
pub struct AdminToken {
    pub token: String,
    pub expires_in: u64,
}

impl Ops {
    /// Signs an admin access token for an active administrator of `slug`.
    ///
    /// # Errors
    /// Unknown or disabled tenant or user, a user who is no administrator, a lifetime beyond
    /// `tokens.max_access_ttl_secs`, or a database failure.
    pub async fn admin_token(
        &self,
        slug: &str,
        username: &str,
        ttl_secs: Option<u64>,
    ) -> anyhow::Result<AdminToken> {
        let max = self.settings.tokens.max_access_ttl_secs;
        if let Some(ttl) = ttl_secs.filter(|t| *t == 0 || *t > max) {
            bail!("--ttl {ttl}: must be 1 to {max} seconds (tokens.max_access_ttl_secs)");
        }
        let now = Utc::now();
        let tenants = TenantDirectory::new(self.db.clone(), self.master_key.clone(), &self.settings);
        let tenant = tenants
            .get_active(slug)
            .await
            .map_err(|e| anyhow!("{e}"))?
            .ok_or_else(|| anyhow!("no active tenant {slug:?}"))?;
        let name = Username::lookup(username).map_err(|e| anyhow!("--username: {}", e.message))?;
        let user = store::users::find_by_username(&self.db, tenant.id, name.as_str())
            .await?
            .filter(|u| u.status == "active")
            .ok_or_else(|| anyhow!("no active user {username:?} in tenant {slug}"))?;
        if !auth::roles_of(&user).iter().any(|r| r == ROLE_ADMIN || r == ROLE_TENANT_ADMIN) {
            bail!("{username} is not an administrator of {slug} (roles admin or tenant-admin)");
        }
        let ttl = ttl_secs.unwrap_or(tenant.settings.access_token_ttl_secs);
        let session = NewSession {
            id: None,
            user_id: user.id,
            client_id: None,
            parent_id: None,
            scope: Some("admin".into()),
            auth_time: None,
            ip: None,
            user_agent: Some("gatehouse-cli".into()),
            expires_at: now + Duration::seconds(i64::try_from(ttl).unwrap_or(i64::MAX / 2)),
        };
        let session = store::sessions::create(&self.db, tenant.id, session, now).await?;
        let grant = AccessGrant {
            subject: user.id.to_string(),
            session_id: Some(session.id.to_string()),
            audience: Audience::Admin,
            scope: "admin",
            client_id: None,
            ttl_secs: Some(ttl),
            amr: &[],
        };
        let (token, expires_in) =
            auth::sign_access_token(&tenant, &grant, now).map_err(|e| anyhow!("{e}"))?;
        let details = json!({ "session_id": session.id, "expires_in": expires_in });
        self.audit(tenant.id, "admin.token_issued", format!("user:{}", user.id), details).await;
        Ok(AdminToken { token, expires_in })
    }
}
