//! Outgoing mail through one outbox (STYLE.md): a service writes the message in the same
//! transaction as the token it carries ([`enqueue`]); one worker per instance ([`run`]) claims
//! due rows, sends them through [`crate::mail::Mailer`], and marks them sent or schedules a
//! retry with exponential backoff. An SMTP outage delays mail and loses none; a crash mid-send
//! leaves a claim whose lease runs out and another worker picks the row up.
use std::{sync::Arc, time::Duration};

use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::{
    config::EmailSettings,
    crypto::MasterKey,
    mail::{MailError, Mailer, Outgoing},
    state::AppState,
    store::{self, StoreError, entities::outbox as row, outbox::NewMessage},
};

/// A rendered message for [`enqueue`].
pub struct Mail {
    pub kind: &'static str,
    pub recipient: String,
    pub sender_name: Option<String>,
    pub reply_to: Option<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
}

fn aad(id: Uuid, part: &str) -> Vec<u8> {
    format!("outbox:{id}:{part}").into_bytes()
}

/// Queues `mail` for `tenant` on `db`, which should be the transaction that also writes the
/// token the mail carries: both are committed or neither. Bodies are sealed with the master key.
///
/// # Errors
/// A database failure.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    key: &MasterKey,
    tenant: Uuid,
    mail: Mail,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    store::outbox::insert(
        db,
        NewMessage {
            id,
            tenant_id: tenant,
            kind: mail.kind.into(),
            recipient: mail.recipient,
            sender_name: mail.sender_name,
            reply_to: mail.reply_to,
            subject: mail.subject,
            body_text: key.encrypt(mail.text.as_bytes(), &aad(id, "text")),
            body_html: key.encrypt(mail.html.as_bytes(), &aad(id, "html")),
            now,
        },
    )
    .await?;
    Ok(id)
}

/// The wait before attempt `attempts + 1`, after `attempts` failed ones.
pub fn backoff(settings: &EmailSettings, attempts: u32) -> Duration {
    let factor = 1u64 << attempts.saturating_sub(1).min(30);
    Duration::from_millis(settings.retry_base_ms.saturating_mul(factor).min(settings.retry_max_ms))
}

/// The worker: runs until `stop` turns true.
pub async fn run(state: Arc<AppState>, mailer: Mailer, mut stop: tokio::sync::watch::Receiver<bool>) {
    let worker = crate::crypto::random_id();
    let settings = &state.settings.email;
    tracing::info!(transport = %mailer.describe(), "outbox worker started");
    let idle = Duration::from_millis(settings.poll_interval_ms.max(10));
    loop {
        if *stop.borrow() {
            break;
        }
        let busy = match round(&state, &mailer, &worker).await {
            Ok(n) => n > 0,
            Err(e) => {
                tracing::warn!(error = %e, "outbox: cannot claim messages");
                false
            }
        };
        if !busy {
            tokio::select! {
                () = tokio::time::sleep(idle) => {}
                // A dropped sender (the App is gone) stops the worker too.
                changed = stop.changed() => if changed.is_err() { break; }
            }
        }
    }
    tracing::info!("outbox worker stopped");
}

/// Claims one batch and delivers it; returns how many rows were claimed.
async fn round(state: &AppState, mailer: &Mailer, worker: &str) -> Result<usize, StoreError> {
    let settings = &state.settings.email;
    let now = chrono::Utc::now();
    let lease =
        now.timestamp_millis() + i64::try_from(settings.claim_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let rows = store::outbox::claim(&state.db, worker, now.timestamp_millis(), lease, settings.batch).await?;
    let n = rows.len();
    for r in rows {
        deliver(state, mailer, worker, r).await?;
    }
    Ok(n)
}

async fn deliver(state: &AppState, mailer: &Mailer, worker: &str, r: row::Model) -> Result<(), StoreError> {
    let settings = &state.settings.email;
    let open = |part: &str, sealed: &[u8]| {
        state.master_key.decrypt(sealed, &aad(r.id, part)).ok().and_then(|b| String::from_utf8(b).ok())
    };
    let result = match (open("text", &r.body_text), open("html", &r.body_html)) {
        (Some(text), Some(html)) => {
            let message = Outgoing {
                id: r.id,
                to: &r.recipient,
                sender_name: r.sender_name.as_deref(),
                reply_to: r.reply_to.as_deref(),
                subject: &r.subject,
                text,
                html,
            };
            mailer.send(&message).await
        }
        _ => Err(MailError::Invalid("the body cannot be decrypted with this master key".into())),
    };
    let now = chrono::Utc::now();
    match result {
        Ok(path) => {
            store::outbox::mark_sent(&state.db, r.id, worker, now).await?;
            match path {
                // The path only: the file holds a token, the log must not.
                Some(path) => {
                    tracing::info!(id = %r.id, kind = %r.kind, path = %path.display(), "mail written to the maildir")
                }
                None => tracing::info!(id = %r.id, kind = %r.kind, attempts = r.attempts, "mail sent"),
            }
        }
        Err(e) => {
            let attempts = u32::try_from(r.attempts).unwrap_or(u32::MAX);
            let give_up = e.is_permanent() || attempts >= settings.max_attempts;
            let wait = backoff(settings, attempts);
            let next = now.timestamp_millis() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
            store::outbox::mark_failed(&state.db, r.id, worker, &e.to_string(), next, give_up).await?;
            if give_up {
                tracing::error!(id = %r.id, kind = %r.kind, attempts, error = %e, "mail failed for good");
            } else {
                tracing::warn!(id = %r.id, kind = %r.kind, attempts, retry_in_ms = wait.as_millis() as u64, error = %e, "mail not sent, will retry");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = EmailSettings { retry_base_ms: 100, retry_max_ms: 1_000, ..EmailSettings::default() };
        let waits: Vec<u64> = (1..=6).map(|a| backoff(&s, a).as_millis() as u64).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1_000, 1_000]);
    }
}
