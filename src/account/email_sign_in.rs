//! Passwordless sign-in by a mailed link or code, the `email` strategy (`upstream::email`),
//! for the hosted flow: the sign-in page asks for an address, a link and a code go to it,
//! and either one, used in the browser that asked, finishes the pending authorization request.
//!
//! - **Bound to the browser.** The asking browser gets a random nonce in a cookie; only its
//!   SHA-256 is stored with the token. A link opened elsewhere (a phone, a colleague, a mail
//!   scanner) shows a page and signs nobody in, and the token stays usable.
//! - **Scanner-safe.** Opening the link ([`peek_link`]) spends nothing; only the page's POST
//!   ([`sign_in_by_link`]) does.
//! - **Enumeration-safe.** Known and unknown addresses get the same answer; only a known
//!   address of exactly one active user gets mail (addresses are not unique per tenant).
//! - **`amr`.** The session records [`AMR_EMAIL`]: one factor, never `mfa`.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::TransactionTrait;
use serde_json::json;

use super::{
    action::{self, Action, NewAction, Purpose},
    events::record,
};
use crate::{
    auth::{AuthError, ClientMeta},
    crypto::sha256_b64,
    domain::email::Email,
    state::AppState,
    store::{self, entities::users},
    tenancy::TenantContext,
};

/// The `amr` value of a sign-in by a mailed link or code. RFC 8176 registers none for it
/// (`otp` means an authenticator's HOTP/TOTP, which relying parties may count as a second
/// factor); `email` is the value Okta and others use for the same method.
pub const AMR_EMAIL: &str = "email";

/// What became of a request for a sign-in mail.
#[derive(Debug, PartialEq, Eq)]
pub enum Requested {
    /// Answered alike for every address: mail went out if the address is an account's.
    Sent { valid_minutes: u64 },
    /// This address was sent too many sign-in mails in the last hour (known or not).
    Throttled,
}

/// What a link or code achieved.
#[derive(Debug)]
pub enum Outcome {
    SignedIn {
        user: Box<users::Model>,
        request_id: String,
    },
    /// Unknown, used, replaced or expired (or, for a code, wrong).
    Invalid,
    /// The link or code is fine but this is not the browser that asked for it.
    OtherBrowser,
}

/// What the page a link opens should offer.
#[derive(Debug, PartialEq, Eq)]
pub enum LinkState {
    /// A sign-in button, continuing the pending request `request_id`.
    Ready {
        request_id: String,
    },
    Invalid,
    OtherBrowser,
}

fn binding_hash(nonce: &str) -> String {
    sha256_b64(&format!("email-sign-in:{nonce}"))
}

fn bound_to(action: &Action, nonce: Option<&str>) -> bool {
    let stored = action.payload.as_ref().and_then(|p| p["browser"].as_str()).unwrap_or_default();
    let presented = nonce.filter(|n| !n.is_empty()).map(binding_hash).unwrap_or_default();
    !stored.is_empty()
        && aws_lc_rs::constant_time::verify_slices_are_equal(stored.as_bytes(), presented.as_bytes()).is_ok()
}

fn request_of(action: &Action) -> String {
    action.payload.as_ref().and_then(|p| p["request"].as_str()).unwrap_or_default().to_string()
}

/// The one active user of the tenant with this address, if exactly one has it.
async fn owner(
    state: &AppState,
    tenant: &TenantContext,
    email: &str,
) -> Result<Option<users::Model>, AuthError> {
    let mut found: Vec<users::Model> = store::users::find_by_email(&state.db, tenant.id, email)
        .await?
        .into_iter()
        .filter(|u| u.status == "active")
        .collect();
    Ok(if found.len() == 1 { found.pop() } else { None })
}

