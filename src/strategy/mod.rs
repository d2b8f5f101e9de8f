//! Signing in through an external provider, as our users see it: the round trip
//! ([`flow`]), and what an upstream account means here ([`link`]: link, provision, unlink).
//! Talking to the provider itself is `crate::upstream`.
use crate::{auth::AuthError, upstream::ProviderError};

pub mod flow;
pub mod link;

pub use crate::upstream::{KINDS, check_endpoints, validate};

#[derive(Debug, thiserror::Error)]
pub enum StrategyError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The provider could not be reached in time or answered with something unusable.
    #[error("the provider did not answer usefully: {0}")]
    Upstream(String),
    /// The provider answered, but its answer failed verification (signature, nonce, issuer...).
    #[error("the provider's answer was rejected: {0}")]
    Rejected(String),
    #[error("this provider does not sign users in this way")]
    Unsupported,
}

impl From<ProviderError> for StrategyError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Upstream(why) => Self::Upstream(why),
            ProviderError::Rejected(why) => Self::Rejected(why),
            ProviderError::Unsupported => Self::Unsupported,
        }
    }
}
