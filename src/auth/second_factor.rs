//! The JSON API's second step: after the password, a login either gets tokens or a challenge
//! (`mfa_token`) the app completes with a code in a second call; a user the policy requires to
//! have a second factor gets an `enrolment_token` instead and enrols an authenticator app
//! through it. Tokens carry the `amr` achieved (`pwd`, then `otp` and `mfa`).
use chrono::{DateTime, Utc};

use super::*;
use crate::{
    domain::authn,
    metrics::Grant,
    mfa::{self, Challenge, Method, Proof, Purpose, Step},
    state::AppState,
    store::entities::users,
    tenancy::TenantContext,
};

/// What a password login gives.
pub enum LoginResult {
    Tokens(IssuedTokens),
    /// A second step is needed: `purpose` says whether to answer (`mfa_token`) or enrol
    /// (`enrolment_token`), `methods` with what.
    Challenge {
        token: String,
        purpose: Purpose,
        methods: Vec<Method>,
    },
}

/// After a first factor that achieved `amr`: tokens, or the challenge of a second step. A
/// browser the user had remembered (`remembered`: its cookies) skips a second step, and the
/// tokens then claim only the first factor.
///
/// # Errors
/// Infrastructure failures.
pub(crate) async fn after_first_factor(
    state: &AppState,
    tenant: &TenantContext,
    user: &users::Model,
    amr: Vec<String>,
    remembered: &[String],
    meta: ClientMeta,
    now: DateTime<Utc>,
) -> Result<LoginResult, AuthError> {
    let mut step = mfa::next_step(state, tenant, user.id, is_admin(user), false).await?;
    if matches!(step, Step::Verify(_))
        && mfa::remember::recognised(state, tenant, user.id, remembered, &meta, now).await?
    {
        step = Step::Done;
    }
    let (purpose, methods) = match step {
        Step::Done => {
            let audience = if is_admin(user) { Audience::Admin } else { Audience::Tenant };
            let issued = open_session(state, tenant, user.id, audience, &amr, meta, now).await?;
            state.metrics.tokens_issued(Grant::Password, true, false);
            return Ok(LoginResult::Tokens(issued));
        }
        Step::Verify(methods) => (Purpose::Verify, methods),
        Step::Enrol(methods) => (Purpose::Enrol, methods),
    };
    let challenge = Challenge {
        user_id: user.id,
        purpose,
        methods: methods.clone(),
        amr,
        auth_time: now.timestamp(),
        request_id: None,
        passed: None,
    };
    let token = mfa::challenge::issue(state, tenant, &challenge).await?;
    Ok(LoginResult::Challenge { token, purpose, methods })
}

pub(super) async fn challenged_user(
    state: &AppState,
    tenant: &TenantContext,
    challenge: &Challenge,
) -> Result<users::Model, AuthError> {
    crate::store::users::find_by_id(&state.db, tenant.id, challenge.user_id)
        .await?
        .filter(|u| u.status == "active")
        .ok_or(AuthError::Mfa(mfa::MfaError::InvalidChallenge))
}

/// Tokens and the `Set-Cookie` value of a fresh device cookie (see [`super::device`]), which
/// the password step does not set while a second step is pending.
pub type Completed = (IssuedTokens, String);

/// Opens the session of a met challenge, spending it first so it finishes one sign-in only.
pub(super) async fn finish(
    state: &AppState,
    tenant: &TenantContext,
    token: &str,
    user: &users::Model,
    amr: &[String],
    meta: ClientMeta,
    now: DateTime<Utc>,
) -> Result<Completed, AuthError> {
    mfa::challenge::spend(state, tenant, token).await?;
    let audience = if is_admin(user) { Audience::Admin } else { Audience::Tenant };
    let issued = open_session(state, tenant, user.id, audience, amr, meta, now).await?;
    state.metrics.tokens_issued(Grant::Password, true, false);
    let device = super::device::issue(&state.master_key, tenant.id, user.id, now);
    Ok((issued, super::device::set_cookie(&state.settings, tenant, user.id, &device)))
}

/// Completes a login's second step: the `mfa_token` and a code of one of its methods.
///
/// # Errors
/// `InvalidChallenge`, `MethodNotAllowed`, `InvalidCode`, `Locked`, or infrastructure failures.
/// With `remember`, the browser is also remembered where the tenant allows it: the second
/// value is then the `Set-Cookie` of its remember cookie.
#[allow(clippy::too_many_arguments)]
pub async fn complete(
    state: &AppState,
    tenant_slug: &str,
    mfa_token: &str,
    proof: Proof<'_>,
    remember: bool,
    meta: ClientMeta,
    now: DateTime<Utc>,
) -> Result<(Completed, Option<String>), AuthError> {
    let tenant = tenant(state, tenant_slug).await?;
    let challenge = mfa::challenge::load(state, &tenant, mfa_token, Purpose::Verify).await?;
    let user = challenged_user(state, &tenant, &challenge).await?;
    let method = mfa::verify(state, &tenant, &user, &challenge.methods, proof, &meta, "json", now).await?;
    let amr = authn::with_second_factor(&challenge.amr, method);
    let remembered =
        if remember { mfa::remember::remember(state, &tenant, user.id, &meta, now).await? } else { None };
    Ok((finish(state, &tenant, mfa_token, &user, &amr, meta, now).await?, remembered))
}

/// Starts enrolling an authenticator app with an `enrolment_token` (again: a new secret).
///
/// # Errors
/// `InvalidChallenge`, `MethodNotAllowed`, or infrastructure failures.
pub async fn enrolment_setup(
    state: &AppState,
    tenant_slug: &str,
    enrolment_token: &str,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<mfa::totp::Setup, AuthError> {
    let tenant = tenant(state, tenant_slug).await?;
    let challenge = mfa::challenge::load(state, &tenant, enrolment_token, Purpose::Enrol).await?;
    if !challenge.methods.contains(&Method::Totp) {
        return Err(mfa::MfaError::MethodNotAllowed.into());
    }
    let user = challenged_user(state, &tenant, &challenge).await?;
    Ok(mfa::totp::begin(state, &tenant, user.id, &user.username, meta, now).await?)
}

/// Confirms the enrolment with its first code and signs the user in: tokens (with `otp` and
/// `mfa` in `amr`) and the recovery codes, shown this once.
///
/// # Errors
/// `InvalidChallenge`, `NotEnrolling`, `InvalidCode`, `Locked`, or infrastructure failures.
pub async fn confirm_enrolment(
    state: &AppState,
    tenant_slug: &str,
    enrolment_token: &str,
    code: &str,
    meta: ClientMeta,
    now: DateTime<Utc>,
) -> Result<(Completed, Vec<String>), AuthError> {
    let tenant = tenant(state, tenant_slug).await?;
    let challenge = mfa::challenge::load(state, &tenant, enrolment_token, Purpose::Enrol).await?;
    let user = challenged_user(state, &tenant, &challenge).await?;
    let codes = mfa::totp::confirm(state, &tenant, user.id, code, &meta, now).await?;
    let amr = authn::with_second_factor(&challenge.amr, Method::Totp);
    let issued = finish(state, &tenant, enrolment_token, &user, &amr, meta, now).await?;
    Ok((issued, codes))
}
