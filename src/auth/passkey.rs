//! Passkey sign-ins over JSON: usernameless or after a username (a first factor that is two
//! factors: the key and user verification), as the second step of a password login, enrolling
//! one at sign-in, and accounts with no password at all (created with a passkey, or a password
//! removed once a passkey exists). Tokens carry `hwk`/`swk`, `user` and `mfa`.
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::*;
use crate::{
    audit::{self, Event},
    domain::{Email, Username, authn},
    metrics::{Grant, LoginOutcome},
    mfa::{self, MfaError, Purpose, passkey},
    state::AppState,
    store::{self, entities::users, users::InsertUserError, users::NewUser},
    tenancy::TenantContext,
};

fn audience_of(user: &users::Model) -> Audience {
    if is_admin(user) { Audience::Admin } else { Audience::Tenant }
}

async fn signed_in(
    state: &AppState,
    tenant: &TenantContext,
    user: &users::Model,
    amr: &[String],
    meta: ClientMeta,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, AuthError> {
    let issued = open_session(state, tenant, user.id, audience_of(user), amr, meta, now).await?;
    state.metrics.tokens_issued(Grant::Password, true, false);
    Ok(issued)
}

/// Starts a passkey sign-in: usernameless without `username`, else limited to that user's
/// passkeys (an unknown name gets stand-in credentials, so the answer looks the same).
///
/// # Errors
/// `MethodNotAllowed`, `PasskeysUnavailable`, or infrastructure failures.
pub async fn passkey_start(
    state: &AppState,
    tenant_slug: &str,
    username: Option<&str>,
) -> Result<(String, serde_json::Value), AuthError> {
    let tenant = tenant(state, tenant_slug).await?;
    let Some(name) = username else {
        return Ok(passkey::start_assertion(state, &tenant, None, None).await?);
    };
    let canonical =
        Username::lookup(name).map(|u| u.as_str().to_string()).unwrap_or_else(|_| name.to_string());
    let user = store::users::find_by_username(&state.db, tenant.id, &canonical)
        .await?
        .filter(|u| u.status == "active");
    Ok(passkey::start_assertion(state, &tenant, user.map(|u| u.id), Some(&canonical)).await?)
}

/// Finishes a passkey sign-in (single use) and opens a session.
///
/// # Errors
/// `PasskeyCeremonyInvalid`, `PasskeyRejected`, or infrastructure failures.
pub async fn passkey_finish(
    state: &AppState,
    tenant_slug: &str,
    token: &str,
    credential: &serde_json::Value,
    meta: ClientMeta,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, AuthError> {
    let tenant = tenant(state, tenant_slug).await?;
    let done = passkey::finish_assertion(state, &tenant, token, None, credential, &meta, "json", now).await;
    let done = match done {
        Ok(d) => d,
        Err(e) => {
            state.metrics.login("passkey", LoginOutcome::Failed);
            return Err(e.into());
        }
    };
    login_event(state, &tenant, &done.user, &meta, "json", now).await;
    let amr = authn::with_passkey(&[], done.synced);
    signed_in(state, &tenant, &done.user, &amr, meta, now).await
}

/// `login.succeeded` for a passkey sign-in (as the password's, with `strategy: passkey`).
pub async fn login_event(
    state: &AppState,
    tenant: &TenantContext,
    user: &users::Model,
    meta: &ClientMeta,
    path: &str,
    now: DateTime<Utc>,
) {
    let event = Event {
        tenant_id: tenant.id,
        event_type: "login.succeeded",
        actor: None,
        user_id: Some(user.id),
        target: Some(user.username.clone()),
        success: true,
        meta,
        details: serde_json::json!({ "strategy": "passkey", "path": path }),
    };
    audit::record(&state.db, event, now).await;
    state.metrics.login("passkey", LoginOutcome::Succeeded);
}

/// Starts creating an account with a passkey and no password (registration must be open).
///
/// # Errors
/// `RegistrationClosed`, validation failures, `UsernameTaken`, `MethodNotAllowed`, or
/// infrastructure failures.
pub async fn passkey_register_start(
    state: &AppState,
    tenant_slug: &str,
    username: &str,
    email: Option<&str>,
) -> Result<(String, serde_json::Value), AuthError> {
    let tenant = tenant(state, tenant_slug).await?;
    if !tenant.settings.registration_open {
        return Err(AuthError::RegistrationClosed);
    }
    let username = Username::parse(username)?;
    let email = email.map(Email::parse).transpose()?;
    if store::users::find_by_username(&state.db, tenant.id, username.as_str()).await?.is_some() {
        return Err(AuthError::UsernameTaken);
    }
    let extra =
        serde_json::json!({ "username": username.as_str(), "email": email.map(|e| e.as_str().to_string()) });
    Ok(passkey::start_registration(state, &tenant, Uuid::now_v7(), username.as_str(), extra).await?)
}

/// Creates the account and its passkey in one step and signs it in.
///
/// # Errors
/// `PasskeyCeremonyInvalid`, `PasskeyRejected`, `UsernameTaken` (taken meanwhile), or
/// infrastructure failures.
pub async fn passkey_register_finish(
    state: &AppState,
    tenant_slug: &str,
    token: &str,
    credential: &serde_json::Value,
    name: Option<&str>,
    meta: ClientMeta,
    now: DateTime<Utc>,
) -> Result<(users::Model, IssuedTokens), AuthError> {
    let tenant = tenant(state, tenant_slug).await?;
    let registered = passkey::finish_registration(state, &tenant, token, credential).await?;
    let field = |k: &str| registered.extra.get(k).and_then(serde_json::Value::as_str).map(str::to_string);
    let username = field("username").ok_or(MfaError::PasskeyCeremonyInvalid)?;
    let row = passkey::new_row(
        &tenant,
        &registered,
        name.map(str::trim).filter(|n| !n.is_empty()).unwrap_or("Passkey"),
        now,
    )?;
    let new = NewUser { username, email: field("email"), password_hash: None, roles: Vec::new() };
    let user = match store::passkeys::insert_with_user(&state.db, new, row, now).await {
        Ok(u) => u,
        Err(InsertUserError::UsernameTaken) => return Err(AuthError::UsernameTaken),
        Err(InsertUserError::Store(e)) => return Err(e.into()),
    };
    let event = Event {
        tenant_id: tenant.id,
        event_type: "user.registered",
        actor: None,
        user_id: Some(user.id),
        target: Some(user.username.clone()),
        success: true,
        meta: &meta,
        details: serde_json::json!({ "strategy": "passkey", "email": user.email.is_some() }),
    };
    audit::record(&state.db, event, now).await;
    let details = serde_json::json!({ "name": name });
    mfa::record(state, &tenant, user.id, "mfa.passkey.registered", true, &meta, details, now).await;
    let amr = authn::with_passkey(&[], passkey::synced(&registered.passkey));
    let issued = signed_in(state, &tenant, &user, &amr, meta, now).await?;
    Ok((user, issued))
}

/// The request options of a login's second step by passkey (`mfa_token` of the login).
///
/// # Errors
/// `InvalidChallenge`, `MethodNotAllowed`, or infrastructure failures.
pub async fn second_step_start(
    state: &AppState,
    tenant_slug: &str,
    mfa_token: &str,
) -> Result<(String, serde_json::Value), AuthError> {
    let tenant = tenant(state, tenant_slug).await?;
    let challenge = mfa::challenge::load(state, &tenant, mfa_token, Purpose::Verify).await?;
    if !challenge.methods.contains(&mfa::Method::Passkey) {
        return Err(MfaError::MethodNotAllowed.into());
    }
    Ok(passkey::start_assertion(state, &tenant, Some(challenge.user_id), None).await?)
}

/// Completes a login's second step with a passkey: tokens with `pwd`, the key, `user`, `mfa`.
///
/// # Errors
/// `InvalidChallenge`, `PasskeyCeremonyInvalid`, `PasskeyRejected`, `Locked`, or
/// infrastructure failures.
pub async fn second_step_finish(
    state: &AppState,
    tenant_slug: &str,
    mfa_token: &str,
    passkey_token: &str,
    credential: &serde_json::Value,
    meta: ClientMeta,
    now: DateTime<Utc>,
) -> Result<super::second_factor::Completed, AuthError> {
    let tenant = tenant(state, tenant_slug).await?;
    let challenge = mfa::challenge::load(state, &tenant, mfa_token, Purpose::Verify).await?;
    let user = super::second_factor::challenged_user(state, &tenant, &challenge).await?;
    let done = passkey::verify_second_step(
        state,
        &tenant,
        &user,
        &challenge.methods,
        passkey_token,
        credential,
        &meta,
        "json",
        now,
    )
    .await?;
    let amr = authn::with_passkey(&challenge.amr, done.synced);
    super::second_factor::finish(state, &tenant, mfa_token, &user, &amr, meta, now).await
}

/// The creation options of a passkey enrolled at sign-in (`enrolment_token` of the login).
///
/// # Errors
/// `InvalidChallenge`, `MethodNotAllowed`, or infrastructure failures.
pub async fn enrol_start(
    state: &AppState,
    tenant_slug: &str,
    enrolment_token: &str,
) -> Result<(String, serde_json::Value), AuthError> {
    let tenant = tenant(state, tenant_slug).await?;
    let challenge = mfa::challenge::load(state, &tenant, enrolment_token, Purpose::Enrol).await?;
    if !challenge.methods.contains(&mfa::Method::Passkey) {
        return Err(MfaError::MethodNotAllowed.into());
    }
    let user = super::second_factor::challenged_user(state, &tenant, &challenge).await?;
    Ok(passkey::start_registration(state, &tenant, user.id, &user.username, serde_json::json!({})).await?)
}

/// Stores the passkey enrolled at sign-in and signs the user in.
///
/// # Errors
/// `InvalidChallenge`, `PasskeyCeremonyInvalid`, `PasskeyRejected`, `PasskeyDuplicate`, or
/// infrastructure failures.
#[allow(clippy::too_many_arguments)]
pub async fn enrol_finish(
    state: &AppState,
    tenant_slug: &str,
    enrolment_token: &str,
    passkey_token: &str,
    credential: &serde_json::Value,
    name: Option<&str>,
    meta: ClientMeta,
    now: DateTime<Utc>,
) -> Result<super::second_factor::Completed, AuthError> {
    let tenant = tenant(state, tenant_slug).await?;
    let challenge = mfa::challenge::load(state, &tenant, enrolment_token, Purpose::Enrol).await?;
    let user = super::second_factor::challenged_user(state, &tenant, &challenge).await?;
    let registered = passkey::finish_registration(state, &tenant, passkey_token, credential).await?;
    if registered.user_id != user.id {
        return Err(MfaError::PasskeyCeremonyInvalid.into());
    }
    passkey::store_registration(state, &tenant, &registered, name, &meta, now).await?;
    let amr = authn::with_passkey(&challenge.amr, passkey::synced(&registered.passkey));
    super::second_factor::finish(state, &tenant, enrolment_token, &user, &amr, meta, now).await
}

/// Removes the caller's password, leaving a passkey-only account. Needs a passkey and a session
/// that passed a second factor (a passkey sign-in does). Audited (`user.password_removed`).
///
/// # Errors
/// `LastSignInMethod` (no passkey), `StepUpNeeded`, or infrastructure failures.
pub async fn remove_password(
    state: &AppState,
    principal: &Principal,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    let tenant = &principal.tenant;
    let mut user = current_user(state, principal).await?;
    if store::passkeys::count(&state.db, tenant.id, user.id).await? == 0 {
        return Err(MfaError::LastSignInMethod.into());
    }
    if !mfa::passed_second_factor(&principal.claims.amr) {
        return Err(MfaError::StepUpNeeded.into());
    }
    let had = user.password_hash.is_some();
    user.password_hash = None;
    user.updated_at = now;
    let user = store::users::update(&state.db, user).await?;
    user_changed(state, tenant.id, user.id).await?;
    let event = Event {
        tenant_id: tenant.id,
        event_type: "user.password_removed",
        actor: None,
        user_id: Some(user.id),
        target: Some(user.username.clone()),
        success: true,
        meta,
        details: serde_json::json!({ "had_password": had }),
    };
    audit::record(&state.db, event, now).await;
    Ok(())
}
