//! Recovery codes: ten single-use codes issued with the first enrolment (and on request),
//! shown once and stored only as keyed hashes (HMAC-SHA256 under a key derived from the master
//! key: they carry about 50 bits, too few for a plain hash to resist an offline search, and the
//! failure budget bounds online guessing). Spending one is audited.
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Method, MfaError};
use crate::{domain::ClientMeta, state::AppState, store, store::entities::users, tenancy::TenantContext};

/// How many codes a user gets.
pub const COUNT: usize = 10;

/// Letters and digits that cannot be mistaken for one another.
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// `xxxxx-xxxxx`: never six digits, so one field can take either kind of code.
pub fn generate() -> Vec<String> {
    (0..COUNT)
        .map(|_| {
            let bytes = crate::crypto::random_bytes::<10>();
            let chars: String =
                bytes.iter().map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect()
}

/// Typed codes match whatever their case, spaces and hyphens.
fn normalise(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

pub fn hash(state: &AppState, code: &str) -> String {
    state.master_key.keyed_hash("recovery-code", &normalise(code))
}

/// Spends `code` if it is one of the user's unused codes.
///
/// # Errors
/// Database failure.
pub async fn spend(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
    code: &str,
    now: DateTime<Utc>,
) -> Result<bool, MfaError> {
    if normalise(code).len() != 10 {
        return Ok(false);
    }
    Ok(store::factors::use_code(&state.db, tenant.id, user_id, &hash(state, code), now).await?)
}

/// After a recovery code was spent: the audit event `mfa.recovery_code.used` with the number
/// of codes left, and a notice by mail to the user.
pub(crate) async fn used(
    state: &AppState,
    tenant: &TenantContext,
    user: &users::Model,
    meta: &ClientMeta,
    mut details: serde_json::Value,
    now: DateTime<Utc>,
) {
    let left = store::factors::unused_codes(&state.db, tenant.id, user.id).await.ok();
    if let Some(d) = details.as_object_mut() {
        d.insert("codes_left".into(), serde_json::json!(left));
    }
    super::record(state, tenant, user.id, "mfa.recovery_code.used", true, meta, details, now).await;
    super::notice(state, tenant, user.id, gatehouse_ui::MailKind::RecoveryCodeUsed, now).await;
}

/// Replaces the user's recovery codes with ten new ones, returned once. Needs a confirmed
/// factor and a session that passed a second factor (`amr`). Audited.
///
/// # Errors
/// `Off`, `MethodNotAllowed`, `NotEnrolled`, `StepUpNeeded`, or infrastructure failures.
pub async fn regenerate(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
    amr: &[String],
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<Vec<String>, MfaError> {
    super::method_allowed(tenant, Method::RecoveryCode)?;
    if super::totp::status(state, tenant, user_id).await?.0.is_none() {
        return Err(MfaError::NotEnrolled);
    }
    if !super::passed_second_factor(amr) {
        return Err(MfaError::StepUpNeeded);
    }
    let plain = generate();
    let hashes = plain.iter().map(|c| hash(state, c)).collect();
    store::factors::replace_codes(&state.db, tenant.id, user_id, hashes, now).await?;
    super::record(
        state,
        tenant,
        user_id,
        "mfa.recovery_codes.regenerated",
        true,
        meta,
        serde_json::json!({}),
        now,
    )
    .await;
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_ten_distinct_never_six_digits_and_normalise() {
        let codes = generate();
        assert_eq!(codes.len(), COUNT);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), COUNT);
        for c in &codes {
            assert_eq!(c.len(), 11);
            assert_eq!(normalise(&c.to_uppercase().replace('-', " ")), normalise(c));
            assert!(matches!(super::super::Proof::guess(c), super::super::Proof::RecoveryCode(_)));
        }
    }
}
