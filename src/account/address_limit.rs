//! Per-address throttling of account mail: besides the per-IP and per-tenant limits
//! (`crate::ratelimit`), one address is sent at most `limits.mail_per_address_per_hour` mails
//! of one kind an hour, whoever asks and from wherever, so nobody can flood an inbox through us.
//! The counter is kept for unknown addresses too, so the limit reveals nothing about accounts.
use std::time::Duration;

use uuid::Uuid;

use crate::{crypto::sha256_b64, kv::KvError, state::AppState};

const WINDOW: Duration = Duration::from_secs(3600);

/// Counts one mail of kind `what` to `address`; `Err(seconds until the window ends)` once over
/// the hourly limit.
///
/// # Errors
/// The shared store is unavailable.
pub async fn take(
    state: &AppState,
    tenant: Uuid,
    what: &str,
    address: &str,
) -> Result<Result<(), u64>, KvError> {
    // Hashed: the store holds no addresses.
    let key = format!("rl:mail:{what}:{{{tenant}}}:{}", sha256_b64(address));
    let counts = state.kv.incr_windows(&[key], WINDOW).await?;
    let (count, left) = counts.first().copied().unwrap_or((0, 0));
    Ok(if count > state.settings.limits.mail_per_address_per_hour { Err(left.max(1)) } else { Ok(()) })
}
