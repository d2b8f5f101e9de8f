//! Passkeys (WebAuthn through webauthn-rs): several per user, registered from the account API
//! or at sign-in, used as a second step, as a first factor after a username, or usernameless
//! (discoverable credentials). User verification is always required, so a passkey use is two
//! factors (`hwk`/`swk` + `user` + `mfa`).
//!
//! Each ceremony's state lives server side in the shared store under a hash of its token
//! (`ghp_...`), for [`TTL_SECS`], and is taken atomically by the one request that finishes
//! it: a replayed response finds nothing. The RP ID is the tenant's (`settings.passkeys.rp_id`,
//! default the public URL's host); the one allowed origin is the public URL's.
mod assert;
mod manage;
mod register;

pub use assert::{Asserted, finish_assertion, start_assertion, verify_second_step};
pub use manage::{PasskeyInfo, list, remove, rename};
pub use register::{
    Registered, finish_registration, new_row, start_registration, store_registration, synced,
};

use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use webauthn_rs::prelude::{Url, Webauthn, WebauthnBuilder};

use super::{Method, MfaError};
use crate::{crypto, state::AppState, tenancy::TenantContext};

/// How long a ceremony waits for the authenticator (also the browser's timeout).
pub const TTL_SECS: u64 = 300;

/// Longest passkey name.
pub const MAX_NAME: usize = 100;

/// Passkeys may be registered and used when the tenant lists `passkey` among its methods. The
/// mode does not matter: with second factors `off` a passkey still signs in on its own.
///
/// # Errors
/// `MethodNotAllowed`.
pub fn allowed(tenant: &TenantContext) -> Result<(), MfaError> {
    if tenant.settings.second_factor.allowed().contains(&Method::Passkey) {
        Ok(())
    } else {
        Err(MfaError::MethodNotAllowed)
    }
}

/// Whether the hosted pages offer passkeys: allowed by the tenant and possible under the public
/// URL (a host name; browsers refuse IP addresses as RP IDs).
pub fn offered(state: &AppState, tenant: &TenantContext) -> bool {
    allowed(tenant).is_ok() && tenant.settings.passkeys.rp_id_for(&state.settings.public_url()).is_ok()
}

/// The tenant's relying party: its RP ID and the public URL as the one origin.
fn relying_party(state: &AppState, tenant: &TenantContext) -> Result<Webauthn, MfaError> {
    let public_url = state.settings.public_url();
    let rp_id = tenant
        .settings
        .passkeys
        .rp_id_for(&public_url)
        .map_err(|e| MfaError::PasskeysUnavailable(e.to_string()))?;
    let origin = Url::parse(&public_url).map_err(|e| MfaError::PasskeysUnavailable(e.to_string()))?;
    let name = tenant.settings.branding.name.as_deref().unwrap_or(&tenant.display_name);
    WebauthnBuilder::new(&rp_id, &origin)
        .and_then(|b| b.rp_name(name).timeout(Duration::from_secs(TTL_SECS)).build())
        .map_err(|e| MfaError::PasskeysUnavailable(e.to_string()))
}

/// A credential id as stored and compared: base64url without padding.
fn credential_id(raw: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// What a ceremony is for; a token of one kind never finishes another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ceremony {
    /// Registering a passkey for `user_id` (an existing user, or the account being created).
    Register,
    /// Proving a passkey: of `user_id` when known, else of whoever the authenticator names.
    Assert,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    ceremony: Ceremony,
    user_id: Option<Uuid>,
    /// The webauthn-rs state (challenge, allowed credentials, policy).
    state: serde_json::Value,
    /// What the caller carries to the end (a new account's username and email).
    #[serde(default)]
    extra: serde_json::Value,
}

fn key(tenant: &TenantContext, token: &str) -> String {
    format!("pk:{{{}}}:{}", tenant.id, crypto::sha256_b64(token))
}

const SPENT: &str = "spent";

async fn save(state: &AppState, tenant: &TenantContext, stored: &Stored) -> Result<String, MfaError> {
    let token = crypto::random_token("ghp_");
    let value = serde_json::to_string(stored).map_err(anyhow::Error::from)?;
    state.kv.set_many_ex(&[(key(tenant, &token), value, Duration::from_secs(TTL_SECS))]).await?;
    Ok(token)
}

/// Takes a ceremony's state: the first caller gets it, later ones (a replay) get
/// `PasskeyCeremonyInvalid`, as do unknown, expired and foreign tokens.
async fn take(
    state: &AppState,
    tenant: &TenantContext,
    token: &str,
    ceremony: Ceremony,
) -> Result<Stored, MfaError> {
    if !token.starts_with("ghp_") || token.len() > 100 {
        return Err(MfaError::PasskeyCeremonyInvalid);
    }
    let old = state.kv.replace(&key(tenant, token), SPENT, Duration::from_secs(TTL_SECS)).await?;
    old.filter(|v| v != SPENT)
        .and_then(|v| serde_json::from_str::<Stored>(&v).ok())
        .filter(|s| s.ceremony == ceremony)
        .ok_or(MfaError::PasskeyCeremonyInvalid)
}

/// Parses a browser's response (the JSON of a `PublicKeyCredential`).
fn parse<T: serde::de::DeserializeOwned>(credential: &serde_json::Value) -> Result<T, MfaError> {
    serde_json::from_value(credential.clone()).map_err(|_| MfaError::PasskeyRejected)
}
