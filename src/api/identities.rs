//! The user's linked accounts at external providers, and the sign-in options a tenant offers.
use std::sync::Arc;

use poem::Request;
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};

use super::{ApiTags, active_tenant, client_meta, security::UserBearer};
use crate::{
    error::ApiError,
    state::AppState,
    store::entities::identities,
    strategy::{
        flow,
        link::{self, UnlinkError},
    },
};

pub struct IdentitiesApi;

/// An account at an external provider linked to the user.
#[derive(Object)]
pub struct IdentityView {
    pub provider_id: String,
    /// The account's identifier at the provider.
    pub subject: String,
    #[oai(skip_serializing_if_is_none)]
    pub email: Option<String>,
    /// Whether the provider said the email is verified.
    pub email_verified: bool,
    /// Display name of the provider; absent when the provider is disabled or deleted.
    #[oai(skip_serializing_if_is_none)]
    pub provider_name: Option<String>,
    pub linked_at: chrono::DateTime<chrono::Utc>,
    pub last_login_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Object)]
pub struct IdentityList {
    pub items: Vec<IdentityView>,
}

#[derive(Object)]
pub struct LinkStart {
    /// Open this URL in the user's browser: it signs in at the provider and links the account.
    /// Single use.
    pub authorization_url: String,
    pub expires_in: u64,
}

/// A way to sign in to a tenant.
#[derive(Object)]
pub struct SignInOption {
    pub provider_id: String,
    pub kind: String,
    pub display_name: String,
    /// Start of the browser flow: append an authorization request (`client_id`,
    /// `redirect_uri`, `response_type=code`, `scope`, `state`, PKCE) and the user comes back
    /// to `redirect_uri` with a code, as from the authorization endpoint.
    pub start_url: String,
}

#[derive(Object)]
pub struct SignInOptions {
    /// Username and password sign-in is enabled.
    pub password: bool,
    /// Sign-in by a mailed link or code is enabled (the hosted page offers it).
    pub email: bool,
    /// External providers, in display order.
    pub providers: Vec<SignInOption>,
}

#[derive(ApiResponse)]
pub enum IdentityListOk {
    #[oai(status = 200)]
    Ok(Json<IdentityList>),
}

#[derive(ApiResponse)]
pub enum Unlinked {
    /// The identity is no longer linked.
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
pub enum LinkStarted {
    #[oai(status = 201)]
    Created(Json<LinkStart>),
}

#[derive(ApiResponse)]
pub enum SignInOptionsOk {
    #[oai(status = 200)]
    Ok(Json<SignInOptions>),
}

fn view(i: identities::Model, name: Option<String>) -> IdentityView {
    IdentityView {
        provider_id: i.provider_id,
        subject: i.subject,
        email: i.email,
        email_verified: i.email_verified,
        provider_name: name,
        linked_at: i.created_at,
        last_login_at: i.last_login_at,
    }
}

#[OpenApi(tag = "ApiTags::Me")]
impl IdentitiesApi {
    /// Linked accounts
    ///
    /// The user's accounts at external providers (GitHub, Google...) that sign in as this user.
    #[oai(path = "/t/:tenant/me/identities", method = "get", operation_id = "listMyIdentities")]
    async fn list(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: UserBearer,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
    ) -> Result<IdentityListOk, ApiError> {
        let _ = tenant;
        let t = &auth.0.tenant;
        let rows = link::identities_of(state, t, auth.0.user_id).await?;
        let items = rows
            .into_iter()
            .map(|i| {
                let name = t
                    .strategies
                    .get(&i.provider_id)
                    .filter(|s| s.info().row_id == i.provider_row_id)
                    .map(|s| s.info().display_name.clone());
                view(i, name)
            })
            .collect();
        Ok(IdentityListOk::Ok(Json(IdentityList { items })))
    }

