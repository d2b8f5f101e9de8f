//! Second factors: which users must pass a second step (the tenant policy), the challenge that
//! carries a sign-in from its first factor to its second, and checking a proof under a lockout
//! budget like the password's. The methods live in [`totp`] and [`recovery`]; a new method adds
//! a [`Method`] and a [`Proof`] variant and its check in [`verify`].
//!
//! This service issues no tokens: `auth` (JSON API) and `web` (hosted pages) finish a sign-in
//! once a challenge is met, each in its own way.
pub mod challenge;
pub mod passkey;
pub mod recovery;
pub mod remember;
pub mod totp;

pub use challenge::{Challenge, Purpose};

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use crate::domain::authn::Method;
use crate::{
    audit::{self, Event},
    domain::ClientMeta,
    error::ApiError,
    kv::KvError,
    state::AppState,
    store::{self, StoreError, entities::users},
    tenancy::TenantContext,
};

#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    #[error("second factors are turned off for this tenant")]
    Off,
    #[error("this method is not allowed for this tenant")]
    MethodNotAllowed,
    #[error("an authenticator app is already enrolled; remove it first")]
    AlreadyEnrolled,
    #[error("no authenticator app is being enrolled; start the enrolment first")]
    NotEnrolling,
    #[error("no second factor is enrolled")]
    NotEnrolled,
    #[error("the code is wrong, expired or already used")]
    InvalidCode,
    #[error("too many failed attempts; try again later")]
    Locked { retry_after: u64 },
    #[error("the mfa_token or enrolment_token is invalid, expired or already used")]
    InvalidChallenge,
    #[error("this change needs a session that passed a second factor; sign in again with it")]
    StepUpNeeded,
    #[error("the tenant requires a second factor for this account")]
    RequiredByPolicy,
    #[error("the passkey_token is invalid, expired or already used; start again")]
    PasskeyCeremonyInvalid,
    #[error("the passkey did not verify; try again or use another way to sign in")]
    PasskeyRejected,
    #[error("this passkey is registered already")]
    PasskeyDuplicate,
    #[error("no such passkey")]
    PasskeyNotFound,
    #[error("a passkey name is at most 100 characters, without control characters")]
    InvalidPasskeyName,
    #[error("this would leave the account without a way to sign in")]
    LastSignInMethod,
    #[error("no such remembered device")]
    DeviceNotFound,
    #[error("passkeys are not available here: {0}")]
    PasskeysUnavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Kv(#[from] KvError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<MfaError> for ApiError {
    fn from(e: MfaError) -> Self {
        let msg = e.to_string();
        match e {
            MfaError::Off => Self::forbidden("second_factor_off", msg),
            MfaError::MethodNotAllowed => Self::forbidden("method_not_allowed", msg),
            MfaError::AlreadyEnrolled => Self::conflict("totp_already_enrolled", msg),
            MfaError::NotEnrolling => Self::conflict("totp_not_enrolling", msg),
            MfaError::NotEnrolled => Self::not_found("second_factor_not_enrolled", msg),
            MfaError::InvalidCode => Self::unauthorized("invalid_mfa_code", msg),
            MfaError::Locked { retry_after } => Self::too_many("mfa_locked", &msg, retry_after),
            MfaError::InvalidChallenge => Self::unauthorized("invalid_mfa_token", msg),
            MfaError::StepUpNeeded => Self::insufficient_user_authentication(
                "mfa_session_required",
                msg,
                crate::domain::authn::ACR_2FA,
            ),
            MfaError::RequiredByPolicy => Self::conflict("second_factor_required_by_policy", msg),
            MfaError::PasskeyCeremonyInvalid => Self::unauthorized("invalid_passkey_token", msg),
            MfaError::PasskeyRejected => Self::unauthorized("passkey_rejected", msg),
            MfaError::PasskeyDuplicate => Self::conflict("passkey_already_registered", msg),
            MfaError::PasskeyNotFound => Self::not_found("passkey_not_found", msg),
            MfaError::InvalidPasskeyName => Self::validation("name", msg),
            MfaError::LastSignInMethod => Self::conflict("last_sign_in_method", msg),
            MfaError::DeviceNotFound => Self::not_found("remembered_device_not_found", msg),
            MfaError::PasskeysUnavailable(_) => Self::conflict("passkeys_unavailable", msg),
            MfaError::Store(s) => s.into(),
            MfaError::Kv(k) => k.into(),
            MfaError::Unexpected(u) => Self::internal(u),
        }
    }
}

