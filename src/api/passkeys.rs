//! Passkeys over JSON: signing in with one (usernameless or after a username), creating an
//! account with one and no password, the login's second step and enrolment by passkey (the
//! user's own passkeys under `/me/passkeys` are in `my_passkeys`). Each ceremony is two calls: `.../start` returns a
//! `passkey_token` and the options for `navigator.credentials.create()`/`get()`, `.../finish`
//! takes the token and the browser's `PublicKeyCredential` (its `toJSON()`).
use std::sync::Arc;

use poem::Request;
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use serde_json::Value;

use super::{ApiTags, auth::SessionTokens, client_meta, me::UserView};
use crate::{
    auth::{self, IssuedTokens},
    error::ApiError,
    mfa::passkey,
    state::AppState,
};

pub struct PasskeyAuthApi;

/// A started passkey ceremony.
#[derive(Object)]
pub struct PasskeyOptions {
    /// Single use; send it back with the browser's answer within `expires_in` seconds.
    pub passkey_token: String,
    pub expires_in: u64,
    /// `{"publicKey": {...}}` for `navigator.credentials.create()` or `get()`, binary fields
    /// as base64url (`PublicKeyCredential.parseCreationOptionsFromJSON` /
    /// `parseRequestOptionsFromJSON` read them); `mediation` when it suits conditional UI.
    pub options: Value,
}

pub(super) fn options((passkey_token, options): (String, Value)) -> PasskeyOptionsResponse {
    PasskeyOptionsResponse::Ok(
        Json(PasskeyOptions { passkey_token, expires_in: passkey::TTL_SECS, options }),
        "no-store".into(),
    )
}

