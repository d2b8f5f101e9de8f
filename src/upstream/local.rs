//! Username and password, checked against the tenant's own users (`passport-local`). The check
//! itself needs the user store and lockout, so it lives in `crate::auth`; this entry only makes
//! the strategy visible in the tenant's registry.
use super::{Capabilities, ProviderInfo, Strategy};

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
}
