//! Local strategy endpoints: register, login, refresh, logout.
use std::sync::Arc;

use poem::Request;
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json, types::Example};

use super::{ApiTags, client_meta, me::UserView, security::UserBearer};
use crate::{
    auth::{self, IssuedTokens},
    error::ApiError,
    state::AppState,
};

pub struct AuthApi;

#[derive(Object)]
#[oai(deny_unknown_fields, example)]
pub struct RegisterRequest {
    /// Compared case-insensitively after Unicode NFKC normalisation; 1 to 64 characters.
    #[oai(validator(max_length = 256))]
    pub username: String,
    /// 8 to 128 characters (the tenant's password policy may allow up to 1024).
    #[oai(validator(min_length = 8, max_length = 1024))]
    pub password: String,
    #[oai(skip_serializing_if_is_none, validator(max_length = 254))]
    pub email: Option<String>,
}

impl Example for RegisterRequest {
    fn example() -> Self {
        Self {
            username: "alice".into(),
            password: "correct horse battery staple".into(),
            email: Some("alice@example.com".into()),
        }
    }
}

#[derive(Object)]
#[oai(deny_unknown_fields, example)]
pub struct LoginRequest {
    #[oai(validator(max_length = 256))]
    pub username: String,
    #[oai(validator(max_length = 1024))]
    pub password: String,
}

impl Example for LoginRequest {
    fn example() -> Self {
        Self { username: "alice".into(), password: "correct horse battery staple".into() }
    }
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh; it stops working once used.
    #[oai(validator(max_length = 256))]
    pub refresh_token: String,
}

#[derive(Object, Default)]
#[oai(deny_unknown_fields)]
pub struct LogoutRequest {
    /// End every session of the user, not just this one.
    #[oai(default)]
    pub everywhere: bool,
}

/// A session's access and refresh tokens, from login and refresh.
#[derive(Object)]
#[oai(example)]
pub struct SessionTokens {
    /// A JWT for `Authorization: Bearer`, signed with the tenant's key.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque; exchange it at `/auth/refresh`. Each refresh token works once.
    pub refresh_token: String,
}

impl Example for SessionTokens {
    fn example() -> Self {
        Self {
            access_token: "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6Ii4uLiJ9...".into(),
            token_type: "Bearer".into(),
            expires_in: 600,
            refresh_token: "ghr_3q2-7wVx...".into(),
        }
    }
}

impl From<IssuedTokens> for SessionTokens {
    fn from(t: IssuedTokens) -> Self {
        Self {
            access_token: t.access_token,
            token_type: "Bearer".into(),
            expires_in: t.expires_in,
            refresh_token: t.refresh_token,
        }
    }
}

#[derive(ApiResponse)]
pub enum RegisterResponse {
    /// The user was created.
    #[oai(status = 201)]
    Created(Json<UserView>),
}

#[derive(ApiResponse)]
pub enum TokenIssued {
    /// Tokens issued.
    #[oai(status = 200)]
    Ok(Json<SessionTokens>, #[oai(header = "Cache-Control")] String),
}

impl TokenIssued {
    fn new(t: IssuedTokens) -> Self {
        Self::Ok(Json(t.into()), "no-store".into())
    }
}

#[derive(ApiResponse)]
pub enum LoginIssued {
    /// Tokens issued, and a device cookie: sent back on later logins, it gives this client its
    /// own failure budget, so a lock on the username by someone else does not keep it out.
    #[oai(status = 200)]
    Ok(Json<SessionTokens>, #[oai(header = "Cache-Control")] String, #[oai(header = "Set-Cookie")] String),
}

#[derive(ApiResponse)]
pub enum LogoutResponse {
    /// Logged out; the token and its session no longer work anywhere.
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(tag = "ApiTags::Auth")]
impl AuthApi {
    /// Register a user
    ///
    /// Creates a user with the local username/password strategy, when the tenant allows
    /// self-registration.
    #[oai(path = "/t/:tenant/auth/register", method = "post", operation_id = "register")]
    async fn register(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
        body: Json<RegisterRequest>,
    ) -> Result<RegisterResponse, ApiError> {
        let body = body.0;
        let user = crate::account::register(
            state,
            &tenant,
            &body.username,
            body.password,
            body.email.as_deref(),
            &client_meta(req),
            chrono::Utc::now(),
        )
        .await?;
        Ok(RegisterResponse::Created(Json(user.into())))
    }

    /// Log in
    ///
    /// Checks a username and password and returns an access token and a refresh token.
    /// An unknown user and a wrong password give the same answer. After `threshold` failures
    /// within the tenant's lockout window the username is locked (429), except for clients that
    /// send the device cookie of an earlier successful login of this user. A user with a second
    /// factor gets a 403 problem document with `code` `second_factor_required` and an
    /// `mfa_token` instead of tokens (complete it at `/auth/mfa/verify`); one the tenant requires
    /// to enrol a second factor gets `second_factor_enrolment_required` and an
    /// `enrolment_token` (see `/auth/mfa/enrol/totp`). The device cookie then comes with the
    /// tokens of the second call. A client with a live remember cookie of this user (set by
    /// `/auth/mfa/verify` with `remember_device`) skips the second step; its tokens then claim
    /// only `pwd` (no `mfa`, acr 1fa).
    #[oai(path = "/t/:tenant/auth/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
        body: Json<LoginRequest>,
    ) -> Result<LoginIssued, ApiError> {
        let body = body.0;
        let cookies = req.headers().get_all(poem::http::header::COOKIE);
        let devices = auth::device::from_cookie_headers(cookies.iter().filter_map(|v| v.to_str().ok()));
        let remembered =
            crate::mfa::remember::from_cookie_headers(cookies.iter().filter_map(|v| v.to_str().ok()));
        let (result, device_cookie) = auth::login(
            state,
            &tenant,
            &body.username,
            body.password,
            &devices,
            &remembered,
            client_meta(req),
            chrono::Utc::now(),
        )
        .await?;
        match result {
            auth::LoginResult::Tokens(tokens) => {
                Ok(LoginIssued::Ok(Json(tokens.into()), "no-store".into(), device_cookie))
            }
            auth::LoginResult::Challenge { token, purpose, methods } => {
                Err(super::second_factor::challenge_problem(token, purpose, &methods))
            }
        }
    }

    /// Refresh tokens
    ///
    /// Exchanges a refresh token for new tokens. The presented token stops working; presenting
    /// it again revokes the whole session.
    #[oai(path = "/t/:tenant/auth/refresh", method = "post", operation_id = "refresh")]
    async fn refresh(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
        body: Json<RefreshRequest>,
    ) -> Result<TokenIssued, ApiError> {
        let meta = client_meta(req);
        let tokens = auth::refresh(state, &tenant, &body.0.refresh_token, &meta, chrono::Utc::now()).await?;
        Ok(TokenIssued::new(tokens))
    }

    /// Log out
    ///
    /// The body is optional. Revokes this access token and its session's refresh tokens; with `everywhere`, every
    /// session of the user. Takes effect on every instance at once.
    #[oai(path = "/t/:tenant/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        auth: UserBearer,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
        body: Json<Option<LogoutRequest>>,
    ) -> Result<LogoutResponse, ApiError> {
        let _ = tenant;
        let everywhere = body.0.is_some_and(|b| b.everywhere);
        auth::logout(state, &auth.0, everywhere, &client_meta(req), chrono::Utc::now()).await?;
        Ok(LogoutResponse::NoContent)
    }
}
