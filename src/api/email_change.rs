//! The signed-in user's email address: a change takes effect only once confirmed from a mail
//! to the new address (see `account::email_change`).
use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};

use super::{ApiTags, client_meta, me::UserView, security::UserBearer};
use crate::{
    account::email_change::{self, Applied, Requested},
    error::ApiError,
    state::AppState,
};

pub struct EmailChangeApi;

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ChangeEmailRequest {
    /// The new address. It replaces the current one only once confirmed from a mail sent to it.
    #[oai(validator(max_length = 254))]
    pub email: String,
}

#[derive(Object)]
pub struct ChangeEmailPending {
    /// `confirmation_sent`.
    pub status: String,
    /// Until when the mailed link and code work.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ConfirmEmailRequest {
    /// The code from the mail to the new address (`1234-5678`; spaces and dashes optional).
    #[oai(validator(max_length = 32))]
    pub code: String,
}

#[derive(ApiResponse)]
pub enum ChangeEmailResponse {
    /// A confirmation (link and code) was mailed to the new address.
    #[oai(status = 202)]
    Accepted(Json<ChangeEmailPending>),
}

#[derive(ApiResponse)]
pub enum ConfirmEmailResponse {
    /// The new address is in place and verified; the old one was sent a notice with an undo link.
    #[oai(status = 200)]
    Ok(Json<UserView>),
}

#[OpenApi(tag = "ApiTags::Me")]
impl EmailChangeApi {
    /// Change my email address
    ///
    /// Mails a link and a code to the new address; the address changes only when one of them
    /// is used (the link's page, or `POST /t/{tenant}/me/email/confirm`). The answer is the
    /// same whether or not another account uses the address: confirming tells the mailbox's
    /// owner (409 `email_taken`). 400 `email_unchanged` for the current address, 409
    /// `email_recently_changed` while the undo link of the last change still works, 429
    /// `email_throttled` when the address was sent too many mails in the last hour.
    #[oai(path = "/t/:tenant/me/email", method = "post", operation_id = "changeEmail")]
    async fn change_email(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &poem::Request,
        auth: UserBearer,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
        body: Json<ChangeEmailRequest>,
    ) -> Result<ChangeEmailResponse, ApiError> {
        let _ = tenant;
        let user = crate::auth::current_user(state, &auth.0).await?;
        let now = chrono::Utc::now();
        let meta = client_meta(req);
        match email_change::request(state, &auth.0.tenant, &user, &body.email, &meta, now).await? {
            Requested::Sent { expires_at } => Ok(ChangeEmailResponse::Accepted(Json(ChangeEmailPending {
                status: "confirmation_sent".into(),
                expires_at,
            }))),
            Requested::Unchanged => {
                Err(ApiError::bad_request("email_unchanged", "this is already the account's address"))
            }
            Requested::RecentlyChanged { until } => Err(ApiError::conflict(
                "email_recently_changed",
                format!(
                    "the address changed recently and can change again after {} (or once the change is undone)",
                    until.to_rfc3339()
                ),
            )),
            Requested::Throttled => Err(ApiError::too_many(
                "email_throttled",
                "this address was sent too many mails; try again later",
                3600,
            )),
        }
    }

    /// Confirm my new email address with the mailed code
    ///
    /// The code from the mail to the new address (the mail's link does the same in a
    /// browser). 400 `invalid_code` for a wrong, used or expired code (five wrong tries end
    /// it; the link still works), 409 `email_taken` when another account of the tenant has
    /// the address by now.
    #[oai(path = "/t/:tenant/me/email/confirm", method = "post", operation_id = "confirmEmailChange")]
    async fn confirm_email(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &poem::Request,
        auth: UserBearer,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
        body: Json<ConfirmEmailRequest>,
    ) -> Result<ConfirmEmailResponse, ApiError> {
        let _ = tenant;
        let user = crate::auth::current_user(state, &auth.0).await?;
        let now = chrono::Utc::now();
        let meta = client_meta(req);
        match email_change::confirm_by_code(state, &auth.0.tenant, user.id, &body.code, &meta, now).await? {
            Applied::Done(user) => Ok(ConfirmEmailResponse::Ok(Json((*user).into()))),
            Applied::Invalid | Applied::Stale => {
                Err(ApiError::bad_request("invalid_code", "the code is wrong, used or expired"))
            }
            Applied::Taken => Err(ApiError::conflict(
                "email_taken",
                "another account uses this address; it cannot be yours",
            )),
        }
    }
}
