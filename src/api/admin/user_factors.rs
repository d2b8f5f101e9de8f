//! A user's second factors as an administrator sees them, and the demand to enrol again.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json};
use uuid::Uuid;

use super::{AdminAuth, users::Done};
use crate::{
    admin::{self, user_factors::UserFactors},
    api::ApiTags,
    error::ApiError,
    state::AppState,
};

pub struct AdminUserFactorsApi;

/// One confirmed second factor; never its secret or credential.
#[derive(Object)]
pub struct AdminFactorView {
    pub id: Uuid,
    /// `totp` (an authenticator app) or `passkey`.
    pub kind: String,
    pub name: String,
    /// When it was enrolled (confirmed).
    pub created_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Object)]
pub struct AdminUserFactorsView {
    pub factors: Vec<AdminFactorView>,
    /// Unused recovery codes.
    pub recovery_codes_left: u64,
    /// The user must enrol a second factor at the next sign-in (an administrator's demand).
    pub enrolment_required: bool,
}

impl From<UserFactors> for AdminUserFactorsView {
    fn from(u: UserFactors) -> Self {
        Self {
            factors: u
                .factors
                .into_iter()
                .map(|f| AdminFactorView {
                    id: f.id,
                    kind: f.kind,
                    name: f.name,
                    created_at: f.created_at,
                    last_used_at: f.last_used_at,
                })
                .collect(),
            recovery_codes_left: u.recovery_codes_left,
            enrolment_required: u.enrolment_required,
        }
    }
}

#[OpenApi(tag = "ApiTags::AdminUsers")]
impl AdminUserFactorsApi {
    /// List a user's second factors
    ///
    /// The user's authenticator apps and passkeys (kind, name, enrolled, last used), how many
    /// recovery codes are left, and whether an enrolment is demanded. No secrets.
    #[oai(
        path = "/admin/v1/tenants/:tenant/users/:user_id/second-factors",
        method = "get",
        operation_id = "adminListUserSecondFactors"
    )]
    async fn list(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        user_id: Path<Uuid>,
    ) -> Result<Json<AdminUserFactorsView>, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        Ok(Json(admin::user_factors::list(state, &t, user_id.0).await?.into()))
    }

    /// Reset a user's second factors
    ///
    /// Removes the user's authenticator app, passkeys, recovery codes and remembered devices (a
    /// lost device) and lifts the lock that wrong codes put on the account; the user is told by
    /// mail. Where the tenant requires a second factor, the user enrols a new one at the next
    /// sign-in. Audited as `user.second_factors_reset`.
    #[oai(
        path = "/admin/v1/tenants/:tenant/users/:user_id/second-factors",
        method = "delete",
        operation_id = "adminResetUserSecondFactors"
    )]
    async fn reset_second_factors(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        user_id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        admin::users::reset_second_factors(state, &auth.0, &t, user_id.0, Utc::now()).await?;
        Ok(Done::NoContent)
    }

    /// Require a user to enrol a second factor again
    ///
    /// Resets the user's second factors (as `adminResetUserSecondFactors`; the user is told by
    /// mail) and makes them enrol a new one at their next sign-in, even where the tenant's
    /// policy leaves second factors optional. Enrolling clears the demand. Audited as
    /// `user.second_factor_enrolment_required`. 409 `second_factor_off` where the tenant turned
    /// second factors off.
    #[oai(
        path = "/admin/v1/tenants/:tenant/users/:user_id/second-factors/require-enrolment",
        method = "post",
        operation_id = "adminRequireUserSecondFactorEnrolment"
    )]
    async fn require_enrolment(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        user_id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        admin::user_factors::require_enrolment(state, &auth.0, &t, user_id.0, Utc::now()).await?;
        Ok(Done::NoContent)
    }
}
