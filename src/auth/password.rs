//! The local password strategy: registration, the sign-in check with its lockout budget
//! (per username, and per trusted device), and the bootstrap operator.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::*;
use crate::{
    audit::{self, Event},
    domain::{Email, Password, Username},
    kv::KvError,
    metrics::LoginOutcome,
    state::AppState,
    store::{
        self,
        entities::users,
        users::{InsertUserError, NewUser},
    },
    tenancy::TenantContext,
};

/// Creates a local user.
///
/// # Errors
/// Validation failures, a taken username, closed registration, or infrastructure failures.
pub async fn register(
    state: &AppState,
    tenant_slug: &str,
    username: &str,
    password: String,
    email: Option<&str>,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<users::Model, AuthError> {
    let tenant = tenant(state, tenant_slug).await?;
    if !tenant.settings.registration_open {
        return Err(AuthError::RegistrationClosed);
    }
    let username = Username::parse(username)?;
    let email = email.map(Email::parse).transpose()?;
    let password = Password::parse(password, &tenant.settings.password_policy)?;
    let hash = state.hasher.hash(password.expose().to_string()).await.map_err(anyhow::Error::from)?;
    let new = NewUser {
        username: username.as_str().to_string(),
        email: email.map(|e| e.as_str().to_string()),
        password_hash: Some(hash),
        roles: Vec::new(),
    };
    let user = match store::users::insert(&state.db, tenant.id, new, now).await {
        Ok(user) => user,
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
        meta,
        details: serde_json::json!({ "strategy": "local", "email": user.email.is_some() }),
    };
    audit::record(&state.db, event, now).await;
    Ok(user)
}

/// Checks a username and password and opens a session, or answers with the challenge of a
/// second step (see [`super::second_factor`]).
///
/// Unknown users, wrong passwords and disabled accounts all cost one Argon2 verification and
/// end in the same error, so neither the body nor the timing tells them apart. `devices` are the
/// device cookies the client sent (see [`device`]); the answer carries a fresh one.
/// `remembered` are its remember-device cookies (`mfa::remember`), which may skip the second
/// step.
///
/// # Errors
/// `InvalidCredentials`, `Locked`, or infrastructure failures.
#[allow(clippy::too_many_arguments)]
pub async fn login(
    state: &AppState,
    tenant_slug: &str,
    username: &str,
    password: String,
    devices: &[String],
    remembered: &[String],
    meta: ClientMeta,
    now: DateTime<Utc>,
) -> Result<(LoginResult, String), AuthError> {
    let tenant = tenant(state, tenant_slug).await?;
    let signed_in = password_sign_in(state, &tenant, username, password, devices, &meta, "json", now).await?;
    // A pending second step gets no device cookie yet: the second call brings one.
    let amr = vec![crate::domain::authn::AMR_PWD.to_string()];
    let result =
        super::second_factor::after_first_factor(state, &tenant, &signed_in.user, amr, remembered, meta, now)
            .await?;
    Ok((result, signed_in.device_cookie))
}

/// Why [`password_sign_in`] refused when the tenant has no enabled password strategy.
pub const PASSWORDS_OFF: &str = "signing in with a password is turned off for this tenant";

/// A successful password check.
pub struct SignedIn {
    pub user: users::Model,
    /// The `Set-Cookie` value of a fresh device cookie for this user.
    pub device_cookie: String,
}

/// A username and password checked when the tenant's password strategy is enabled: the one
/// entry point for every password path (JSON API, hosted form).
///
/// # Errors
/// `Forbidden(PASSWORDS_OFF)` when password sign-in is disabled, `InvalidCredentials`,
/// `Locked`, `EmailNotVerified` (the tenant requires it), or infrastructure failures.
#[allow(clippy::too_many_arguments)]
pub async fn password_sign_in(
    state: &AppState,
    tenant: &TenantContext,
    username: &str,
    password: String,
    devices: &[String],
    meta: &ClientMeta,
    path: &str,
    now: DateTime<Utc>,
) -> Result<SignedIn, AuthError> {
    if tenant.strategies.password().is_none() {
        return Err(AuthError::Forbidden(PASSWORDS_OFF));
    }
    let user = check_password(state, tenant, username, password, devices, meta, path, now).await?;
    // Only after the password proved who is asking, so the answer reveals nothing to others.
    if tenant.settings.email.verification_required() && !user.email_verified {
        let event = Event {
            tenant_id: tenant.id,
            event_type: "login.email_not_verified",
            actor: None,
            user_id: Some(user.id),
            target: Some(user.username.clone()),
            success: false,
            meta,
            details: serde_json::json!({ "strategy": "local", "path": path }),
        };
        audit::record(&state.db, event, now).await;
        return Err(AuthError::EmailNotVerified { user_id: user.id });
    }
    let value = device::issue(&state.master_key, tenant.id, user.id, now);
    let device_cookie = device::set_cookie(&state.settings, tenant, user.id, &value);
    Ok(SignedIn { user, device_cookie })
}

/// The failed-login counter of a (normalised) username in a tenant.
fn lock_key(tenant: Uuid, name: &str) -> String {
    format!("lf:{{{tenant}}}:{}", crate::crypto::sha256_b64(name))
}

/// The failed-login counter of one device cookie.
fn device_lock_key(tenant: Uuid, nonce: &str) -> String {
    format!("ld:{{{tenant}}}:{}", crate::crypto::sha256_b64(nonce))
}

/// Clears the username-wide lock and failure count of a user (an admin unlock or password reset).
/// Returns whether there was anything to clear.
///
/// # Errors
/// The shared store cannot be reached.
pub async fn unlock(state: &AppState, tenant: Uuid, username: &str) -> Result<bool, KvError> {
    let key = lock_key(tenant, username);
    let (failures, _) = state.kv.window(&key).await?;
    state.kv.delete(&key).await?;
    Ok(failures > 0)
}

/// The device among `presented` that is trusted for the user named `name`, and that user.
async fn trusted_device(
    state: &AppState,
    tenant: &TenantContext,
    name: &str,
    presented: &[String],
    now: DateTime<Utc>,
) -> Result<Option<(device::Device, Option<users::Model>)>, AuthError> {
    let valid: Vec<device::Device> =
        presented.iter().filter_map(|v| device::verify(&state.master_key, tenant.id, v, now)).collect();
    if valid.is_empty() {
        return Ok(None);
    }
    let user = store::users::find_by_username(&state.db, tenant.id, name).await?;
    let Some(id) = user.as_ref().map(|u| u.id) else { return Ok(None) };
    Ok(valid.into_iter().find(|d| d.user_id == id).map(|d| (d, user)))
}

/// The local strategy's check, shared by every login path (JSON API, hosted form): one
/// Argon2 verification whatever the outcome, an audit event, and one error for every failure.
///
/// Before hashing, the attempt takes a slot of the failure budget in one atomic step, so however
/// many attempts arrive at once, at most `threshold` verifications run per window. A success
/// gives the budget back. A request with a valid device cookie for this user spends the device's
/// own budget instead of the username-wide one; once that is spent, the cookie counts for nothing.
///
/// # Errors
/// `InvalidCredentials`, `Locked`, or infrastructure failures.
#[allow(clippy::too_many_arguments)]
pub async fn check_password(
    state: &AppState,
    tenant: &TenantContext,
    username: &str,
    password: String,
    devices: &[String],
    meta: &ClientMeta,
    path: &str,
    now: DateTime<Utc>,
) -> Result<users::Model, AuthError> {
    let canonical = Username::lookup(username).map(|u| u.as_str().to_string()).ok();
    // Locks key on the name as typed (normalised), whether or not such a user exists, so a
    // lock says nothing about existence. While locked no hash is computed.
    let lock_name = canonical.as_deref().unwrap_or(username);
    let policy = &tenant.settings.lockout;
    let window = std::time::Duration::from_secs(policy.window_secs);
    let limit = u64::from(policy.threshold);
    let trusted = match &canonical {
        Some(name) if !devices.is_empty() => trusted_device(state, tenant, name, devices, now).await?,
        _ => None,
    };
    let mut prefetched = None;
    let mut slot = None;
    if let Some((dev, user)) = trusted {
        let key = device_lock_key(tenant.id, &dev.nonce);
        let reservation = state.kv.reserve(&key, limit, window).await?;
        if reservation.granted {
            slot = Some((key, "device", reservation));
            prefetched = Some(user);
        } else {
            lock_event(state, tenant, canonical.as_deref(), "device", meta, path, now).await;
        }
    }
    let (lock, scope, reservation) = match slot {
        Some(s) => s,
        None => {
            let key = lock_key(tenant.id, lock_name);
            let reservation = state.kv.reserve(&key, limit, window).await?;
            (key, "username", reservation)
        }
    };
    if !reservation.granted {
        lock_event(state, tenant, canonical.as_deref(), scope, meta, path, now).await;
        state.metrics.login("local", LoginOutcome::Locked);
        return Err(AuthError::Locked { retry_after: reservation.left.max(1) });
    }
    let user = match (prefetched, &canonical) {
        (Some(user), _) => user,
        (None, Some(name)) => store::users::find_by_username(&state.db, tenant.id, name).await?,
        (None, None) => None,
    };
    let stored_hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let password_for_upgrade = crate::domain::password::normalize(&password);
    let (matches, raw_form) = match state.hasher.verify_typed(password, stored_hash).await {
        Ok(m) => m,
        Err(e) => {
            // Not a failed guess: give the slot back.
            state.kv.release(&lock).await?;
            return Err(anyhow::Error::from(e).into());
        }
    };
    let accepted = matches && user.as_ref().is_some_and(|u| u.status == "active");
    if accepted {
        state.kv.delete(&lock).await?;
        if let Some(mut u) = user
            .clone()
            .filter(|u| raw_form || u.password_hash.as_deref().is_some_and(|h| state.hasher.needs_rehash(h)))
        {
            // Upgrade to the current parameters (and the normalised password) while the
            // password is at hand. A failure only postpones the upgrade to the next login.
            match state.hasher.hash(password_for_upgrade).await {
                Ok(h) => {
                    u.password_hash = Some(h);
                    u.updated_at = now;
                    match store::users::update(&state.db, u).await {
                        Ok(stored) => user_changed(state, tenant.id, stored.id).await?,
                        Err(e) => tracing::warn!(error = %e, "could not store an upgraded password hash"),
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not upgrade a password hash"),
            }
        }
    }
    let event = Event {
        tenant_id: tenant.id,
        event_type: if accepted { "login.succeeded" } else { "login.failed" },
        actor: None,
        user_id: user.as_ref().map(|u| u.id),
        target: canonical,
        success: accepted,
        meta,
        details: serde_json::json!({ "strategy": "local", "path": path, "budget": scope }),
    };
    audit::record(&state.db, event, now).await;
    state.metrics.login("local", if accepted { LoginOutcome::Succeeded } else { LoginOutcome::Failed });
    match user {
        Some(u) if accepted => Ok(u),
        _ => Err(AuthError::InvalidCredentials),
    }
}

/// Records an attempt refused by a lock: `scope` says whether the username-wide lock or a
/// device cookie's own lock refused it.
async fn lock_event(
    state: &AppState,
    tenant: &TenantContext,
    name: Option<&str>,
    scope: &str,
    meta: &ClientMeta,
    path: &str,
    now: DateTime<Utc>,
) {
    let event = Event {
        tenant_id: tenant.id,
        event_type: "login.locked",
        actor: None,
        user_id: None,
        target: name.map(str::to_string),
        success: false,
        meta,
        details: serde_json::json!({ "strategy": "local", "path": path, "lock": scope }),
    };
    audit::record(&state.db, event, now).await;
}

/// Creates the operator account `admin` in the `system` tenant on first start. Its password
/// comes from `GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD` or is generated and logged once.
///
/// # Errors
/// Database or hashing failure.
pub async fn bootstrap_operator(
    state: &AppState,
    system: &TenantContext,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if store::users::find_by_username(&state.db, system.id, "admin").await?.is_some() {
        return Ok(());
    }
    let (password, generated) = match &state.settings.bootstrap.admin_password {
        Some(p) => (p.expose().to_string(), false),
        None => (crate::crypto::random_token(""), true),
    };
    let hash = state.hasher.hash(crate::domain::password::normalize(&password)).await?;
    let new = NewUser {
        username: "admin".into(),
        email: None,
        password_hash: Some(hash),
        roles: vec![ROLE_ADMIN.to_string()],
    };
    match store::users::insert(&state.db, system.id, new, now).await {
        Ok(_) if generated => tracing::warn!(
            "created operator admin in tenant system with generated password {password} \
             (shown once; set GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD to choose it)"
        ),
        Ok(_) => tracing::info!("created operator admin in tenant system"),
        // Another instance created it first.
        Err(InsertUserError::UsernameTaken) => {}
        Err(InsertUserError::Store(e)) => return Err(e.into()),
    }
    Ok(())
}
