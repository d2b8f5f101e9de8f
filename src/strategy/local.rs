//! Username and password, checked against the tenant's own users (`passport-local`).
use chrono::{DateTime, Utc};

use super::{Capabilities, Credentials, ProviderInfo, Strategy, StrategyError, Verified};
use crate::{app::AppState, auth, tenancy::TenantContext};

pub struct Local {
    pub info: ProviderInfo,
}

#[async_trait::async_trait]
impl Strategy for Local {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { password: true, redirect: false }
    }

    async fn complete(
        &self,
        state: &AppState,
        tenant: &TenantContext,
        credentials: Credentials<'_>,
        now: DateTime<Utc>,
    ) -> Result<Verified, StrategyError> {
        let Credentials::Password { username, password, meta, path } = credentials else {
            return Err(StrategyError::Unsupported);
        };
        let user = auth::check_password(state, tenant, username, password, meta, path, now).await?;
        Ok(Verified::User(Box::new(user)))
    }
}
