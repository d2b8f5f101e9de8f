//! Passwordless sign-in by a mailed link or code. Like `local`, the check itself needs the
//! user store and the mail outbox (`crate::account::email_sign_in`); this entry makes the
//! strategy visible in the tenant's registry, so a tenant opts in by adding a provider of kind
//! `email` (and out by disabling it), and carries its settings.
use serde::Deserialize;

use super::{Capabilities, ProviderInfo, Strategy};
use crate::domain::ValidationError;

/// The provider kind.
pub const EMAIL: &str = "email";

/// The provider's `configuration`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailSignInConfig {
    /// How long a link and code work: 5 to 60 minutes.
    pub valid_minutes: u64,
}

impl Default for EmailSignInConfig {
    fn default() -> Self {
        Self { valid_minutes: 15 }
    }
}

pub struct EmailSignIn {
    pub info: ProviderInfo,
    pub config: EmailSignInConfig,
}

impl EmailSignIn {
    /// # Errors
    /// A lifetime out of bounds.
    pub fn new(info: ProviderInfo, config: EmailSignInConfig) -> Result<Self, ValidationError> {
        if !(5..=60).contains(&config.valid_minutes) {
            return Err(ValidationError::new("configuration.valid_minutes", "must be 5 to 60"));
        }
        Ok(Self { info, config })
    }
}

#[async_trait::async_trait]
impl Strategy for EmailSignIn {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { password: false, redirect: false }
    }

    fn email_sign_in(&self) -> Option<&EmailSignInConfig> {
        Some(&self.config)
    }
}
