//! Rendering account mails in the tenant's branding and queuing them through the outbox. The
//! wording lives in the `ui` crate (`gatehouse_ui::MailKind`); links come from the configured
//! public URL only, never from a request's headers.
use chrono::{DateTime, Utc};
use gatehouse_ui::{MailKind, MailVars};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::{
    outbox::{self, Mail},
    state::AppState,
    store::{
        self, StoreError,
        entities::{mail_templates, users},
    },
    tenancy::TenantContext,
};

/// The tenant's brand name and colour, as the hosted pages show them.
pub fn brand(tenant: &TenantContext) -> (&str, &str) {
    let b = &tenant.settings.branding;
    (
        b.name.as_deref().unwrap_or(&tenant.display_name),
        b.primary_color.as_deref().unwrap_or(gatehouse_ui::DEFAULT_COLOUR),
    )
}

/// What goes into one mail besides the tenant and the user.
#[derive(Default)]
pub struct Content<'a> {
    pub link: Option<&'a str>,
    pub code: Option<&'a str>,
    pub valid_minutes: u64,
    /// The other address of an email change.
    pub address: Option<&'a str>,
}

/// Renders `kind` for `user` into a message for `to` with the built-in wording, with the
/// tenant's sender name and reply-to.
///
/// # Errors
/// A template failure (not expected: the templates are checked at compile time).
pub fn render(
    tenant: &TenantContext,
    kind: MailKind,
    user: &users::Model,
    to: &str,
    content: &Content<'_>,
) -> Result<Mail, StoreError> {
    render_with(tenant, kind, user, to, content, None)
}

/// Like [`render`], with the tenant's override of `kind` in its locale when there is one
/// (`account::templates`), read on `db`. An override that fails on real data (it passed with
/// sample data when saved) is logged and the built-in wording used: no mail is lost to it.
///
/// # Errors
/// A database failure.
pub async fn render_for(
    db: &impl ConnectionTrait,
    tenant: &TenantContext,
    kind: MailKind,
    user: &users::Model,
    to: &str,
    content: &Content<'_>,
) -> Result<Mail, StoreError> {
    for locale in super::templates::locales(tenant) {
        if let Some(found) = store::mail_templates::find(db, tenant.id, kind_name(kind), &locale).await? {
            return render_with(tenant, kind, user, to, content, Some(&found));
        }
    }
    render(tenant, kind, user, to, content)
}

fn render_with(
    tenant: &TenantContext,
    kind: MailKind,
    user: &users::Model,
    to: &str,
    content: &Content<'_>,
    custom: Option<&mail_templates::Model>,
) -> Result<Mail, StoreError> {
    let (name, colour) = brand(tenant);
    let vars = MailVars {
        tenant: name,
        colour,
        username: &user.username,
        link: content.link,
        code: content.code,
        valid_minutes: content.valid_minutes,
        address: content.address,
    };
    let parts = custom.map(|c| super::templates::Parts {
        subject: &c.subject,
        text: &c.body_text,
        html: &c.body_html,
    });
    let rendered = match parts.map(|p| super::templates::render(&p, &vars)) {
        Some(Ok(r)) => r,
        other => {
            if let Some(Err(e)) = other {
                tracing::error!(tenant = %tenant.slug, kind = kind_name(kind), error = %e, "mail template override failed; built-in wording used");
            }
            kind.render(&vars).map_err(|e| StoreError::Other(sea_orm::DbErr::Custom(e.to_string())))?
        }
    };
    let policy = &tenant.settings.email;
    Ok(Mail {
        kind: kind_name(kind),
        recipient: to.to_string(),
        sender_name: Some(policy.sender_name.clone().unwrap_or_else(|| name.to_string())),
        reply_to: policy.reply_to.clone(),
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
    })
}

/// The outbox `kind` of a mail (shown in the admin outbox listing).
pub fn kind_name(kind: MailKind) -> &'static str {
    match kind {
        MailKind::VerifyEmail => "verify_email",
        MailKind::ResetPassword => "reset_password",
        MailKind::ChangeEmail => "change_email",
        MailKind::EmailSignIn => "email_sign_in",
        MailKind::UndoEmailChange => "undo_email_change",
        MailKind::PasswordChanged => "password_changed",
        MailKind::RecoveryCodeUsed => "recovery_code_used",
        MailKind::SecondFactorsReset => "second_factors_reset",
        MailKind::SignInMethodAdded => "sign_in_method_added",
    }
}

/// Queues a notice without a secret (e.g. [`MailKind::PasswordChanged`]) to the user's address,
/// if it has one, on `db` (a transaction to tie it to the change it reports).
///
/// # Errors
/// A database failure.
pub async fn notify(
    state: &AppState,
    db: &impl ConnectionTrait,
    tenant: &TenantContext,
    kind: MailKind,
    user: &users::Model,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, StoreError> {
    let Some(to) = user.email.as_deref() else { return Ok(None) };
    let mail = render_for(db, tenant, kind, user, to, &Content::default()).await?;
    Ok(Some(outbox::enqueue(db, &state.master_key, tenant.id, mail, now).await?))
}
