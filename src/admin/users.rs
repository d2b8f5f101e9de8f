//! User administration within one tenant.
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::{Admin, Page, fetch_size, page, parse_cursor};
use crate::{
    auth::{self, ROLE_ADMIN},
    domain::{Email, Password, Username},
    error::ApiError,
    state::AppState,
    store::{
        self,
        entities::{sessions, users},
        users::{InsertUserError, NewUser, UserFilter},
    },
    tenancy::SYSTEM_TENANT,
    tenancy::TenantContext,
};

pub struct NewUserInput {
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub password: Option<String>,
    pub roles: Vec<String>,
}

/// Role names: lower-case letters, digits, `:`, `_`, `-`; `admin` only in `system`, and only
/// operators may grant it.
fn validate_roles(admin: &Admin, tenant: &TenantContext, roles: &[String]) -> Result<Vec<String>, ApiError> {
    let mut out: Vec<String> = Vec::new();
    for r in roles {
        let ok = !r.is_empty()
            && r.len() <= 64
            && r.starts_with(|c: char| c.is_ascii_lowercase())
            && r.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, ':' | '_' | '-'));
        if !ok {
            return Err(ApiError::validation("roles", format!("{r:?} is not a valid role name")));
        }
        if r == ROLE_ADMIN && (tenant.slug != SYSTEM_TENANT || !admin.operator) {
            return Err(ApiError::validation(
                "roles",
                "admin can only be granted in tenant system, by an operator",
            ));
        }
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    if out.len() > 32 {
        return Err(ApiError::validation("roles", "at most 32 roles"));
    }
    Ok(out)
}

/// # Errors
/// 400 for invalid input, 409 for a taken username.
pub async fn create(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    input: NewUserInput,
    now: DateTime<Utc>,
) -> Result<users::Model, ApiError> {
    let username = Username::parse(&input.username)?;
    let email = input.email.as_deref().map(Email::parse).transpose()?;
    let roles = validate_roles(admin, tenant, &input.roles)?;
    let password_hash = match input.password {
        Some(p) => {
            let p = Password::parse(p, &tenant.settings.password_policy)?;
            Some(state.hasher.hash(p.expose().to_string()).await.map_err(ApiError::internal)?)
        }
        None => None,
    };
    let new = NewUser {
        username: username.as_str().to_string(),
        email: email.map(|e| e.as_str().to_string()),
        password_hash,
        roles,
    };
    let mut user = match store::users::insert(&state.db, tenant.id, new, now).await {
        Ok(u) => u,
        Err(InsertUserError::UsernameTaken) => {
            return Err(ApiError::conflict("username_taken", "this username is taken"));
        }
        Err(InsertUserError::Store(e)) => return Err(e.into()),
    };
    if input.email_verified {
        user.email_verified = true;
        user = store::users::update(&state.db, user).await?;
    }
    record(state, admin, tenant, "user.created", user.id, json!({}), now).await;
    Ok(user)
}

