//! Account mail for a user, and a tenant's outbox.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::AdminAuth;
use crate::{
    admin::{self, mail::AdminMail},
    api::{ApiTags, me::UserView},
    error::ApiError,
    state::AppState,
    store::entities::outbox,
};

pub struct AdminMailApi;

/// One outgoing message as admins see it: where it stands, never its body or the secret in it.
#[derive(Object)]
pub struct OutboxEntry {
    pub id: Uuid,
    /// `verify_email`, `reset_password`, `password_changed`, ...
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    /// `pending`, `sending`, `sent` or `failed`.
    pub status: String,
    pub attempts: i32,
    /// Why the last attempt failed (kind and SMTP status only).
    #[oai(skip_serializing_if_is_none)]
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When a pending message is tried next.
    #[oai(skip_serializing_if_is_none)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<outbox::Model> for OutboxEntry {
    fn from(m: outbox::Model) -> Self {
        let next =
            (m.status == "pending").then(|| DateTime::from_timestamp_millis(m.next_attempt_at)).flatten();
        Self {
            id: m.id,
            kind: m.kind,
            recipient: m.recipient,
            subject: m.subject,
            status: m.status,
            attempts: m.attempts,
            last_error: m.last_error,
            created_at: m.created_at,
            next_attempt_at: next,
            sent_at: m.sent_at,
        }
    }
}

#[derive(Object)]
pub struct OutboxList {
    /// Newest first.
    pub items: Vec<OutboxEntry>,
}

#[derive(ApiResponse)]
pub enum OutboxOk {
    #[oai(status = 200)]
    Ok(Json<OutboxList>),
}

#[derive(ApiResponse)]
pub enum MailQueued {
    /// The mail is queued; the outbox shows its delivery.
    #[oai(status = 202)]
    Accepted,
}

#[derive(ApiResponse)]
pub enum VerifiedOk {
    /// The stored user.
    #[oai(status = 200)]
    Ok(Json<UserView>),
}

#[OpenApi(tag = "ApiTags::AdminMail")]
impl AdminMailApi {
    /// Send a verification mail
    ///
    /// Mails the user a new verification link and code for their current address (older ones
    /// stop working). 409 `no_email` or `email_already_verified`; 429 `mail_throttled` past the
    /// address's hourly budget.
    #[oai(
        path = "/admin/v1/tenants/:tenant/users/:user_id/send-verification",
        method = "post",
        operation_id = "adminSendVerificationMail"
    )]
    async fn send_verification(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        user_id: Path<Uuid>,
    ) -> Result<MailQueued, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        admin::mail::send(state, &auth.0, &t, user_id.0, AdminMail::Verification, Utc::now()).await?;
        Ok(MailQueued::Accepted)
    }

    /// Send a password reset mail
    ///
    /// Mails the user a reset link and code (older ones stop working). The password stays as it
    /// is until the user chooses a new one. 409 `no_email`; 429 `mail_throttled`.
    #[oai(
        path = "/admin/v1/tenants/:tenant/users/:user_id/send-password-reset",
        method = "post",
        operation_id = "adminSendPasswordResetMail"
    )]
    async fn send_reset(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        user_id: Path<Uuid>,
    ) -> Result<MailQueued, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        admin::mail::send(state, &auth.0, &t, user_id.0, AdminMail::PasswordReset, Utc::now()).await?;
        Ok(MailQueued::Accepted)
    }

    /// Mark an email address verified
    ///
    /// The admin vouches for the user's current address. 409 `no_email`.
    #[oai(
        path = "/admin/v1/tenants/:tenant/users/:user_id/verify-email",
        method = "post",
        operation_id = "adminMarkEmailVerified"
    )]
    async fn mark_verified(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        user_id: Path<Uuid>,
    ) -> Result<VerifiedOk, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        let user = admin::mail::mark_verified(state, &auth.0, &t, user_id.0, Utc::now()).await?;
        Ok(VerifiedOk::Ok(Json(user.into())))
    }

    /// List the outbox
    ///
    /// The tenant's outgoing mail, newest first: kind, recipient, status, attempts and the last
    /// error. Bodies (which may carry a link) are never shown.
    #[oai(path = "/admin/v1/tenants/:tenant/outbox", method = "get", operation_id = "adminListOutbox")]
    async fn list_outbox(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> Result<OutboxOk, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        let rows = admin::mail::outbox(state, &t, limit.0).await?;
        Ok(OutboxOk::Ok(Json(OutboxList { items: rows.into_iter().map(Into::into).collect() })))
    }
}