/// Whether the tenant lets users use `method` at all.
///
/// # Errors
/// `Off` when second factors are off, `MethodNotAllowed` when the method is not in the policy.
pub fn method_allowed(tenant: &TenantContext, method: Method) -> Result<(), MfaError> {
    let policy = &tenant.settings.second_factor;
    if policy.is_off() {
        return Err(MfaError::Off);
    }
    if !policy.allowed().contains(&method) {
        return Err(MfaError::MethodNotAllowed);
    }
    Ok(())
}

/// What a sign-in needs after its first factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing: tokens may be issued.
    Done,
    /// A second step with one of these methods.
    Verify(Vec<Method>),
    /// The user has no second factor but needs one: enrol first (with one of these methods).
    Enrol(Vec<Method>),
}

/// The methods `user` can pass a second step with: allowed by the tenant and enrolled.
///
/// # Errors
/// Database failure.
pub async fn enrolled(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
) -> Result<Vec<Method>, MfaError> {
    let policy = &tenant.settings.second_factor;
    if policy.is_off() {
        return Ok(Vec::new());
    }
    let allowed = policy.allowed();
    let factors = store::factors::list(&state.db, tenant.id, user_id).await?;
    let mut methods: Vec<Method> = allowed
        .iter()
        .copied()
        .filter(|m| {
            m.enrollable() && factors.iter().any(|f| f.confirmed_at.is_some() && f.kind == m.as_str())
        })
        .collect();
    if !methods.is_empty()
        && allowed.contains(&Method::RecoveryCode)
        && store::factors::unused_codes(&state.db, tenant.id, user_id).await? > 0
    {
        methods.push(Method::RecoveryCode);
    }
    Ok(methods)
}

/// Decides the second step of a sign-in: users with a factor pass it; users the policy (or the
/// client, `wants_mfa`: a step-up request) requires to have one enrol first.
///
/// # Errors
/// Database failure.
pub async fn next_step(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
    admin: bool,
    wants_mfa: bool,
) -> Result<Step, MfaError> {
    let policy = &tenant.settings.second_factor;
    if policy.is_off() {
        return Ok(Step::Done);
    }
    let methods = enrolled(state, tenant, user_id).await?;
    if !methods.is_empty() {
        return Ok(Step::Verify(methods));
    }
    if policy.requires(admin) || wants_mfa || required_for(state, tenant, user_id).await? {
        let enrollable = policy.allowed().into_iter().filter(|m| m.enrollable()).collect();
        return Ok(Step::Enrol(enrollable));
    }
    Ok(Step::Done)
}

/// Whether an administrator required this user to enrol a second factor.
async fn required_for(state: &AppState, tenant: &TenantContext, user_id: Uuid) -> Result<bool, MfaError> {
    let user = store::users::find_by_id(&state.db, tenant.id, user_id).await?;
    Ok(user.is_some_and(|u| u.second_factor_required))
}

/// After a new factor is confirmed: an administrator's demand for one is met, and the user is
/// told by mail.
pub(crate) async fn enrolled_new(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
    now: DateTime<Utc>,
) {
    if let Err(e) = store::users::set_second_factor_required(&state.db, tenant.id, user_id, false).await {
        tracing::error!(tenant = %tenant.slug, error = %e, "second-factor demand not cleared");
    }
    notice(state, tenant, user_id, gatehouse_ui::MailKind::SignInMethodAdded, now).await;
}

/// A response to a second-step challenge. A passkey assertion becomes a variant here.
pub enum Proof<'a> {
    Totp(&'a str),
    RecoveryCode(&'a str),
}

impl<'a> Proof<'a> {
    /// One field for both, as the hosted page has: six digits are an authenticator code,
    /// anything else a recovery code (which never is six digits).
    pub fn guess(input: &'a str) -> Self {
        let digits: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
            Self::Totp(input)
        } else {
            Self::RecoveryCode(input)
        }
    }

    pub fn method(&self) -> Method {
        match self {
            Self::Totp(_) => Method::Totp,
            Self::RecoveryCode(_) => Method::RecoveryCode,
        }
    }
}

/// The per-user failure budget of second steps (tenant lockout policy), apart from the
/// password's so guessing codes cannot lock the password out or the other way round.
fn lock_key(tenant: Uuid, user: Uuid) -> String {
    format!("lm:{{{tenant}}}:{user}")
}

/// Clears a user's second-step lock (admin reset, unlock).
///
/// # Errors
/// The shared store cannot be reached.
pub async fn unlock(state: &AppState, tenant: Uuid, user: Uuid) -> Result<(), KvError> {
    state.kv.delete(&lock_key(tenant, user)).await
}