/// # Errors
/// 400 for a bad cursor; infrastructure failures.
pub async fn list(
    state: &AppState,
    tenant: &TenantContext,
    mut filter: UserFilter,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Page<users::Model>, ApiError> {
    let after = parse_cursor(cursor)?;
    // Searches use the stored (normalised) forms.
    filter.username_prefix =
        filter.username_prefix.map(|p| Username::lookup(&p).map(|u| u.as_str().to_string()).unwrap_or(p));
    filter.email_prefix = filter.email_prefix.map(|p| p.trim().to_lowercase());
    let fetched = fetch_size(limit);
    let rows = store::users::list(&state.replica, tenant.id, &filter, after, fetched).await?;
    Ok(page(rows, fetched, |u| u.id))
}

/// # Errors
/// 404 when the user is not in this tenant.
pub async fn get(state: &AppState, tenant: &TenantContext, id: Uuid) -> Result<users::Model, ApiError> {
    store::users::find_by_id(&state.db, tenant.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("user_not_found", "no such user in this tenant"))
}

pub struct UserChanges {
    /// `Some(None)` removes the email.
    pub email: Option<Option<String>>,
    pub email_verified: Option<bool>,
    /// `active` or `disabled`; disabling ends every session.
    pub status: Option<String>,
}

/// # Errors
/// 404 for an unknown user, 400 for invalid values.
pub async fn update(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    id: Uuid,
    changes: UserChanges,
    now: DateTime<Utc>,
) -> Result<users::Model, ApiError> {
    let mut user = get(state, tenant, id).await?;
    if let Some(email) = changes.email {
        let parsed = email.as_deref().map(Email::parse).transpose()?;
        if parsed.as_ref().map(Email::as_str) != user.email.as_deref() {
            user.email_verified = false;
        }
        user.email = parsed.map(|e| e.as_str().to_string());
    }
    if let Some(v) = changes.email_verified {
        user.email_verified = v;
    }
    let mut disabling = false;
    if let Some(status) = changes.status {
        if !matches!(status.as_str(), "active" | "disabled") {
            return Err(ApiError::validation("status", "must be active or disabled"));
        }
        disabling = status == "disabled" && user.status != "disabled";
        if disabling {
            keep_an_operator(state, tenant, &user).await?;
        }
        user.status = status;
    }
    user.updated_at = now;
    if disabling {
        auth::end_all_sessions(state, tenant.id, id, now).await?;
    }
    let user = store::users::update(&state.db, user).await?;
    auth::user_changed(state, tenant.id, id).await?;
    record(state, admin, tenant, "user.updated", id, json!({ "status": user.status }), now).await;
    Ok(user)
}

/// Deletes a user after ending every session, so no token of theirs outlives them.
///
/// # Errors
/// 404 for an unknown user.
pub async fn delete(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let user = get(state, tenant, id).await?;
    keep_an_operator(state, tenant, &user).await?;
    auth::end_all_sessions(state, tenant.id, id, now).await?;
    store::users::delete(&state.db, tenant.id, id).await?;
    auth::user_changed(state, tenant.id, id).await?;
    record(state, admin, tenant, "user.deleted", id, json!({}), now).await;
    Ok(())
}

/// Sets a new password (tenant policy applies) and ends every session.
///
/// # Errors
/// 404 for an unknown user, 400 for a password the policy refuses.
pub async fn set_password(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    id: Uuid,
    password: String,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let mut user = get(state, tenant, id).await?;
    let password = Password::parse(password, &tenant.settings.password_policy)?;
    user.password_hash =
        Some(state.hasher.hash(password.expose().to_string()).await.map_err(ApiError::internal)?);
    user.updated_at = now;
    let user = store::users::update(&state.db, user).await?;
    auth::user_changed(state, tenant.id, id).await?;
    auth::end_all_sessions(state, tenant.id, id, now).await?;
    record(state, admin, tenant, "user.password_set", id, json!({}), now).await;
    // A reset is how a locked-out user gets back in: the old failures no longer mean anything.
    lift_lock(state, admin, tenant, &user, "password_set", now).await
}

/// Lifts the username-wide login lock of a user and forgets its failed attempts.
///
/// # Errors
/// 404 for an unknown user.
pub async fn unlock(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let user = get(state, tenant, id).await?;
    lift_lock(state, admin, tenant, &user, "unlock", now).await
}

/// Removes every second factor and recovery code of a user (a lost phone) and lifts their
/// second-step lock; audited as `user.second_factors_reset`. Where the tenant requires a second
/// factor, the user enrols a new one at the next sign-in.
///
/// # Errors
/// 404 for an unknown user.
pub async fn reset_second_factors(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let user = get(state, tenant, id).await?;
    let had = crate::mfa::reset(state, tenant, user.id).await?;
    record(state, admin, tenant, "user.second_factors_reset", user.id, json!({ "had_factors": had }), now)
        .await;
    if had {
        crate::mailing::mail::notify(
            state,
            &state.db,
            tenant,
            gatehouse_ui::MailKind::SecondFactorsReset,
            &user,
            now,
        )
        .await?;
    }
    Ok(())
}

/// Forgets the user's failed logins and audits it as `user.unlocked`, saying `via` what.
async fn lift_lock(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    user: &users::Model,
    via: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let was_locked = auth::unlock(state, tenant.id, &user.username).await?;
    let details = json!({ "via": via, "had_failures": was_locked });
    record(state, admin, tenant, "user.unlocked", user.id, details, now).await;
    Ok(())
}

/// Replaces the user's roles.
///
/// # Errors
/// 404 for an unknown user, 400 for invalid or forbidden roles.
pub async fn set_roles(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    id: Uuid,
    roles: &[String],
    now: DateTime<Utc>,
) -> Result<users::Model, ApiError> {
    let mut user = get(state, tenant, id).await?;
    let roles = validate_roles(admin, tenant, roles)?;
    if !roles.iter().any(|r| r == ROLE_ADMIN) {
        keep_an_operator(state, tenant, &user).await?;
    }
    user.roles = json!(roles);
    user.updated_at = now;
    let user = store::users::update(&state.db, user).await?;
    auth::user_changed(state, tenant.id, id).await?;
    record(state, admin, tenant, "user.roles_set", id, json!({ "roles": roles }), now).await;
    Ok(user)
}

/// # Errors
/// 404 for an unknown user.
pub async fn sessions(
    state: &AppState,
    tenant: &TenantContext,
    id: Uuid,
) -> Result<Vec<sessions::Model>, ApiError> {
    get(state, tenant, id).await?;
    Ok(store::sessions::list_for_user(&state.db, tenant.id, id).await?)
}

/// Ends one session: its refresh family, its access tokens, and for a browser SSO session the
/// client grants it opened.
///
/// # Errors
/// 404 when the session is not this user's (in this tenant).
pub async fn revoke_session(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    user_id: Uuid,
    session_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    get(state, tenant, user_id).await?;
    let session = store::sessions::find(&state.db, tenant.id, session_id)
        .await?
        .filter(|s| s.user_id == user_id)
        .ok_or_else(|| ApiError::not_found("session_not_found", "no such session for this user"))?;
    // Ends the session and any client grants opened from it (for a browser SSO session).
    crate::oidc::sso::end(state, tenant, session.id, now).await?;
    record(state, admin, tenant, "session.revoked", user_id, json!({ "session_id": session.id }), now).await;
    Ok(())
}

/// # Errors
/// 404 for an unknown user.
pub async fn revoke_all_sessions(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    get(state, tenant, user_id).await?;
    auth::end_all_sessions(state, tenant.id, user_id, now).await?;
    record(state, admin, tenant, "session.revoked_all", user_id, json!({}), now).await;
    Ok(())
}

/// Refuses to disable, delete or demote `user` when it is the last active operator: with none
/// left, nobody could manage the deployment through the API any more.
async fn keep_an_operator(
    state: &AppState,
    tenant: &TenantContext,
    user: &users::Model,
) -> Result<(), ApiError> {
    let operator = tenant.slug == SYSTEM_TENANT
        && user.status == "active"
        && auth::roles_of(user).iter().any(|r| r == ROLE_ADMIN);
    if operator && store::users::count_active_with_role(&state.db, tenant.id, ROLE_ADMIN).await? <= 1 {
        return Err(ApiError::conflict(
            "last_operator",
            "this is the last active operator; make another operator first",
        ));
    }
    Ok(())
}

pub(super) async fn record(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    event_type: &str,
    user_id: Uuid,
    details: serde_json::Value,
    now: DateTime<Utc>,
) {
    super::record_change(
        state,
        admin,
        tenant.id,
        event_type,
        format!("user:{user_id}"),
        Some(user_id),
        details,
        now,
    )
    .await;
}
