//! The mail transport below the outbox worker: lettre SMTP (STARTTLS, implicit TLS, AUTH, a
//! connection pool; rustls, never OpenSSL), or with no SMTP configured a local maildir whose
//! files the README tour opens. Knows nothing of tenants, tokens or templates.
use std::{path::PathBuf, time::Duration};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
};

use crate::config::{ConfigError, EmailSettings};

/// One message ready to go.
pub struct Outgoing<'a> {
    pub id: uuid::Uuid,
    pub to: &'a str,
    pub sender_name: Option<&'a str>,
    pub reply_to: Option<&'a str>,
    pub subject: &'a str,
    pub text: String,
    pub html: String,
}

/// Why a message was not delivered. The text names no secret (no URL with a password, no
/// body), so it may be stored in the outbox's `last_error`.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The recipient or a header cannot make a valid message: retrying will not help.
    #[error("invalid message: {0}")]
    Invalid(String),
    /// The server refused for good (5xx).
    #[error("rejected by the mail server: {0}")]
    Rejected(String),
    /// Connection, TLS, timeout or a transient (4xx) answer: retried later.
    #[error("mail server unavailable: {0}")]
    Unavailable(String),
}

impl MailError {
    pub fn is_permanent(&self) -> bool {
        !matches!(self, Self::Unavailable(_))
    }
}

pub enum Mailer {
    Smtp { transport: AsyncSmtpTransport<Tokio1Executor>, from: lettre::Address },
    Maildir { dir: PathBuf, from: lettre::Address },
}

impl Mailer {
    /// # Errors
    /// An SMTP URL or `from` address that cannot be used (named by key, never by value).
    pub fn new(settings: &EmailSettings) -> Result<Self, ConfigError> {
        let from: lettre::Address = settings
            .from
            .parse()
            .map_err(|_| ConfigError::key("GATEHOUSE__EMAIL__FROM", "must be an email address"))?;
        match &settings.smtp_url {
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .map_err(|_| {
                        ConfigError::key(
                            "GATEHOUSE__EMAIL__SMTP_URL",
                            "is not a usable SMTP URL (smtp://[user:password@]host[:port][?tls=required] or smtps://)",
                        )
                    })?
                    .timeout(Some(Duration::from_secs(settings.smtp_timeout_secs)))
                    .build();
                Ok(Self::Smtp { transport, from })
            }
            None => Ok(Self::Maildir { dir: settings.maildir.clone(), from }),
        }
    }

    /// Where messages go, for the startup log line (no credentials).
    pub fn describe(&self) -> String {
        match self {
            Self::Smtp { .. } => "smtp".into(),
            Self::Maildir { dir, .. } => format!("maildir {}", dir.display()),
        }
    }

    /// Delivers one message. For the maildir, returns the file written.
    ///
    /// # Errors
    /// See [`MailError`].
    pub async fn send(&self, m: &Outgoing<'_>) -> Result<Option<PathBuf>, MailError> {
        let from = match self {
            Self::Smtp { from, .. } | Self::Maildir { from, .. } => from,
        };
        let message = build(from, m)?;
        match self {
            Self::Smtp { transport, .. } => match transport.send(message).await {
                Ok(_) => Ok(None),
                Err(e) if e.is_permanent() => Err(MailError::Rejected(smtp_error(&e))),
                Err(e) => Err(MailError::Unavailable(smtp_error(&e))),
            },
            Self::Maildir { dir, .. } => {
                let bytes = message.formatted();
                let name = format!("{}.{}.gatehouse.eml", chrono::Utc::now().timestamp(), m.id.simple());
                let (tmp, new) = (dir.join("tmp"), dir.join("new"));
                let write = async {
                    tokio::fs::create_dir_all(&tmp).await?;
                    tokio::fs::create_dir_all(&new).await?;
                    tokio::fs::write(tmp.join(&name), &bytes).await?;
                    // Maildir: a reader never sees a half-written file in new/.
                    tokio::fs::rename(tmp.join(&name), new.join(&name)).await
                };
                write.await.map_err(|e| MailError::Unavailable(format!("maildir: {}", e.kind())))?;
                Ok(Some(new.join(name)))
            }
        }
    }
}

fn build(from: &lettre::Address, m: &Outgoing<'_>) -> Result<Message, MailError> {
    let to: lettre::Address = m.to.parse().map_err(|_| MailError::Invalid("recipient address".into()))?;
    // The display name is the tenant's; lettre quotes and encodes it, and line breaks are
    // dropped so it can never start a header of its own.
    let name = m.sender_name.map(|n| n.replace(['\r', '\n'], " "));
    let mut builder = Message::builder()
        .from(Mailbox::new(name, from.clone()))
        .to(Mailbox::new(None, to))
        .subject(m.subject.replace(['\r', '\n'], " "))
        .message_id(Some(format!("<{}@{}>", m.id.simple(), from.domain())));
    if let Some(reply_to) = m.reply_to {
        let reply_to: lettre::Address =
            reply_to.parse().map_err(|_| MailError::Invalid("reply-to address".into()))?;
        builder = builder.reply_to(Mailbox::new(None, reply_to));
    }
    builder
        .multipart(MultiPart::alternative_plain_html(m.text.clone(), m.html.clone()))
        .map_err(|e| MailError::Invalid(e.to_string()))
}

/// The error's kind and status without its source chain (which may quote the server).
fn smtp_error(e: &lettre::transport::smtp::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_tls() {
        "tls"
    } else if e.is_permanent() {
        "permanent"
    } else if e.is_transient() {
        "transient"
    } else if e.is_client() {
        "client"
    } else {
        "connection"
    };
    match e.status() {
        Some(code) => format!("{kind} ({code})"),
        None => kind.to_string(),
    }
}