    /// Unlink an account
    ///
    /// Refused with 409 `last_login_method` when it is the user's last way to sign in (no
    /// password and no other linked provider).
    #[oai(
        path = "/t/:tenant/me/identities/:provider_id",
        method = "delete",
        operation_id = "unlinkMyIdentity"
    )]
    async fn unlink(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        auth: UserBearer,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
        #[oai(name = "provider_id", validator(max_length = 64))] provider_id: Path<String>,
    ) -> Result<Unlinked, ApiError> {
        let _ = tenant;
        // Fresh from the database, not the cache: the last-login-method rule needs the
        // current password hash.
        let user = crate::store::users::find_by_id(&state.db, auth.0.tenant.id, auth.0.user_id)
            .await?
            .filter(|u| u.status == "active")
            .ok_or(crate::auth::AuthError::Token(crate::tokens::TokenError::Revoked))?;
        let now = chrono::Utc::now();
        match link::unlink(state, &auth.0.tenant, &user, &provider_id, &client_meta(req), now).await {
            Ok(()) => Ok(Unlinked::NoContent),
            Err(UnlinkError::NotLinked) => {
                Err(ApiError::not_found("identity_not_found", UnlinkError::NotLinked.to_string()))
            }
            Err(UnlinkError::LastLoginMethod) => {
                Err(ApiError::conflict("last_login_method", UnlinkError::LastLoginMethod.to_string()))
            }
            Err(UnlinkError::Auth(e)) => Err(e.into()),
        }
    }

    /// Link an account
    ///
    /// Starts linking an account of this provider to the signed-in user: open the returned
    /// URL in the user's browser. After signing in at the provider the account is linked;
    /// it is refused if that account already belongs to another user.
    #[oai(
        path = "/t/:tenant/me/identities/:provider_id/link",
        method = "post",
        operation_id = "linkMyIdentity"
    )]
    async fn link(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: UserBearer,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
        #[oai(name = "provider_id", validator(max_length = 64))] provider_id: Path<String>,
    ) -> Result<LinkStarted, ApiError> {
        let _ = tenant;
        let t = &auth.0.tenant;
        if t.strategies.get(&provider_id).is_none_or(|s| !s.capabilities().redirect) {
            return Err(ApiError::not_found(
                "provider_not_found",
                "no enabled external provider with this id",
            ));
        }
        let linked = link::identities_of(state, t, auth.0.user_id).await?;
        if linked.iter().any(|i| i.provider_id == *provider_id) {
            return Err(ApiError::conflict(
                "already_linked",
                "an account of this provider is linked already; unlink it first",
            ));
        }
        let ticket = flow::issue_link_ticket(state, t, auth.0.user_id).await?;
        let url = format!("{}/auth/{}/start?link={ticket}", t.issuer, provider_id.0);
        Ok(LinkStarted::Created(Json(LinkStart {
            authorization_url: url,
            expires_in: state.settings.upstream.login_ttl_secs,
        })))
    }
}

pub struct SignInOptionsApi;

#[OpenApi(tag = "ApiTags::Auth")]
impl SignInOptionsApi {
    /// Sign-in options
    ///
    /// How users can sign in to this tenant: whether passwords are enabled, and the external
    /// providers with the URL that starts each one. Public, for apps that draw their own buttons.
    #[oai(path = "/t/:tenant/providers", method = "get", operation_id = "listSignInOptions")]
    async fn options(
        &self,
        Data(state): Data<&Arc<AppState>>,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
    ) -> Result<SignInOptionsOk, ApiError> {
        let t = active_tenant(state, &tenant).await?;
        let providers = t
            .strategies
            .external()
            .map(|s| {
                let i = s.info();
                SignInOption {
                    provider_id: i.provider_id.clone(),
                    kind: i.kind.clone(),
                    display_name: i.display_name.clone(),
                    start_url: format!("{}/auth/{}/start", t.issuer, i.provider_id),
                }
            })
            .collect();
        Ok(SignInOptionsOk::Ok(Json(SignInOptions {
            password: t.strategies.password().is_some(),
            email: t.strategies.email_sign_in().is_some(),
            providers,
        })))
    }
}
