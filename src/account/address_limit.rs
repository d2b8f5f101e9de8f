//! Per-address throttling of mail-sending requests: besides the per-IP and per-tenant limits
//! (`crate::ratelimit`), one address is sent at most `limits.email_per_address` mails of one
//! kind an hour, whoever asks and from wherever, so nobody can flood an inbox through us. The
//! counter is kept for unknown addresses too, so the limit reveals nothing about accounts.
use std::time::Duration;

use crate::{crypto::sha256_b64, kv::KvError, state::AppState, tenancy::TenantContext};

const WINDOW: Duration = Duration::from_secs(3600);

/// Counts one request to mail `address` for `what`; `false` once over the hourly limit.
///
/// # Errors
/// The shared store is unavailable.
pub async fn allow(
    state: &AppState,
    tenant: &TenantContext,
    what: &str,
    address: &str,
) -> Result<bool, KvError> {
    // Hashed: the store holds no addresses.
    let key = format!("rl:mail:{what}:{{{}}}:{}", tenant.id, sha256_b64(address));
    let counts = state.kv.incr_windows(&[key], WINDOW).await?;
    let count = counts.first().map_or(0, |(c, _)| *c);
    Ok(count <= state.settings.limits.email_per_address)
}
