//! The caller's passkeys under `/me/passkeys`: list, register (two calls, as every ceremony),
//! rename, remove; and removing the password to make the account passkey-only.
use std::sync::Arc;

use poem::Request;
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};

use super::{
    ApiTags, client_meta,
    passkeys::{PasskeyCreateRequest, PasskeyOptionsResponse, PasskeyView, options},
    security::UserBearer,
};
use crate::{auth, error::ApiError, mfa::passkey, state::AppState};

pub struct MyPasskeysApi;

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct RenamePasskeyRequest {
    #[oai(validator(max_length = 400))]
    pub name: String,
}

#[derive(ApiResponse)]
pub enum PasskeyList {
    #[oai(status = 200)]
    Ok(Json<Vec<PasskeyView>>),
}

#[derive(ApiResponse)]
pub enum PasskeyCreated {
    #[oai(status = 201)]
    Created(Json<PasskeyView>),
}

#[derive(ApiResponse)]
pub enum PasskeyRenamed {
    #[oai(status = 200)]
    Ok(Json<PasskeyView>),
}

#[derive(ApiResponse)]
pub enum PasskeyGone {
    /// Removed.
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(tag = "ApiTags::Me")]
impl MyPasskeysApi {
    /// My passkeys
    #[oai(path = "/t/:tenant/me/passkeys", method = "get", operation_id = "listMyPasskeys")]
    async fn list(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: UserBearer,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
    ) -> Result<PasskeyList, ApiError> {
        let _ = tenant;
        let p = &auth.0;
        let list = passkey::list(state, &p.tenant, p.user_id).await?;
        Ok(PasskeyList::Ok(Json(list.into_iter().map(Into::into).collect())))
    }

    /// Start registering a passkey
    ///
    /// Options for `navigator.credentials.create()`; the user's passkeys are excluded, so one
    /// authenticator is not registered twice.
    #[oai(path = "/t/:tenant/me/passkeys/register", method = "post", operation_id = "startPasskeyEnrolment")]
    async fn register(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: UserBearer,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
    ) -> Result<PasskeyOptionsResponse, ApiError> {
        let _ = tenant;
        let p = &auth.0;
        let user = auth::current_user(state, p).await?;
        let extra = serde_json::json!({});
        Ok(options(passkey::start_registration(state, &p.tenant, user.id, &user.username, extra).await?))
    }

    /// Finish registering a passkey
    #[oai(
        path = "/t/:tenant/me/passkeys/register/finish",
        method = "post",
        operation_id = "finishPasskeyEnrolment"
    )]
    async fn register_finish(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        auth: UserBearer,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
        body: Json<PasskeyCreateRequest>,
    ) -> Result<PasskeyCreated, ApiError> {
        let _ = tenant;
        let p = &auth.0;
        let b = body.0;
        let registered =
            passkey::finish_registration(state, &p.tenant, &b.passkey_token, &b.credential).await?;
        if registered.user_id != p.user_id {
            return Err(crate::mfa::MfaError::PasskeyCeremonyInvalid.into());
        }
        let now = chrono::Utc::now();
        let meta = client_meta(req);
        let row =
            passkey::store_registration(state, &p.tenant, &registered, b.name.as_deref(), &meta, now).await?;
        let view = PasskeyView {
            id: row.id,
            name: row.name,
            created_at: row.created_at,
            last_used_at: None,
            synced: passkey::synced(&registered.passkey),
        };
        Ok(PasskeyCreated::Created(Json(view)))
    }

    /// Rename a passkey
    #[oai(path = "/t/:tenant/me/passkeys/:id", method = "patch", operation_id = "renameMyPasskey")]
    async fn rename(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        auth: UserBearer,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
        id: Path<uuid::Uuid>,
        body: Json<RenamePasskeyRequest>,
    ) -> Result<PasskeyRenamed, ApiError> {
        let _ = tenant;
        let p = &auth.0;
        let now = chrono::Utc::now();
        let info =
            passkey::rename(state, &p.tenant, p.user_id, id.0, &body.0.name, &client_meta(req), now).await?;
        Ok(PasskeyRenamed::Ok(Json(info.into())))
    }

    /// Remove a passkey
    ///
    /// Needs a token from a sign-in that passed a second factor (401 `mfa_session_required`
    /// with RFC 9470's `insufficient_user_authentication` challenge).
    /// Refused with 409 `last_sign_in_method` when the account would have no way to sign in
    /// left, and with 409 `second_factor_required_by_policy` when it is the last second factor
    /// the tenant requires of this account.
    #[oai(path = "/t/:tenant/me/passkeys/:id", method = "delete", operation_id = "removeMyPasskey")]
    async fn remove(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        auth: UserBearer,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
        id: Path<uuid::Uuid>,
    ) -> Result<PasskeyGone, ApiError> {
        let _ = tenant;
        let p = &auth.0;
        let user = auth::current_user(state, p).await?;
        let admin = auth::is_admin(&user);
        let now = chrono::Utc::now();
        passkey::remove(state, &p.tenant, &user, admin, id.0, &p.claims.amr, &client_meta(req), now).await?;
        Ok(PasskeyGone::NoContent)
    }

    /// Remove my password
    ///
    /// Makes the account passkey-only: password sign-ins then fail like a wrong password. Needs
    /// a passkey (else 409 `last_sign_in_method`) and a token from a sign-in that passed a
    /// second factor (else 401 `mfa_session_required` with RFC 9470's
    /// `insufficient_user_authentication` challenge).
    #[oai(path = "/t/:tenant/me/password", method = "delete", operation_id = "removeMyPassword")]
    async fn remove_password(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        auth: UserBearer,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
    ) -> Result<PasskeyGone, ApiError> {
        let _ = tenant;
        auth::passkey::remove_password(state, &auth.0, &client_meta(req), chrono::Utc::now()).await?;
        Ok(PasskeyGone::NoContent)
    }
}