/// Mails a sign-in link and code to `address` if it is an account's, bound to the browser
/// holding `browser_nonce` and to the pending request `request_id`. Returns the same for
/// every address, equally fast: the token and its mail are written on a task of their own,
/// after the answer (a failure there is logged; the user can ask again).
///
/// # Errors
/// The strategy is off (`Forbidden`), the address is malformed (`Validation`), or
/// infrastructure failures.
pub async fn request(
    state: &Arc<AppState>,
    tenant: &Arc<TenantContext>,
    address: &str,
    request_id: &str,
    browser_nonce: &str,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<Requested, AuthError> {
    let Some(config) = tenant.strategies.email_sign_in() else {
        return Err(AuthError::Forbidden("sign-in by email is not enabled for this tenant"));
    };
    let email = Email::parse(address)?;
    let valid_minutes = config.valid_minutes;
    if super::address_limit::take(state, tenant.id, "email_sign_in", email.as_str()).await?.is_err() {
        record(state, tenant, "email_sign_in.throttled", None, false, meta, json!({}), now).await;
        return Ok(Requested::Throttled);
    }
    let user = owner(state, tenant, email.as_str()).await?;
    let details = json!({ "known": user.is_some() });
    record(state, tenant, "email_sign_in.requested", user.as_ref().map(|u| u.id), true, meta, details, now)
        .await;
    if let Some(user) = user {
        let (state, tenant) = (Arc::clone(state), Arc::clone(tenant));
        let payload = json!({
            "browser": binding_hash(browser_nonce),
            "request": request_id,
            "email": email.as_str(),
        });
        tokio::spawn(async move {
            let new = NewAction {
                purpose: Purpose::EmailSignIn,
                user: &user,
                to: email.as_str(),
                payload: Some(payload),
                ttl: std::time::Duration::from_secs(valid_minutes * 60),
                address: None,
            };
            if let Err(e) = action::issue(&state, &state.db, &tenant, new, now).await {
                tracing::error!(error = %e, tenant = %tenant.slug, "could not queue a sign-in mail");
            }
        });
    }
    Ok(Requested::Sent { valid_minutes })
}

/// What the page of a link shows, spending nothing.
///
/// # Errors
/// Infrastructure failures.
pub async fn peek_link(
    state: &AppState,
    tenant: &TenantContext,
    token: &str,
    browser_nonce: Option<&str>,
    now: DateTime<Utc>,
) -> Result<LinkState, AuthError> {
    if tenant.strategies.email_sign_in().is_none() {
        return Ok(LinkState::Invalid);
    }
    Ok(match action::peek(state, &state.db, tenant, Purpose::EmailSignIn, token, now).await? {
        None => LinkState::Invalid,
        Some(a) if !bound_to(&a, browser_nonce) => LinkState::OtherBrowser,
        Some(a) => LinkState::Ready { request_id: request_of(&a) },
    })
}

/// Spends a link in the browser that asked for it and signs its user in.
///
/// # Errors
/// Infrastructure failures.
pub async fn sign_in_by_link(
    state: &AppState,
    tenant: &TenantContext,
    token: &str,
    browser_nonce: Option<&str>,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<Outcome, AuthError> {
    match peek_link(state, tenant, token, browser_nonce, now).await? {
        LinkState::Ready { .. } => {}
        LinkState::Invalid => return failed(state, tenant, None, "link", "invalid", meta, now).await,
        LinkState::OtherBrowser => {
            record(
                state,
                tenant,
                "login.failed",
                None,
                false,
                meta,
                json!({ "strategy": "email", "path": "link", "reason": "other_browser" }),
                now,
            )
            .await;
            return Ok(Outcome::OtherBrowser);
        }
    }
    let txn = state.db.begin().await.map_err(store::StoreError::from)?;
    let Some(spent) = action::consume_link(state, &txn, tenant, Purpose::EmailSignIn, token, now).await?
    else {
        return failed(state, tenant, None, "link", "invalid", meta, now).await;
    };
    finish(state, tenant, txn, spent, "link", meta, now).await
}

/// Spends the code of the newest sign-in mail to `address`, typed in the browser that asked.
///
/// # Errors
/// Infrastructure failures.
pub async fn sign_in_by_code(
    state: &AppState,
    tenant: &TenantContext,
    address: &str,
    code: &str,
    browser_nonce: Option<&str>,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<Outcome, AuthError> {
    let user = match Email::parse(address) {
        Ok(e) if tenant.strategies.email_sign_in().is_some() => owner(state, tenant, e.as_str()).await?,
        _ => None,
    };
    let Some(user) = user else {
        action::decoy_code_check(state, code);
        return failed(state, tenant, None, "code", "invalid", meta, now).await;
    };
    let txn = state.db.begin().await.map_err(store::StoreError::from)?;
    let spent = action::consume_code(state, &txn, tenant, Purpose::EmailSignIn, user.id, code, now).await?;
    let Some(spent) = spent else {
        return failed(state, tenant, Some(user.id), "code", "invalid", meta, now).await;
    };
    if !bound_to(&spent, browser_nonce) {
        // Dropping the transaction rolls the spending back: the right browser can still use it.
        drop(txn);
        return failed(state, tenant, Some(user.id), "code", "other_browser", meta, now)
            .await
            .map(|_| Outcome::OtherBrowser);
    }
    finish(state, tenant, txn, spent, "code", meta, now).await
}

#[allow(clippy::too_many_arguments)]
async fn failed(
    state: &AppState,
    tenant: &TenantContext,
    user: Option<uuid::Uuid>,
    path: &str,
    reason: &str,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<Outcome, AuthError> {
    let details = json!({ "strategy": "email", "path": path, "reason": reason });
    record(state, tenant, "login.failed", user, false, meta, details, now).await;
    state.metrics.login("email", crate::metrics::LoginOutcome::Failed);
    Ok(Outcome::Invalid)
}

/// Commits the spent token with its effect: the user is active, and its address, now shown
/// to be theirs, is marked verified.
async fn finish(
    state: &AppState,
    tenant: &TenantContext,
    txn: sea_orm::DatabaseTransaction,
    spent: Action,
    path: &str,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<Outcome, AuthError> {
    let user =
        store::users::find_by_id(&txn, tenant.id, spent.user_id).await?.filter(|u| u.status == "active");
    let Some(mut user) = user else {
        drop(txn);
        return failed(state, tenant, Some(spent.user_id), path, "inactive", meta, now).await;
    };
    // The mail reached the address it went to; the user still has it: it is theirs.
    let mailed = spent.payload.as_ref().and_then(|p| p["email"].as_str());
    let verified_now = !user.email_verified && mailed.is_some() && user.email.as_deref() == mailed;
    if verified_now {
        user.email_verified = true;
        user.updated_at = now;
        user = store::users::update(&txn, user).await?;
    }
    txn.commit().await.map_err(store::StoreError::from)?;
    if verified_now {
        crate::auth::user_changed(state, tenant.id, user.id).await?;
    }
    let details = json!({ "strategy": "email", "path": path });
    record(state, tenant, "login.succeeded", Some(user.id), true, meta, details, now).await;
    state.metrics.login("email", crate::metrics::LoginOutcome::Succeeded);
    Ok(Outcome::SignedIn { request_id: request_of(&spent), user: Box::new(user) })
}
