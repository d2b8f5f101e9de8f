//! Account recovery endpoints: password reset and email verification by mailed link or code.
use std::sync::Arc;

use poem::Request;
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};

use super::{ApiTags, active_tenant, client_meta};
use crate::{
    account::{self, Proof},
    error::ApiError,
    state::AppState,
};

pub struct AccountApi;

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct AddressRequest {
    #[oai(validator(max_length = 254))]
    pub email: String,
}

/// A mailed secret: the `token` from the link, or the `email` it went to with the `code`.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ProofRequest {
    #[oai(skip_serializing_if_is_none, validator(max_length = 128))]
    pub token: Option<String>,
    #[oai(skip_serializing_if_is_none, validator(max_length = 254))]
    pub email: Option<String>,
    /// Eight digits; spaces and a dash are ignored.
    #[oai(skip_serializing_if_is_none, validator(max_length = 32))]
    pub code: Option<String>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ResetRequest {
    #[oai(skip_serializing_if_is_none, validator(max_length = 128))]
    pub token: Option<String>,
    #[oai(skip_serializing_if_is_none, validator(max_length = 254))]
    pub email: Option<String>,
    /// Eight digits; spaces and a dash are ignored.
    #[oai(skip_serializing_if_is_none, validator(max_length = 32))]
    pub code: Option<String>,
    /// The new password; the tenant's password policy applies.
    #[oai(validator(max_length = 1024))]
    pub password: String,
}

/// The one answer to a mail request, whatever the address.
#[derive(Object)]
pub struct Accepted {
    /// Always `accepted`.
    pub status: String,
    pub message: String,
}

#[derive(ApiResponse)]
pub enum AcceptedResponse {
    /// Accepted. The same answer whether or not the address belongs to anyone here.
    #[oai(status = 202)]
    Accepted(Json<Accepted>),
}

impl AcceptedResponse {
    fn new() -> Self {
        Self::Accepted(Json(Accepted {
            status: "accepted".into(),
            message: "If this address belongs to an account here, a message is on its way.".into(),
        }))
    }
}

#[derive(ApiResponse)]
pub enum DoneResponse {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

fn proof<'a>(
    token: &'a Option<String>,
    email: &'a Option<String>,
    code: &'a Option<String>,
) -> Result<Proof<'a>, ApiError> {
    match (token, email, code) {
        (Some(token), None, None) => Ok(Proof::Link(token)),
        (None, Some(email), Some(code)) => Ok(Proof::Code { email, code }),
        _ => Err(ApiError::validation("token", "send either token, or email and code")),
    }
}

#[OpenApi(tag = "ApiTags::Account")]
impl AccountApi {
    /// Ask for a password reset
    ///
    /// Mails a single-use link and code to every active user with this address. The answer is
    /// the same, byte for byte, for addresses nobody has; they get no mail. Limited per IP, per
    /// tenant and per address (past `limits.mail_per_address_per_hour` nothing is sent).
    #[oai(path = "/t/:tenant/auth/password/forgot", method = "post", operation_id = "forgotPassword")]
    async fn forgot_password(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        #[oai(name = "tenant", validator(max_length = 63))] slug: Path<String>,
        body: Json<AddressRequest>,
    ) -> Result<AcceptedResponse, ApiError> {
        let t = active_tenant(state, &slug).await?;
        account::reset::request(state, t, &body.0.email, client_meta(req), chrono::Utc::now()).await?;
        Ok(AcceptedResponse::new())
    }

    /// Reset a password
    ///
    /// With the `token` of the mailed link, or the `email` and the mailed `code` (five wrong
    /// codes end the code; the link keeps working). The login lock is lifted, the user's sessions
    /// end (unless the tenant turned `email.reset_ends_sessions` off), and a notice is mailed.
    #[oai(path = "/t/:tenant/auth/password/reset", method = "post", operation_id = "resetPassword")]
    async fn reset_password(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        #[oai(name = "tenant", validator(max_length = 63))] slug: Path<String>,
        body: Json<ResetRequest>,
    ) -> Result<DoneResponse, ApiError> {
        let t = active_tenant(state, &slug).await?;
        let body = body.0;
        let proof = proof(&body.token, &body.email, &body.code)?;
        let meta = client_meta(req);
        account::reset::complete(state, &t, proof, body.password, &meta, chrono::Utc::now()).await?;
        Ok(DoneResponse::NoContent)
    }

    /// Ask for another verification mail
    ///
    /// Mails a new link and code to unverified users with this address (older ones stop
    /// working). The same answer for every address; limited like `forgotPassword`.
    #[oai(path = "/t/:tenant/auth/email/resend", method = "post", operation_id = "resendVerification")]
    async fn resend_verification(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        #[oai(name = "tenant", validator(max_length = 63))] slug: Path<String>,
        body: Json<AddressRequest>,
    ) -> Result<AcceptedResponse, ApiError> {
        let t = active_tenant(state, &slug).await?;
        account::verify::resend(state, t, &body.0.email, client_meta(req), chrono::Utc::now()).await?;
        Ok(AcceptedResponse::new())
    }

    /// Verify an email address
    ///
    /// With the `token` of the mailed link, or the `email` and the mailed `code`.
    #[oai(path = "/t/:tenant/auth/email/verify", method = "post", operation_id = "verifyEmail")]
    async fn verify_email(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        #[oai(name = "tenant", validator(max_length = 63))] slug: Path<String>,
        body: Json<ProofRequest>,
    ) -> Result<DoneResponse, ApiError> {
        let t = active_tenant(state, &slug).await?;
        let proof = proof(&body.0.token, &body.0.email, &body.0.code)?;
        account::verify::confirm(state, &t, proof, &client_meta(req), chrono::Utc::now()).await?;
        Ok(DoneResponse::NoContent)
    }
}
