//! Action tokens: single-use secrets mailed to a user, in the manner of Keycloak's action
//! tokens. Each is delivered twice over: a link carrying a 256-bit token, and an 8-digit code
//! to type. Only keyed hashes of both are stored (HMAC under the master key, so a database
//! reader cannot test codes offline). The link's page shows a form ([`peek`] does not spend the
//! token, so mail scanners that fetch links burn nothing) and only its POST spends it
//! ([`consume_link`]). A code is tried against the newest live token of the user and purpose,
//! at most [`MAX_CODE_ATTEMPTS`] times ([`consume_code`]). A new token of a purpose ends the
//! user's older unused ones of that purpose.
use std::time::Duration;

use chrono::{DateTime, Utc};
use gatehouse_ui::MailKind;
use sea_orm::{ConnectionTrait, TransactionSession, TransactionTrait};
use uuid::Uuid;

use super::mail::{self, Content};
use crate::{
    crypto::{self, MasterKey},
    outbox,
    state::AppState,
    store::{
        self, StoreError,
        action_tokens::NewToken,
        entities::{action_tokens as row, users},
    },
    tenancy::TenantContext,
};

/// Wrong codes a token admits; then only its link still works.
pub const MAX_CODE_ATTEMPTS: i32 = 5;

/// Recognisable to secret scanners; never change it (stored hashes cover the prefix).
const LINK_PREFIX: &str = "gha_";

/// What a token lets its holder do once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
    /// Confirms a new address; the payload carries it (`{"email": ...}`).
    ChangeEmail,
    EmailSignIn,
    /// Sent to the old address after a change; the payload carries what to restore.
    UndoEmailChange,
}

impl Purpose {
    pub const ALL: [Self; 5] =
        [Self::VerifyEmail, Self::ResetPassword, Self::ChangeEmail, Self::EmailSignIn, Self::UndoEmailChange];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
            Self::ChangeEmail => "change_email",
            Self::EmailSignIn => "email_sign_in",
            Self::UndoEmailChange => "undo_email_change",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The mail that carries it.
    pub fn mail_kind(self) -> MailKind {
        match self {
            Self::VerifyEmail => MailKind::VerifyEmail,
            Self::ResetPassword => MailKind::ResetPassword,
            Self::ChangeEmail => MailKind::ChangeEmail,
            Self::EmailSignIn => MailKind::EmailSignIn,
            Self::UndoEmailChange => MailKind::UndoEmailChange,
        }
    }

    /// The hosted page the link opens, below `/t/{tenant}/`; it reads `?token=`.
    pub fn page(self) -> &'static str {
        match self {
            Self::VerifyEmail => "account/verify-email",
            Self::ResetPassword => "account/reset-password",
            Self::ChangeEmail => "account/confirm-email",
            Self::EmailSignIn => "account/email-sign-in",
            Self::UndoEmailChange => "account/undo-email-change",
        }
    }
}

/// A token to issue.
pub struct NewAction<'a> {
    pub purpose: Purpose,
    pub user: &'a users::Model,
    /// Where the mail goes: the user's address, or the new one of an email change.
    pub to: &'a str,
    /// What the action applies, stored with the token (not secret, not mailed).
    pub payload: Option<serde_json::Value>,
    pub ttl: Duration,
    /// The other address an email change mail names.
    pub address: Option<&'a str>,
}

