//! Which user an upstream account signs in as: the user it is linked to; or, for an explicit
//! link from a signed-in user, that user; or, by the tenant's policy, a user with the same
//! verified email; or a new user. Linking through an email the upstream does not mark verified
//! is the classic account-takeover bug, so it never happens.
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::{
    audit::{self, Event},
    auth::{AuthError, ClientMeta},
    domain::username::Username,
    state::AppState,
    store::{
        self,
        entities::{identities, users},
        identities::LinkError,
        users::NewUser,
    },
    tenancy::TenantContext,
    upstream::{ExternalIdentity, ProviderInfo},
};

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A user with this email exists and the policy does not allow linking to it here.
    #[error("an account with this email exists; sign in to it and link this provider from there")]
    EmailInUse,
    #[error("this account is linked to another user")]
    LinkedElsewhere,
    #[error("this user already has an account of this provider linked")]
    ProviderAlreadyLinked,
    #[error("self-registration is closed for this tenant")]
    RegistrationClosed,
    #[error("the account is disabled")]
    Disabled,
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<store::StoreError> for ResolveError {
    fn from(e: store::StoreError) -> Self {
        Self::Auth(e.into())
    }
}

/// Finds or creates the user for an upstream account. `link_to` is the signed-in user who
/// asked to link this provider explicitly.
///
/// # Errors
/// See [`ResolveError`]; nothing is stored when it fails.
pub async fn resolve(
    state: &AppState,
    tenant: &TenantContext,
    provider: &ProviderInfo,
    identity: &ExternalIdentity,
    link_to: Option<Uuid>,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<users::Model, ResolveError> {
    let db = &state.db;
    if let Some(existing) = store::identities::find(db, tenant.id, provider.row_id, &identity.subject).await?
    {
        if link_to.is_some_and(|u| u != existing.user_id) {
            return Err(ResolveError::LinkedElsewhere);
        }
        let user =
            store::users::find_by_id(db, tenant.id, existing.user_id).await?.ok_or(ResolveError::Disabled)?;
        if user.status != "active" {
            return Err(ResolveError::Disabled);
        }
        store::identities::touch(
            db,
            existing,
            identity.email.clone(),
            identity.email_verified,
            identity.claims.clone(),
            now,
        )
        .await?;
        return Ok(user);
    }
    if let Some(user_id) = link_to {
        let user = store::users::find_by_id(db, tenant.id, user_id).await?.ok_or(ResolveError::Disabled)?;
        if user.status != "active" {
            return Err(ResolveError::Disabled);
        }
        link(state, tenant, provider, identity, &user, "explicit", meta, now).await?;
        return Ok(user);
    }
    if let Some(email) = &identity.email {
        let holders = store::users::find_by_email(db, tenant.id, email).await?;
        if !holders.is_empty() {
            // Both sides must vouch for the address: the upstream, and our own record (a
            // local account registered with someone else's address must not capture them).
            let policy_allows =
                tenant.settings.account_linking == "verified_email" && identity.email_verified;
            let mut verified = holders.iter().filter(|u| u.email_verified);
            return match (policy_allows, verified.next(), verified.next()) {
                (true, Some(user), None) if user.status == "active" => {
                    link(state, tenant, provider, identity, user, "verified_email", meta, now).await?;
                    Ok(user.clone())
                }
                _ => Err(ResolveError::EmailInUse),
            };
        }
    }
    if !tenant.settings.registration_open {
        return Err(ResolveError::RegistrationClosed);
    }
    provision(state, tenant, provider, identity, meta, now).await
}

fn identity_row(
    tenant: &TenantContext,
    provider: &ProviderInfo,
    identity: &ExternalIdentity,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> identities::Model {
    identities::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        user_id,
        provider_row_id: provider.row_id,
        provider_id: provider.provider_id.clone(),
        subject: identity.subject.clone(),
        email: identity.email.clone(),
        email_verified: identity.email_verified,
        claims: identity.claims.clone(),
        created_at: now,
        last_login_at: now,
    }
}

/// The name a new upstream user gets: the upstream's username, else the local part of the
/// email, else `{provider}-{hash of the subject}`. A name our rules refuse (invisible
/// characters, mixed scripts) is skipped, never an error: the sign-in still succeeds.
fn base_username(provider_id: &str, identity: &ExternalIdentity) -> String {
    identity
        .username
        .as_deref()
        .and_then(|u| Username::parse(u).ok())
        .or_else(|| {
            identity.email.as_deref().and_then(|e| e.split('@').next()).and_then(|l| Username::parse(l).ok())
        })
        .map(|u| u.as_str().to_string())
        .unwrap_or_else(|| {
            format!("{provider_id}-{}", crate::crypto::sha256_b64(&identity.subject)[..8].to_lowercase())
        })
}

#[allow(clippy::too_many_arguments)]
async fn link(
    state: &AppState,
    tenant: &TenantContext,
    provider: &ProviderInfo,
    identity: &ExternalIdentity,
    user: &users::Model,
    how: &str,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<(), ResolveError> {
    let row = identity_row(tenant, provider, identity, user.id, now);
    match store::identities::insert(&state.db, row).await {
        Ok(_) => {}
        Err(LinkError::AlreadyLinked) => {
            // Either the account was linked by a concurrent request, or the user has another
            // account of this provider: tell which.
            return Err(
                match store::identities::find(&state.db, tenant.id, provider.row_id, &identity.subject)
                    .await?
                {
                    Some(i) if i.user_id != user.id => ResolveError::LinkedElsewhere,
                    Some(_) => return Ok(()),
                    None => ResolveError::ProviderAlreadyLinked,
                },
            );
        }
        Err(LinkError::UsernameTaken) => return Err(ResolveError::Auth(AuthError::UsernameTaken)),
        Err(LinkError::Store(e)) => return Err(e.into()),
    }
    record(state, tenant, "identity.linked", Some(user.id), provider, json!({ "how": how }), meta, now).await;
    Ok(())
}

async fn provision(
    state: &AppState,
    tenant: &TenantContext,
    provider: &ProviderInfo,
    identity: &ExternalIdentity,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<users::Model, ResolveError> {
    let base = base_username(&provider.provider_id, identity);
    for attempt in 0..4 {
        // A taken name gets a random suffix: upstream names are not ours to reserve.
        let candidate = if attempt == 0 {
            base.clone()
        } else {
            format!(
                "{}-{}",
                base.chars().take(50).collect::<String>(),
                &crate::crypto::random_token("")[..6].to_lowercase()
            )
        };
        let Ok(username) = Username::parse(&candidate) else { continue };
        let new = NewUser {
            username: username.as_str().to_string(),
            email: identity.email.clone(),
            password_hash: None,
            roles: Vec::new(),
        };
        let row = identity_row(tenant, provider, identity, Uuid::nil(), now);
        match store::identities::provision(&state.db, tenant.id, new, identity.email_verified, row, now).await
        {
            Ok((user, _)) => {
                let details = json!({ "username": user.username });
                record(state, tenant, "user.provisioned", Some(user.id), provider, details, meta, now).await;
                return Ok(user);
            }
            Err(LinkError::UsernameTaken) => {}
            Err(LinkError::AlreadyLinked) => {
                // A concurrent first login of the same account won: sign in as its user.
                let found =
                    store::identities::find(&state.db, tenant.id, provider.row_id, &identity.subject).await?;
                let user = match found {
                    Some(i) => store::users::find_by_id(&state.db, tenant.id, i.user_id).await?,
                    None => None,
                };
                return user.ok_or(ResolveError::Disabled);
            }
            Err(LinkError::Store(e)) => return Err(e.into()),
        }
    }
    Err(ResolveError::Auth(AuthError::UsernameTaken))
}

#[allow(clippy::too_many_arguments)]
async fn record(
    state: &AppState,
    tenant: &TenantContext,
    event_type: &'static str,
    user_id: Option<Uuid>,
    provider: &ProviderInfo,
    mut details: serde_json::Value,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) {
    details["provider"] = json!(provider.provider_id);
    details["kind"] = json!(provider.kind);
    let event = Event {
        tenant_id: tenant.id,
        event_type,
        actor: None,
        user_id,
        target: Some(format!("provider:{}", provider.provider_id)),
        success: true,
        meta,
        details,
    };
    audit::record(&state.db, event, now).await;
}

/// A user's linked identities with whether their provider is still enabled.
///
/// # Errors
/// Database failure.
pub async fn identities_of(
    state: &AppState,
    tenant: &TenantContext,
    user_id: Uuid,
) -> Result<Vec<identities::Model>, AuthError> {
    Ok(store::identities::list_for_user(&state.db, tenant.id, user_id).await?)
}

#[derive(Debug, thiserror::Error)]
pub enum UnlinkError {
    #[error("no identity of this provider is linked to this user")]
    NotLinked,
    #[error("this is the user's last way to sign in; set a password or link another provider first")]
    LastLoginMethod,
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// Removes a user's identity of one provider, unless nothing would be left to sign in with:
/// a password (while the password strategy is enabled), a passkey, or another identity of an
/// enabled provider.
///
/// # Errors
/// See [`UnlinkError`].
pub async fn unlink(
    state: &AppState,
    tenant: &TenantContext,
    user: &users::Model,
    provider_id: &str,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<(), UnlinkError> {
    let linked =
        store::identities::list_for_user(&state.db, tenant.id, user.id).await.map_err(AuthError::from)?;
    let Some(target) = linked.iter().find(|i| i.provider_id == provider_id) else {
        return Err(UnlinkError::NotLinked);
    };
    let usable = |i: &&identities::Model| {
        tenant.strategies.get(&i.provider_id).is_some_and(|s| s.info().row_id == i.provider_row_id)
    };
    let password = user.password_hash.is_some() && tenant.strategies.password().is_some();
    let others = linked.iter().filter(|i| i.id != target.id).filter(usable).count();
    let passkeys = store::passkeys::count(&state.db, tenant.id, user.id).await.map_err(AuthError::from)?;
    if !password && others == 0 && passkeys == 0 {
        return Err(UnlinkError::LastLoginMethod);
    }
    store::identities::delete(&state.db, tenant.id, target.id).await.map_err(AuthError::from)?;
    let provider = ProviderInfo {
        row_id: target.provider_row_id,
        provider_id: target.provider_id.clone(),
        kind: tenant.strategies.get(provider_id).map(|s| s.info().kind.clone()).unwrap_or_default(),
        display_name: String::new(),
    };
    record(state, tenant, "identity.unlinked", Some(user.id), &provider, json!({}), meta, now).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(username: Option<&str>, email: Option<&str>) -> ExternalIdentity {
        ExternalIdentity {
            subject: "u-1".into(),
            username: username.map(str::to_string),
            email: email.map(str::to_string),
            email_verified: true,
            name: None,
            picture: None,
            claims: json!({}),
        }
    }

    #[test]
    fn an_upstream_name_our_rules_refuse_falls_back_instead_of_failing_the_sign_in() {
        assert_eq!(base_username("corp", &identity(Some("Pat"), None)), "pat");
        // A Cyrillic "а" in a Latin name, then a zero-width space: the email's local part.
        let confusable = identity(Some("\u{430}lice"), Some("alice.b@corp.example"));
        assert_eq!(base_username("corp", &confusable), "alice.b");
        let invisible = identity(Some("al\u{200b}ice"), Some("\u{430}lice@corp.example"));
        assert!(base_username("corp", &invisible).starts_with("corp-"));
    }
}
