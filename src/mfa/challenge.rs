//! The record that carries a sign-in from its first factor to its second: which user, which
//! methods may answer, what the first factor achieved (`amr`), and for the hosted flow which
//! authorization request it belongs to. Kept in the shared store under a hash of its token
//! (`ghm_...`), short-lived, usable for retries until it is met, then spent atomically.
use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Method, MfaError};
use crate::{crypto, state::AppState, tenancy::TenantContext};

/// How long a challenge lives: enough to open an authenticator app, or to enrol one.
pub const TTL_SECS: u64 = 300;

/// What the challenge asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Answer with one of `methods` (`mfa_token`).
    Verify,
    /// Enrol one of `methods`, confirmed by a first code (`enrolment_token`).
    Enrol,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Challenge {
    pub user_id: Uuid,
    pub purpose: Purpose,
    pub methods: Vec<Method>,
    /// What the first factor achieved (`["pwd"]`).
    pub amr: Vec<String>,
    /// Unix seconds of the first factor.
    pub auth_time: i64,
    /// The hosted flow's pending authorization request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Set once the second step is met but the sign-in not yet finished (the hosted page that
    /// shows new recovery codes): the `amr` achieved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed: Option<Vec<String>>,
}

fn key(tenant: &TenantContext, token: &str) -> String {
    format!("mfa:{{{}}}:{}", tenant.id, crypto::sha256_b64(token))
}

const SPENT: &str = "spent";

/// Stores a challenge; returns its token.
///
/// # Errors
/// The shared store cannot be reached.
pub async fn issue(
    state: &AppState,
    tenant: &TenantContext,
    challenge: &Challenge,
) -> Result<String, MfaError> {
    let token = crypto::random_token("ghm_");
    save(state, tenant, &token, challenge).await?;
    Ok(token)
}

/// Overwrites a challenge (keeping its token), e.g. to mark it passed.
///
/// # Errors
/// The shared store cannot be reached.
pub async fn save(
    state: &AppState,
    tenant: &TenantContext,
    token: &str,
    challenge: &Challenge,
) -> Result<(), MfaError> {
    let value = serde_json::to_string(challenge).map_err(anyhow::Error::from)?;
    state.kv.set_many_ex(&[(key(tenant, token), value, Duration::from_secs(TTL_SECS))]).await?;
    Ok(())
}

/// The live challenge behind a token, for `purpose`.
///
/// # Errors
/// `InvalidChallenge` for an unknown, expired, spent or foreign token.
pub async fn load(
    state: &AppState,
    tenant: &TenantContext,
    token: &str,
    purpose: Purpose,
) -> Result<Challenge, MfaError> {
    if !token.starts_with("ghm_") || token.len() > 100 {
        return Err(MfaError::InvalidChallenge);
    }
    let raw = state.kv.get(&key(tenant, token)).await?.ok_or(MfaError::InvalidChallenge)?;
    serde_json::from_str::<Challenge>(&raw)
        .ok()
        .filter(|c| c.purpose == purpose)
        .ok_or(MfaError::InvalidChallenge)
}

/// Spends a challenge: only the first caller succeeds, so a met challenge finishes one sign-in.
///
/// # Errors
/// `InvalidChallenge` when it was spent already or has expired.
pub async fn spend(state: &AppState, tenant: &TenantContext, token: &str) -> Result<(), MfaError> {
    let old = state.kv.replace(&key(tenant, token), SPENT, Duration::from_secs(TTL_SECS)).await?;
    match old {
        Some(v) if v != SPENT => Ok(()),
        _ => Err(MfaError::InvalidChallenge),
    }
}
