//! Second factors over JSON: the login's second step (`mfa_token` + a code), enrolment at
//! sign-in (`enrolment_token`), and the user's own factors under `/me/second-factors`.
use std::sync::Arc;

use poem::Request;
use poem::web::Data;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, param::Path, payload::Json};

use super::{ApiTags, auth::SessionTokens, client_meta, security::UserBearer};
use crate::{
    auth,
    error::ApiError,
    mfa::{self, Method, Proof, Purpose},
    state::AppState,
};

pub struct SecondFactorApi;
pub struct MyFactorsApi;

/// A second-step method.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum MfaMethod {
    /// A 6-digit code from an authenticator app (RFC 6238).
    Totp,
    /// One of the single-use recovery codes.
    RecoveryCode,
    /// A passkey (complete with `/auth/mfa/passkey/options` and `/auth/mfa/passkey/verify`).
    Passkey,
}

impl From<Method> for MfaMethod {
    fn from(m: Method) -> Self {
        match m {
            Method::Totp => Self::Totp,
            Method::RecoveryCode => Self::RecoveryCode,
            Method::Passkey => Self::Passkey,
        }
    }
}

/// The 403 problem document of a login that needs a second step.
pub fn challenge_problem(token: String, purpose: Purpose, methods: &[Method]) -> ApiError {
    let methods = methods.iter().map(|m| m.as_str().to_string()).collect();
    let (code, detail) = match purpose {
        Purpose::Verify => {
            ("second_factor_required", "the password was right; now send a code of the second factor")
        }
        Purpose::Enrol => (
            "second_factor_enrolment_required",
            "this account must enrol a second factor before it can sign in",
        ),
    };
    ApiError::second_factor(code, detail, token, mfa::challenge::TTL_SECS, methods)
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct MfaVerifyRequest {
    /// From the login's 403 answer.
    #[oai(validator(max_length = 100))]
    pub mfa_token: String,
    pub method: MfaMethod,
    /// The 6-digit code, or a recovery code (`xxxxx-xxxxx`; case, spaces and hyphens do not
    /// matter).
    #[oai(validator(max_length = 64))]
    pub code: String,
    /// Remember this browser: where the tenant allows it (`remember_device_days`), its next
    /// logins skip the second step for that many days (a `gh_remember_...` cookie; such logins
    /// claim no `mfa`). Ignored where the tenant does not.
    #[oai(default)]
    pub remember_device: bool,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct EnrolmentRequest {
    #[oai(validator(max_length = 100))]
    pub enrolment_token: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct EnrolmentConfirmRequest {
    #[oai(validator(max_length = 100))]
    pub enrolment_token: String,
    /// The first code the authenticator app shows.
    #[oai(validator(max_length = 16))]
    pub code: String,
}

/// What an authenticator app needs. Show the QR code (or the secret) until the first code
/// confirms the enrolment.
#[derive(Object)]
pub struct TotpSetupView {
    /// The secret, base32.
    pub secret: String,
    /// `otpauth://totp/...` for the QR code or a link on mobile.
    pub otpauth_uri: String,
    /// The URI drawn as an SVG QR code (an SVG document, no scripts).
    pub qr_svg: String,
}

impl From<mfa::totp::Setup> for TotpSetupView {
    fn from(s: mfa::totp::Setup) -> Self {
        Self { secret: s.secret, otpauth_uri: s.uri, qr_svg: s.qr_svg }
    }
}

/// Tokens after an enrolment at sign-in, and the recovery codes (shown this once).
#[derive(Object)]
pub struct EnrolledTokens {
    #[oai(flatten)]
    pub tokens: SessionTokens,
    pub recovery_codes: Vec<String>,
}

#[derive(Object)]
pub struct RecoveryCodesView {
    /// Ten single-use codes, shown this once; each replaces a code from the app once.
    pub recovery_codes: Vec<String>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct TotpConfirmRequest {
    #[oai(validator(max_length = 16))]
    pub code: String,
}

/// The caller's second factors and the tenant's policy.
#[derive(Object)]
pub struct SecondFactorsView {
    /// The tenant's mode: `off`, `optional`, `required` or `required_for_admins`.
    pub policy: String,
    /// Whether this account must have a second factor.
    pub required: bool,
    pub allowed_methods: Vec<MfaMethod>,
    /// An authenticator app is enrolled and confirmed.
    pub totp: bool,
    /// An enrolment was started and waits for its first code.
    pub totp_pending: bool,
    #[oai(skip_serializing_if_is_none)]
    pub totp_enrolled_at: Option<chrono::DateTime<chrono::Utc>>,
    pub recovery_codes_left: u64,
    /// How many passkeys the user has (`/me/passkeys` lists them).
    pub passkeys: u64,
}

#[derive(ApiResponse)]
pub enum MfaTokens {
    /// Tokens issued (their `amr` holds `otp` and `mfa`), and a device cookie as a login sets.
    #[oai(status = 200)]
    Ok(Json<SessionTokens>, #[oai(header = "Cache-Control")] String, #[oai(header = "Set-Cookie")] String),
}

#[derive(ApiResponse)]
pub enum SetupResponse {
    /// The enrolment is started; it waits for its first code.
    #[oai(status = 200)]
    Ok(Json<TotpSetupView>, #[oai(header = "Cache-Control")] String),
}

#[derive(ApiResponse)]
pub enum EnrolledResponse {
    /// Enrolled and signed in, with a device cookie as a login sets.
    #[oai(status = 200)]
    Ok(Json<EnrolledTokens>, #[oai(header = "Cache-Control")] String, #[oai(header = "Set-Cookie")] String),
}

#[derive(ApiResponse)]
pub enum CodesResponse {
    /// The new recovery codes; earlier ones no longer work.
    #[oai(status = 200)]
    Ok(Json<RecoveryCodesView>, #[oai(header = "Cache-Control")] String),
}

#[derive(ApiResponse)]
pub enum FactorsResponse {
    #[oai(status = 200)]
    Ok(Json<SecondFactorsView>),
}

#[derive(ApiResponse)]
pub enum RemovedResponse {
    /// Removed (with the last factor, the recovery codes too).
    #[oai(status = 204)]
    NoContent,
}

fn no_store() -> String {
    "no-store".into()
}

pub(super) fn tokens((t, device): auth::second_factor::Completed) -> MfaTokens {
    MfaTokens::Ok(Json(t.into()), no_store(), device)
}

#[OpenApi(tag = "ApiTags::Auth")]
impl SecondFactorApi {
    /// Complete a login's second step
    ///
    /// Sends the `mfa_token` of a login's 403 `second_factor_required` answer with a code:
    /// `totp` (from the authenticator app; each code works once) or `recovery_code` (each
    /// works once). Wrong codes count toward the account's lockout (429 `mfa_locked` after
    /// the tenant's threshold); the `mfa_token` stays usable until it expires or succeeds.
    #[oai(path = "/t/:tenant/auth/mfa/verify", method = "post", operation_id = "verifySecondFactor")]
    async fn verify(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
        body: Json<MfaVerifyRequest>,
    ) -> Result<super::WithCookies<MfaTokens>, ApiError> {
        let b = body.0;
        let proof = match b.method {
            MfaMethod::Totp => Proof::Totp(&b.code),
            MfaMethod::RecoveryCode => Proof::RecoveryCode(&b.code),
            MfaMethod::Passkey => {
                return Err(ApiError::validation(
                    "method",
                    "a passkey answers at /auth/mfa/passkey/options and /auth/mfa/passkey/verify",
                ));
            }
        };
        let (t, remembered) = auth::second_factor::complete(
            state,
            &tenant,
            &b.mfa_token,
            proof,
            b.remember_device,
            client_meta(req),
            chrono::Utc::now(),
        )
        .await?;
        Ok(super::WithCookies(tokens(t), remembered.into_iter().collect()))
    }

    /// Start enrolling an authenticator app at sign-in
    ///
    /// With the `enrolment_token` of a login's 403 `second_factor_enrolment_required` answer:
    /// a new secret, its `otpauth://` URI and a QR code. Calling it again starts over.
    #[oai(
        path = "/t/:tenant/auth/mfa/enrol/totp",
        method = "post",
        operation_id = "startSignInTotpEnrolment"
    )]
    async fn enrol(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
        body: Json<EnrolmentRequest>,
    ) -> Result<SetupResponse, ApiError> {
        let setup = auth::second_factor::enrolment_setup(
            state,
            &tenant,
            &body.0.enrolment_token,
            &client_meta(req),
            chrono::Utc::now(),
        )
        .await?;
        Ok(SetupResponse::Ok(Json(setup.into()), no_store()))
    }

    /// Confirm the enrolment at sign-in
    ///
    /// The first code from the app confirms it and signs the user in: tokens (with `otp` and
    /// `mfa` in `amr`) and ten recovery codes, shown this once.
    #[oai(
        path = "/t/:tenant/auth/mfa/enrol/totp/confirm",
        method = "post",
        operation_id = "confirmSignInTotpEnrolment"
    )]
    async fn confirm(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
        body: Json<EnrolmentConfirmRequest>,
    ) -> Result<EnrolledResponse, ApiError> {
        let b = body.0;
        let ((t, device), codes) = auth::second_factor::confirm_enrolment(
            state,
            &tenant,
            &b.enrolment_token,
            &b.code,
            client_meta(req),
            chrono::Utc::now(),
        )
        .await?;
        let body = EnrolledTokens { tokens: t.into(), recovery_codes: codes };
        Ok(EnrolledResponse::Ok(Json(body), no_store(), device))
    }
}

#[OpenApi(tag = "ApiTags::Me")]
impl MyFactorsApi {
    /// My second factors
    ///
    /// Which second factors the caller has, how many recovery codes are left, and what the
    /// tenant's policy asks of this account.
    #[oai(path = "/t/:tenant/me/second-factors", method = "get", operation_id = "getMySecondFactors")]
    async fn list(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: UserBearer,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
    ) -> Result<FactorsResponse, ApiError> {
        let _ = tenant;
        let p = &auth.0;
        let user = auth::current_user(state, p).await?;
        let (confirmed, pending) = mfa::totp::status(state, &p.tenant, p.user_id).await?;
        let left = crate::store::factors::unused_codes(&state.db, p.tenant.id, p.user_id).await?;
        let policy = &p.tenant.settings.second_factor;
        Ok(FactorsResponse::Ok(Json(SecondFactorsView {
            policy: policy.mode.clone(),
            required: policy.requires(auth::is_admin(&user)),
            allowed_methods: policy.allowed().into_iter().map(Into::into).collect(),
            totp: confirmed.is_some(),
            totp_pending: pending,
            totp_enrolled_at: confirmed.and_then(|f| f.confirmed_at),
            recovery_codes_left: left,
            passkeys: crate::store::passkeys::count(&state.db, p.tenant.id, p.user_id).await?,
        })))
    }

    /// Start enrolling an authenticator app
    ///
    /// A new secret, its `otpauth://` URI and a QR code; confirm with the first code at
    /// `/me/second-factors/totp/confirm`. Starting again replaces an unconfirmed enrolment;
    /// with an app already enrolled the answer is 409 `totp_already_enrolled`.
    #[oai(path = "/t/:tenant/me/second-factors/totp", method = "post", operation_id = "startTotpEnrolment")]
    async fn begin(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        auth: UserBearer,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
    ) -> Result<SetupResponse, ApiError> {
        let _ = tenant;
        let p = &auth.0;
        let user = auth::current_user(state, p).await?;
        let setup = mfa::totp::begin(
            state,
            &p.tenant,
            user.id,
            &user.username,
            &client_meta(req),
            chrono::Utc::now(),
        )
        .await?;
        Ok(SetupResponse::Ok(Json(setup.into()), no_store()))
    }

    /// Confirm the authenticator app
    ///
    /// The first code from the app turns two-step verification on. Returns ten recovery
    /// codes, shown this once. Wrong codes count toward the lockout.
    #[oai(
        path = "/t/:tenant/me/second-factors/totp/confirm",
        method = "post",
        operation_id = "confirmTotpEnrolment"
    )]
    async fn confirm(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        auth: UserBearer,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
        body: Json<TotpConfirmRequest>,
    ) -> Result<CodesResponse, ApiError> {
        let _ = tenant;
        let p = &auth.0;
        let codes = mfa::totp::confirm(
            state,
            &p.tenant,
            p.user_id,
            &body.0.code,
            &client_meta(req),
            chrono::Utc::now(),
        )
        .await?;
        Ok(CodesResponse::Ok(Json(RecoveryCodesView { recovery_codes: codes }), no_store()))
    }

    /// Remove the authenticator app
    ///
    /// Needs a token from a sign-in that passed the second factor (`mfa` in its `amr`; else
    /// 401 `mfa_session_required` with RFC 9470's `insufficient_user_authentication`
    /// challenge), and a tenant policy that does not require one of this account (else 409
    /// `second_factor_required_by_policy`).
    #[oai(path = "/t/:tenant/me/second-factors/totp", method = "delete", operation_id = "removeTotp")]
    async fn remove(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        auth: UserBearer,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
    ) -> Result<RemovedResponse, ApiError> {
        let _ = tenant;
        let p = &auth.0;
        let user = auth::current_user(state, p).await?;
        let admin = auth::is_admin(&user);
        mfa::totp::remove(
            state,
            &p.tenant,
            user.id,
            admin,
            &p.claims.amr,
            &client_meta(req),
            chrono::Utc::now(),
        )
        .await?;
        Ok(RemovedResponse::NoContent)
    }

    /// New recovery codes
    ///
    /// Replaces the recovery codes with ten new ones, shown this once. Needs an enrolled app
    /// and a token from a sign-in that passed the second factor.
    #[oai(
        path = "/t/:tenant/me/second-factors/recovery-codes",
        method = "post",
        operation_id = "regenerateRecoveryCodes"
    )]
    async fn regenerate(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        auth: UserBearer,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
    ) -> Result<CodesResponse, ApiError> {
        let _ = tenant;
        let p = &auth.0;
        let codes = mfa::recovery::regenerate(
            state,
            &p.tenant,
            p.user_id,
            &p.claims.amr,
            &client_meta(req),
            chrono::Utc::now(),
        )
        .await?;
        Ok(CodesResponse::Ok(Json(RecoveryCodesView { recovery_codes: codes }), no_store()))
    }
}