/// An issued token. Its secrets went into the mail only.
#[derive(Debug, Clone)]
pub struct Issued {
    pub id: Uuid,
    pub outbox_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// A live (or just spent) token as the flows see it.
#[derive(Debug, Clone)]
pub struct Action {
    pub id: Uuid,
    pub user_id: Uuid,
    pub purpose: Purpose,
    pub payload: Option<serde_json::Value>,
    pub expires_at: DateTime<Utc>,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn link_hash(key: &MasterKey, token: &str) -> String {
    key.keyed_hash("action-link", token)
}

fn code_hash(key: &MasterKey, id: Uuid, code: &str) -> String {
    key.keyed_hash("action-code", &format!("{id}:{code}"))
}

/// Eight uniformly random digits. (The modulo bias of 2^64 mod 10^8 is below 10^-10.)
fn new_code() -> String {
    let n = u64::from_le_bytes(crypto::random_bytes::<8>()) % 100_000_000;
    format!("{n:08}")
}

/// How a code is shown: `1234-5678`.
fn display_code(code: &str) -> String {
    format!("{}-{}", &code[..4], &code[4..])
}

/// A typed code as stored: digits only (spaces and dashes dropped), or `None` if it cannot be one.
pub fn normalize_code(typed: &str) -> Option<String> {
    let digits: String = typed.chars().filter(|c| !matches!(c, ' ' | '-' | '\u{a0}')).collect();
    (digits.len() == 8 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// The link a mail carries: `{public_url}/t/{tenant}/{page}?token=...`.
pub fn link(state: &AppState, tenant: &TenantContext, purpose: Purpose, token: &str) -> String {
    format!("{}/t/{}/{}?token={token}", state.settings.public_url(), tenant.slug, purpose.page())
}

fn to_action(r: row::Model) -> Option<Action> {
    Some(Action {
        id: r.id,
        user_id: r.user_id,
        purpose: Purpose::parse(&r.purpose)?,
        payload: r.payload,
        expires_at: DateTime::from_timestamp_millis(r.expires_at)?,
    })
}

/// Issues a token and queues its mail in one transaction (nested in `db` if it is one):
/// ends the user's older unused tokens of the purpose, stores the new one's hashes, renders the
/// purpose's mail in the tenant's branding and hands it to [`outbox::enqueue`].
///
/// # Errors
/// A database failure; nothing is stored then.
pub async fn issue<C: ConnectionTrait + TransactionTrait>(
    state: &AppState,
    db: &C,
    tenant: &TenantContext,
    new: NewAction<'_>,
    now: DateTime<Utc>,
) -> Result<Issued, StoreError> {
    let id = Uuid::now_v7();
    let token = crypto::random_token(LINK_PREFIX);
    let code = new_code();
    let ttl = chrono::Duration::from_std(new.ttl).unwrap_or(chrono::Duration::minutes(30));
    let expires_at = now + ttl;
    let url = link(state, tenant, new.purpose, &token);
    let shown = display_code(&code);
    let content = Content {
        link: Some(&url),
        code: Some(&shown),
        valid_minutes: new.ttl.as_secs().div_ceil(60),
        address: new.address,
    };
    let mail = mail::render_for(db, tenant, new.purpose.mail_kind(), new.user, new.to, &content).await?;
    let txn = db.begin().await?;
    store::action_tokens::supersede(&txn, tenant.id, new.user.id, new.purpose.as_str(), ms(now)).await?;
    store::action_tokens::insert(
        &txn,
        NewToken {
            id,
            tenant_id: tenant.id,
            user_id: new.user.id,
            purpose: new.purpose.as_str(),
            link_hash: link_hash(&state.master_key, &token),
            code_hash: code_hash(&state.master_key, id, &code),
            payload: new.payload,
            expires_at: ms(expires_at),
            now,
        },
    )
    .await?;
    let outbox_id = outbox::enqueue(&txn, &state.master_key, tenant.id, mail, now).await?;
    txn.commit().await?;
    Ok(Issued { id, outbox_id, expires_at })
}

/// The live token of `purpose` behind a link, without spending it (the page a link opens).
///
/// # Errors
/// A database failure.
pub async fn peek(
    state: &AppState,
    db: &impl ConnectionTrait,
    tenant: &TenantContext,
    purpose: Purpose,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<Action>, StoreError> {
    if !token.starts_with(LINK_PREFIX) || token.len() > 128 {
        return Ok(None);
    }
    let found =
        store::action_tokens::find_by_link(db, tenant.id, &link_hash(&state.master_key, token)).await?;
    Ok(found
        .filter(|r| r.purpose == purpose.as_str() && r.consumed_at.is_none() && r.expires_at > ms(now))
        .and_then(to_action))
}

/// Spends the token behind a link: `Some` for exactly one caller, `None` when it is unknown,
/// of another purpose, expired, used or replaced. Pass the transaction that applies the
/// action, so a failure to apply it leaves the token usable.
///
/// # Errors
/// A database failure.
pub async fn consume_link(
    state: &AppState,
    db: &impl ConnectionTrait,
    tenant: &TenantContext,
    purpose: Purpose,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<Action>, StoreError> {
    // Read on the main connection: the caller's transaction then starts with its write,
    // which SQLite needs to take the write lock without a stale snapshot.
    let Some(action) = peek(state, &state.db, tenant, purpose, token, now).await? else { return Ok(None) };
    let won = store::action_tokens::consume(db, tenant.id, action.id, ms(now)).await?;
    Ok(won.then_some(action))
}

/// Spends the newest live token of `user` and `purpose` if `typed` is its code. Each try
/// counts (on the main connection, so a rolled-back caller does not undo it); after
/// [`MAX_CODE_ATTEMPTS`] the code stops working and only the link remains. Pass the
/// transaction that applies the action as `db`.
///
/// # Errors
/// A database failure.
pub async fn consume_code(
    state: &AppState,
    db: &impl ConnectionTrait,
    tenant: &TenantContext,
    purpose: Purpose,
    user: Uuid,
    typed: &str,
    now: DateTime<Utc>,
) -> Result<Option<Action>, StoreError> {
    let Some(code) = normalize_code(typed) else { return Ok(None) };
    let live =
        store::action_tokens::latest_live(&state.db, tenant.id, user, purpose.as_str(), ms(now)).await?;
    let Some(r) = live else { return Ok(None) };
    if !store::action_tokens::count_attempt(&state.db, tenant.id, r.id, MAX_CODE_ATTEMPTS).await? {
        return Ok(None);
    }
    if !state.master_key.verify_keyed_hash("action-code", &format!("{}:{code}", r.id), &r.code_hash) {
        return Ok(None);
    }
    let won = store::action_tokens::consume(db, tenant.id, r.id, ms(now)).await?;
    Ok(if won { to_action(r) } else { None })
}

/// The work [`issue`] does before it writes, for requests about an unknown address: a token,
/// a code, their hashes and a rendered mail, all thrown away.
pub fn decoy(state: &AppState, tenant: &TenantContext, purpose: Purpose) {
    let token = crypto::random_token(LINK_PREFIX);
    let code = new_code();
    let _ = (link_hash(&state.master_key, &token), code_hash(&state.master_key, Uuid::nil(), &code));
    let url = link(state, tenant, purpose, &token);
    let stand_in = users::Model {
        id: Uuid::nil(),
        tenant_id: tenant.id,
        username: "user".into(),
        email: None,
        email_verified: false,
        password_hash: None,
        status: "active".into(),
        roles: serde_json::json!([]),
        display_name: None,
        second_factor_required: false,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    };
    let content = Content { link: Some(&url), code: Some(&code), valid_minutes: 30, address: None };
    let _ = mail::render(tenant, purpose.mail_kind(), &stand_in, "user@example.invalid", &content);
}

/// The work [`consume_code`] does for a real user, for callers answering about an unknown one,
/// so timing does not tell them apart.
pub fn decoy_code_check(state: &AppState, typed: &str) {
    let code = normalize_code(typed).unwrap_or_default();
    let _ = state.master_key.verify_keyed_hash("action-code", &format!("{}:{code}", Uuid::nil()), "");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_eight_digits_and_typed_forms_normalise() {
        for _ in 0..100 {
            let c = new_code();
            assert_eq!(c.len(), 8);
            assert_eq!(normalize_code(&display_code(&c)).as_deref(), Some(c.as_str()));
        }
        assert_eq!(normalize_code(" 1234 5678 ").as_deref(), Some("12345678"));
        assert_eq!(normalize_code("1234-567"), None);
        assert_eq!(normalize_code("1234-567x"), None);
    }

    #[test]
    fn purposes_round_trip() {
        for p in Purpose::ALL {
            assert_eq!(Purpose::parse(p.as_str()), Some(p));
        }
    }
}