/// Checks `proof` for `user`, one of `methods` (a challenge's), under the lockout budget: the
/// attempt takes a slot before the check and a success gives the budget back. Audited.
///
/// # Errors
/// `MethodNotAllowed`, `InvalidCode`, `Locked`, or infrastructure failures.
#[allow(clippy::too_many_arguments)]
pub async fn verify(
    state: &AppState,
    tenant: &TenantContext,
    user: &users::Model,
    methods: &[Method],
    proof: Proof<'_>,
    meta: &ClientMeta,
    path: &str,
    now: DateTime<Utc>,
) -> Result<Method, MfaError> {
    let method = proof.method();
    if !methods.contains(&method) {
        return Err(MfaError::MethodNotAllowed);
    }
    let checked = async {
        match proof {
            Proof::Totp(code) => totp::check(state, tenant, user.id, code, now).await,
            Proof::RecoveryCode(code) => recovery::spend(state, tenant, user.id, code, now).await,
        }
    };
    let details = serde_json::json!({ "method": method.as_str(), "path": path });
    if !under_budget(state, tenant, user.id, meta, &details, now, checked).await? {
        record(state, tenant, user.id, "mfa.failed", false, meta, details, now).await;
        return Err(MfaError::InvalidCode);
    }
    record(state, tenant, user.id, "mfa.verified", true, meta, details.clone(), now).await;
    if method == Method::RecoveryCode {
        recovery::used(state, tenant, user, meta, details, now).await;
    }
    Ok(method)
}

/// Runs `check` (a code check) under the user's failure budget: the attempt takes a slot
/// before the check, a success gives the budget back, a failure keeps it spent.
///
/// # Errors
/// `Locked` when the budget is spent, or the check's own failure (which gives the slot back).
pub(crate) async fn under_budget(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
    meta: &ClientMeta,
    details: &serde_json::Value,
    now: DateTime<Utc>,
    check: impl std::future::Future<Output = Result<bool, MfaError>>,
) -> Result<bool, MfaError> {
    let policy = &tenant.settings.lockout;
    let key = lock_key(tenant.id, user_id);
    let window = std::time::Duration::from_secs(policy.window_secs);
    let reservation = state.kv.reserve(&key, u64::from(policy.threshold), window).await?;
    if !reservation.granted {
        record(state, tenant, user_id, "mfa.locked", false, meta, details.clone(), now).await;
        return Err(MfaError::Locked { retry_after: reservation.left.max(1) });
    }
    match check.await {
        Ok(true) => {
            state.kv.delete(&key).await?;
            Ok(true)
        }
        Ok(false) => Ok(false),
        Err(e) => {
            state.kv.release(&key).await?;
            Err(e)
        }
    }
}

/// Audits a second-factor event about `user` (the actor is the user, or nobody mid-sign-in).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn record(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
    event_type: &str,
    success: bool,
    meta: &ClientMeta,
    details: serde_json::Value,
    now: DateTime<Utc>,
) {
    let event = Event {
        tenant_id: tenant.id,
        event_type,
        actor: None,
        user_id: Some(user_id),
        target: Some(user_id.to_string()),
        success,
        meta,
        details,
    };
    audit::record(&state.db, event, now).await;
}

/// Mails `user_id` a notice about their second factors (`mailing::mail::notify`), if they have
/// an address. A failure is logged, never the caller's: the change it reports has happened.
pub(crate) async fn notice(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
    kind: gatehouse_ui::MailKind,
    now: DateTime<Utc>,
) {
    let sent = async {
        let Some(user) = store::users::find_by_id(&state.db, tenant.id, user_id).await? else {
            return Ok(None);
        };
        crate::mailing::mail::notify(state, &state.db, tenant, kind, &user, now).await
    };
    if let Err(e) = sent.await {
        tracing::error!(tenant = %tenant.slug, error = %e, "second-factor notice not queued");
    }
}

/// Whether `amr` shows a second factor, as removing one or regenerating recovery codes needs.
pub fn passed_second_factor(amr: &[String]) -> bool {
    amr.iter().any(|a| a == crate::domain::authn::AMR_MFA)
}

/// Removes every second factor, recovery code and remembered device of a user (an admin reset)
/// and lifts their second-step lock. Returns whether there was anything to remove.
///
/// # Errors
/// Infrastructure failures.
pub async fn reset(state: &AppState, tenant: &TenantContext, user_id: Uuid) -> Result<bool, MfaError> {
    let removed = store::factors::delete(&state.db, tenant.id, user_id, None).await?;
    store::remembered_devices::delete(&state.db, tenant.id, user_id, None).await?;
    unlock(state, tenant.id, user_id).await?;
    Ok(removed > 0)
}
