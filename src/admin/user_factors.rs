//! An administrator's view of a user's second factors (kinds, names, dates, recovery codes
//! left; never a secret or a credential) and the demand that the user enrol again.
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::{Admin, users};
use crate::{error::ApiError, state::AppState, store, tenancy::TenantContext};

/// One confirmed factor as an administrator sees it.
pub struct FactorSummary {
    pub id: Uuid,
    /// `totp` or `passkey`.
    pub kind: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A user's factors, unused recovery codes, and whether an enrolment is demanded.
pub struct UserFactors {
    pub factors: Vec<FactorSummary>,
    pub recovery_codes_left: u64,
    pub enrolment_required: bool,
}

/// The user's confirmed factors (half-done enrolments are not factors yet).
///
/// # Errors
/// 404 for an unknown user, or a database failure.
pub async fn list(state: &AppState, tenant: &TenantContext, id: Uuid) -> Result<UserFactors, ApiError> {
    let user = users::get(state, tenant, id).await?;
    let rows = store::factors::list(&state.db, tenant.id, user.id).await?;
    let factors = rows
        .into_iter()
        .filter(|f| f.confirmed_at.is_some())
        .map(|f| FactorSummary {
            id: f.id,
            kind: f.kind,
            name: f.name,
            created_at: f.confirmed_at.unwrap_or(f.created_at),
            last_used_at: f.last_used_at,
        })
        .collect();
    let left = store::factors::unused_codes(&state.db, tenant.id, user.id).await?;
    Ok(UserFactors { factors, recovery_codes_left: left, enrolment_required: user.second_factor_required })
}

/// Resets the user's factors (as [`users::reset_second_factors`]: audited, the user told) and
/// makes them enrol a new one at their next sign-in, even where the tenant policy leaves
/// second factors optional. Audited as `user.second_factor_enrolment_required`.
///
/// # Errors
/// 404 for an unknown user, 409 `second_factor_off` when the tenant turned them off, or
/// infrastructure failures.
pub async fn require_enrolment(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if tenant.settings.second_factor.is_off() {
        return Err(ApiError::conflict(
            "second_factor_off",
            "second factors are turned off for this tenant; nobody can enrol one",
        ));
    }
    let user = users::get(state, tenant, id).await?;
    store::users::set_second_factor_required(&state.db, tenant.id, user.id, true).await?;
    users::reset_second_factors(state, admin, tenant, user.id, now).await?;
    users::record(state, admin, tenant, "user.second_factor_enrolment_required", user.id, json!({}), now)
        .await;
    Ok(())
}