#[derive(ApiResponse)]
pub enum PasskeyOptionsResponse {
    #[oai(status = 200)]
    Ok(Json<PasskeyOptions>, #[oai(header = "Cache-Control")] String),
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct PasskeyStartRequest {
    /// Leave out for a usernameless sign-in (discoverable passkeys).
    #[oai(skip_serializing_if_is_none, validator(max_length = 256))]
    pub username: Option<String>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct PasskeyFinishRequest {
    #[oai(validator(max_length = 100))]
    pub passkey_token: String,
    /// The browser's `PublicKeyCredential` as JSON.
    pub credential: Value,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct PasskeyRegisterRequest {
    #[oai(validator(max_length = 256))]
    pub username: String,
    #[oai(skip_serializing_if_is_none, validator(max_length = 254))]
    pub email: Option<String>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct PasskeyCreateRequest {
    #[oai(validator(max_length = 100))]
    pub passkey_token: String,
    /// The browser's `PublicKeyCredential` (from `create()`) as JSON.
    pub credential: Value,
    /// A name to tell passkeys apart (default `Passkey`).
    #[oai(skip_serializing_if_is_none, validator(max_length = 400))]
    pub name: Option<String>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct MfaPasskeyStartRequest {
    #[oai(validator(max_length = 100))]
    pub mfa_token: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct MfaPasskeyFinishRequest {
    #[oai(validator(max_length = 100))]
    pub mfa_token: String,
    #[oai(validator(max_length = 100))]
    pub passkey_token: String,
    pub credential: Value,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct EnrolPasskeyStartRequest {
    #[oai(validator(max_length = 100))]
    pub enrolment_token: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct EnrolPasskeyFinishRequest {
    #[oai(validator(max_length = 100))]
    pub enrolment_token: String,
    #[oai(validator(max_length = 100))]
    pub passkey_token: String,
    pub credential: Value,
    #[oai(skip_serializing_if_is_none, validator(max_length = 400))]
    pub name: Option<String>,
}

/// One of the caller's passkeys.
#[derive(Object)]
pub struct PasskeyView {
    pub id: uuid::Uuid,
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Synced between devices (backup eligible): sign-ins with it say `swk`, else `hwk`.
    pub synced: bool,
}

impl From<passkey::PasskeyInfo> for PasskeyView {
    fn from(p: passkey::PasskeyInfo) -> Self {
        Self {
            id: p.id,
            name: p.name,
            created_at: p.created_at,
            last_used_at: p.last_used_at,
            synced: p.synced,
        }
    }
}

#[derive(ApiResponse)]
pub enum PasskeyTokens {
    /// Signed in; `amr` holds `hwk` (or `swk`), `user` and `mfa`.
    #[oai(status = 200)]
    Ok(Json<SessionTokens>, #[oai(header = "Cache-Control")] String),
}

fn tokens(t: IssuedTokens) -> PasskeyTokens {
    PasskeyTokens::Ok(Json(t.into()), "no-store".into())
}

/// A new account and its tokens.
#[derive(Object)]
pub struct PasskeyAccount {
    pub user: UserView,
    #[oai(flatten)]
    pub tokens: SessionTokens,
}

#[derive(ApiResponse)]
pub enum PasskeyAccountCreated {
    #[oai(status = 201)]
    Created(Json<PasskeyAccount>, #[oai(header = "Cache-Control")] String),
}

#[OpenApi(tag = "ApiTags::Auth")]
impl PasskeyAuthApi {
    /// Start a passkey sign-in
    ///
    /// Without `username`: usernameless, any discoverable passkey of this site. With one: that
    /// account's passkeys (an unknown name gets an answer of the same shape). The tenant must
    /// allow `passkey` (else 403 `method_not_allowed`).
    #[oai(path = "/t/:tenant/auth/passkey/options", method = "post", operation_id = "startPasskeySignIn")]
    async fn start(
        &self,
        Data(state): Data<&Arc<AppState>>,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
        body: Json<PasskeyStartRequest>,
    ) -> Result<PasskeyOptionsResponse, ApiError> {
        Ok(options(auth::passkey::passkey_start(state, &tenant, body.0.username.as_deref()).await?))
    }

    /// Finish a passkey sign-in
    ///
    /// The browser's assertion signs the user in: a passkey with user verification is two
    /// factors, so no second step follows. The `passkey_token` works once (401
    /// `invalid_passkey_token` after); an assertion that does not verify is 401
    /// `passkey_rejected`.
    #[oai(path = "/t/:tenant/auth/passkey/verify", method = "post", operation_id = "finishPasskeySignIn")]
    async fn finish(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
        body: Json<PasskeyFinishRequest>,
    ) -> Result<PasskeyTokens, ApiError> {
        let b = body.0;
        let now = chrono::Utc::now();
        let t = auth::passkey::passkey_finish(
            state,
            &tenant,
            &b.passkey_token,
            &b.credential,
            client_meta(req),
            now,
        )
        .await?;
        Ok(tokens(t))
    }

    /// Start creating an account with a passkey
    ///
    /// An account with no password: the passkey is its way in. Needs open registration.
    #[oai(
        path = "/t/:tenant/auth/passkey/register",
        method = "post",
        operation_id = "startPasskeyRegistration"
    )]
    async fn register(
        &self,
        Data(state): Data<&Arc<AppState>>,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
        body: Json<PasskeyRegisterRequest>,
    ) -> Result<PasskeyOptionsResponse, ApiError> {
        let b = body.0;
        Ok(options(
            auth::passkey::passkey_register_start(state, &tenant, &b.username, b.email.as_deref()).await?,
        ))
    }

    /// Create the account with its passkey
    ///
    /// Creates the account (no password) and its passkey together, and signs it in.
    #[oai(
        path = "/t/:tenant/auth/passkey/register/finish",
        method = "post",
        operation_id = "finishPasskeyRegistration"
    )]
    async fn register_finish(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
        body: Json<PasskeyCreateRequest>,
    ) -> Result<PasskeyAccountCreated, ApiError> {
        let b = body.0;
        let (user, t) = auth::passkey::passkey_register_finish(
            state,
            &tenant,
            &b.passkey_token,
            &b.credential,
            b.name.as_deref(),
            client_meta(req),
            chrono::Utc::now(),
        )
        .await?;
        let account = PasskeyAccount { user: user.into(), tokens: t.into() };
        Ok(PasskeyAccountCreated::Created(Json(account), "no-store".into()))
    }

    /// Start a login's second step with a passkey
    ///
    /// With the `mfa_token` of a login's 403 `second_factor_required` answer whose `methods`
    /// include `passkey`.
    #[oai(
        path = "/t/:tenant/auth/mfa/passkey/options",
        method = "post",
        operation_id = "startPasskeySecondStep"
    )]
    async fn second_step_start(
        &self,
        Data(state): Data<&Arc<AppState>>,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
        body: Json<MfaPasskeyStartRequest>,
    ) -> Result<PasskeyOptionsResponse, ApiError> {
        Ok(options(auth::passkey::second_step_start(state, &tenant, &body.0.mfa_token).await?))
    }

    /// Complete a login's second step with a passkey
    ///
    /// Tokens with `pwd`, `hwk` (or `swk`), `user` and `mfa` in `amr`. A refused passkey
    /// counts toward the second-step lockout like a wrong code.
    #[oai(
        path = "/t/:tenant/auth/mfa/passkey/verify",
        method = "post",
        operation_id = "finishPasskeySecondStep"
    )]
    async fn second_step_finish(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
        body: Json<MfaPasskeyFinishRequest>,
    ) -> Result<super::second_factor::MfaTokens, ApiError> {
        let b = body.0;
        let t = auth::passkey::second_step_finish(
            state,
            &tenant,
            &b.mfa_token,
            &b.passkey_token,
            &b.credential,
            client_meta(req),
            chrono::Utc::now(),
        )
        .await?;
        Ok(super::second_factor::tokens(t))
    }

    /// Start enrolling a passkey at sign-in
    ///
    /// With the `enrolment_token` of a login's 403 `second_factor_enrolment_required` answer
    /// whose `methods` include `passkey`.
    #[oai(
        path = "/t/:tenant/auth/mfa/enrol/passkey",
        method = "post",
        operation_id = "startSignInPasskeyEnrolment"
    )]
    async fn enrol_start(
        &self,
        Data(state): Data<&Arc<AppState>>,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
        body: Json<EnrolPasskeyStartRequest>,
    ) -> Result<PasskeyOptionsResponse, ApiError> {
        Ok(options(auth::passkey::enrol_start(state, &tenant, &body.0.enrolment_token).await?))
    }

    /// Finish enrolling a passkey at sign-in
    ///
    /// Stores the passkey and signs the user in.
    #[oai(
        path = "/t/:tenant/auth/mfa/enrol/passkey/finish",
        method = "post",
        operation_id = "finishSignInPasskeyEnrolment"
    )]
    async fn enrol_finish(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
        body: Json<EnrolPasskeyFinishRequest>,
    ) -> Result<super::second_factor::MfaTokens, ApiError> {
        let b = body.0;
        let t = auth::passkey::enrol_finish(
            state,
            &tenant,
            &b.enrolment_token,
            &b.passkey_token,
            &b.credential,
            b.name.as_deref(),
            client_meta(req),
            chrono::Utc::now(),
        )
        .await?;
        Ok(super::second_factor::tokens(t))
    }
}
