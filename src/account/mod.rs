//! Account recovery and email ([email](../../docs/email.md)): single-use action tokens mailed
//! as a link and a typed code (`action`), the mails they travel in (`mail`), password reset
//! (`reset`) and address verification (`verify`). Sits above `auth` (it ends sessions and lifts
//! locks) and `outbox`.
pub mod action;
pub mod address_limit;
pub mod email_change;
pub mod email_sign_in;
pub mod events;
pub mod profile;
pub use crate::mailing::{mail, templates};
pub mod reset;
pub mod verify;

use chrono::{DateTime, Utc};

use crate::{
    audit::{self, Event},
    auth::{AuthError, ClientMeta},
    domain::ValidationError,
    error::ApiError,
    kv::KvError,
    state::AppState,
    store::{StoreError, entities::users},
    tenancy::TenantContext,
};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Unknown, expired, used or replaced; one message for all, so it reveals nothing.
    #[error("this link or code is invalid, expired or already used")]
    InvalidToken,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error(transparent)]
    Validation(#[from] ValidationError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Kv(#[from] KvError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::InvalidToken => Self::bad_request("invalid_action_token", e.to_string()),
            AccountError::Forbidden(why) => Self::forbidden("forbidden", why),
            AccountError::Validation(v) => v.into(),
            AccountError::Auth(a) => a.into(),
            AccountError::Store(s) => s.into(),
            AccountError::Kv(k) => k.into(),
            AccountError::Unexpected(u) => Self::internal(u),
        }
    }
}

/// How a mailed secret comes back: the link's token, or the typed code with the address it
/// went to (which names the user).
#[derive(Debug, Clone, Copy)]
pub enum Proof<'a> {
    Link(&'a str),
    Code { email: &'a str, code: &'a str },
}

/// What a request to mail one user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Queued,
    /// Nothing to send: no address, or (verification) verified already.
    Nothing,
    /// The address had its hourly share of mail.
    Throttled {
        retry_after: u64,
    },
}

/// The active users an address names (emails are not unique; a few at most get mail).
async fn users_at(
    state: &AppState,
    tenant: &TenantContext,
    email: &str,
) -> Result<Vec<users::Model>, StoreError> {
    let found = crate::store::users::find_by_email(&state.db, tenant.id, email).await?;
    Ok(found.into_iter().filter(|u| u.status == "active").take(3).collect())
}

#[allow(clippy::too_many_arguments)]
async fn record(
    state: &AppState,
    tenant: &TenantContext,
    event_type: &str,
    user: Option<&users::Model>,
    target: Option<String>,
    success: bool,
    meta: &ClientMeta,
    details: serde_json::Value,
    now: DateTime<Utc>,
) {
    let event = Event {
        tenant_id: tenant.id,
        event_type,
        actor: None,
        user_id: user.map(|u| u.id),
        target: target.or_else(|| user.map(|u| u.username.clone())),
        success,
        meta,
        details,
    };
    audit::record(&state.db, event, now).await;
}

/// Self-registration ([`crate::auth::register`]) followed, when the tenant's policy is not
/// `off` and an address was given, by a verification mail. A failure to queue the mail is
/// logged, not returned: the account exists, and the user can ask for another mail.
///
/// # Errors
/// Those of [`crate::auth::register`].
pub async fn register(
    state: &AppState,
    tenant_slug: &str,
    username: &str,
    password: String,
    email: Option<&str>,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<users::Model, AccountError> {
    let user = crate::auth::register(state, tenant_slug, username, password, email, meta, now).await?;
    if let Some(tenant) = state.tenants.get_active(tenant_slug).await.map_err(AuthError::from)?
        && tenant.settings.email.verification_on()
        && user.email.is_some()
        && let Err(e) = verify::send(state, &tenant, &user, meta, "registration", now).await
    {
        tracing::warn!(error = %e, "could not queue the verification mail of a new user");
    }
    Ok(user)
}

/// Spends the token `proof` names, on `db` (the transaction that applies it).
async fn consume(
    state: &AppState,
    db: &impl sea_orm::ConnectionTrait,
    tenant: &TenantContext,
    purpose: action::Purpose,
    proof: Proof<'_>,
    now: DateTime<Utc>,
) -> Result<Option<action::Action>, StoreError> {
    let (email, code) = match proof {
        Proof::Link(token) => return action::consume_link(state, db, tenant, purpose, token, now).await,
        Proof::Code { email, code } => (email, code),
    };
    let users = match crate::domain::Email::parse(email) {
        Ok(e) => users_at(state, tenant, e.as_str()).await?,
        Err(_) => Vec::new(),
    };
    if users.is_empty() {
        action::decoy_code_check(state, code);
        return Ok(None);
    }
    for u in users {
        if let Some(found) = action::consume_code(state, db, tenant, purpose, u.id, code, now).await? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// Whether a token's payload names the address the user has now (a token mailed to an
/// address the user has since changed proves nothing about the new one).
fn mailed_to_current(action: &action::Action, user: &users::Model) -> bool {
    let sent_to = action.payload.as_ref().and_then(|p| p.get("email")).and_then(|e| e.as_str());
    sent_to.is_some() && sent_to == user.email.as_deref()
}

/// Sample values to preview or check a template of `kind` with: its link leads to the kind's
/// page (with a made-up token), as the real mail's would.
pub fn sample(public_url: &str, tenant: &TenantContext, kind: gatehouse_ui::MailKind) -> templates::Sample {
    let page = action::Purpose::ALL.into_iter().find(|p| p.mail_kind() == kind).map(|p| p.page());
    templates::Sample::new(public_url, tenant, page)
}
