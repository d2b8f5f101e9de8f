//! Users, roles and sessions of a tenant.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde::Serialize;
use uuid::Uuid;

use super::AdminAuth;
use crate::{
    admin::{
        self,
        users::{NewUserInput, UserChanges},
    },
    api::{ApiTags, me::UserView},
    error::ApiError,
    state::AppState,
    store::{entities::sessions, users::UserFilter},
};

pub struct AdminUsersApi;

#[derive(Object, Serialize)]
#[oai(deny_unknown_fields)]
pub struct CreateUserRequest {
    #[oai(validator(max_length = 256))]
    pub username: String,
    #[oai(skip_serializing_if_is_none, validator(max_length = 254))]
    pub email: Option<String>,
    /// Mark the email as verified (the admin vouches for it).
    #[oai(default)]
    pub email_verified: bool,
    /// Without a password the user can only log in through an external provider.
    #[oai(skip_serializing_if_is_none, validator(min_length = 8, max_length = 1024))]
    pub password: Option<String>,
    /// E.g. `tenant-admin`, or application roles such as `billing:read`: a lower-case letter,
    /// then up to 63 lower-case letters, digits, `:`, `_` or `-`; at most 32.
    #[oai(default, validator(max_items = 32, pattern = r"^[a-z][a-z0-9:_-]{0,63}$"))]
    pub roles: Vec<String>,
}

/// Fields to change; absent fields keep their value. `status` `disabled` ends every session of
/// the user at once.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// An empty string removes the email.
    #[oai(skip_serializing_if_is_none, validator(max_length = 254))]
    pub email: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub email_verified: Option<bool>,
    // Documented on the struct: a doc comment here would wrap the enum's $ref in `allOf`,
    // which generated clients (openapi-python-client) cannot read.
    #[oai(skip_serializing_if_is_none)]
    pub status: Option<crate::api::admin::tenants::TenantStatus>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct SetPasswordRequest {
    /// The tenant's password policy applies (at least 8 characters).
    #[oai(validator(min_length = 8, max_length = 1024))]
    pub password: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct SetRolesRequest {
    /// Replaces the user's roles; each as in `CreateUserRequest`, at most 32.
    #[oai(validator(max_items = 32, pattern = r"^[a-z][a-z0-9:_-]{0,63}$"))]
    pub roles: Vec<String>,
}

#[derive(Object)]
pub struct UserList {
    pub items: Vec<UserView>,
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

#[derive(Object)]
pub struct SessionView {
    /// Also the `sid` claim of the session's access tokens.
    pub id: Uuid,
    #[oai(skip_serializing_if_is_none)]
    pub client_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub ip: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub revoked_at: Option<DateTime<Utc>>,
    /// Neither revoked nor expired.
    pub active: bool,
}

fn session_view(s: sessions::Model, now: DateTime<Utc>) -> SessionView {
    SessionView {
        active: s.revoked_at.is_none() && s.expires_at > now,
        id: s.id,
        client_id: s.client_id,
        ip: s.ip,
        user_agent: s.user_agent,
        created_at: s.created_at,
        last_seen_at: s.last_seen_at,
        expires_at: s.expires_at,
        revoked_at: s.revoked_at,
    }
}

#[derive(Object)]
pub struct SessionList {
    pub items: Vec<SessionView>,
}

#[derive(ApiResponse)]
pub enum UserCreated {
    #[oai(status = 201)]
    Created(Json<UserView>),
}

#[derive(ApiResponse)]
pub enum UserOk {
    #[oai(status = 200)]
    Ok(Json<UserView>),
}

#[derive(ApiResponse)]
pub enum UserListOk {
    #[oai(status = 200)]
    Ok(Json<UserList>),
}

#[derive(ApiResponse)]
pub enum SessionsOk {
    #[oai(status = 200)]
    Ok(Json<SessionList>),
}

#[derive(ApiResponse)]
pub enum Done {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(tag = "ApiTags::AdminUsers")]
impl AdminUsersApi {
    /// Create a user
    ///
    /// The tenant's password policy applies. Send an `Idempotency-Key` to retry safely.
    #[oai(path = "/admin/v1/tenants/:tenant/users", method = "post", operation_id = "adminCreateUser")]
    async fn create_user(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        #[oai(name = "Idempotency-Key", validator(pattern = r"^[!-~]{1,200}$"))] idempotency_key: Header<
            Option<String>,
        >,
        body: Json<CreateUserRequest>,
    ) -> Result<UserCreated, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        let req = body.0;
        let route = format!("POST /admin/v1/tenants/{}/users", t.slug);
        let view = admin::idempotent(state, &auth.0, &route, idempotency_key.as_deref(), &req, || async {
            let input = NewUserInput {
                username: req.username.clone(),
                email: req.email.clone(),
                email_verified: req.email_verified,
                password: req.password.clone(),
                roles: req.roles.clone(),
            };
            Ok(UserView::from(admin::users::create(state, &auth.0, &t, input, Utc::now()).await?))
        })
        .await?;
        Ok(UserCreated::Created(Json(view)))
    }

    /// Search users
    ///
    /// Filters combine; ordered by creation.
    #[oai(path = "/admin/v1/tenants/:tenant/users", method = "get", operation_id = "adminListUsers")]
    async fn list_users(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        /// Username prefix (compared in normalised form).
        username: Query<Option<String>>,
        /// Email prefix (case-insensitive).
        email: Query<Option<String>>,
        /// `active` or `disabled`.
        status: Query<Option<crate::api::admin::tenants::TenantStatus>>,
        cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> Result<UserListOk, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        let filter = UserFilter {
            username_prefix: username.0,
            email_prefix: email.0,
            status: status.0.map(|s| status_str(s).to_string()),
        };
        let page = admin::users::list(state, &t, filter, cursor.as_deref(), limit.0).await?;
        let items = page.items.into_iter().map(Into::into).collect();
        Ok(UserListOk::Ok(Json(UserList { items, next_cursor: page.next_cursor })))
    }

    /// Get a user
    #[oai(path = "/admin/v1/tenants/:tenant/users/:user_id", method = "get", operation_id = "adminGetUser")]
    async fn get_user(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        user_id: Path<Uuid>,
    ) -> Result<UserOk, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        Ok(UserOk::Ok(Json(admin::users::get(state, &t, user_id.0).await?.into())))
    }

    /// Update a user
    ///
    /// Disabling a user ends every session at once. Returns the stored user. Disabling the last
    /// active operator is refused (409 `last_operator`).
    #[oai(
        path = "/admin/v1/tenants/:tenant/users/:user_id",
        method = "patch",
        operation_id = "adminUpdateUser"
    )]
    async fn update_user(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        user_id: Path<Uuid>,
        body: Json<UpdateUserRequest>,
    ) -> Result<UserOk, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        let req = body.0;
        let changes = UserChanges {
            email: req.email.map(|e| (!e.is_empty()).then_some(e)),
            email_verified: req.email_verified,
            status: req.status.map(|s| status_str(s).to_string()),
        };
        let user = admin::users::update(state, &auth.0, &t, user_id.0, changes, Utc::now()).await?;
        Ok(UserOk::Ok(Json(user.into())))
    }

    /// Delete a user
    ///
    /// Ends every session first, so no token of the user outlives them. Deleting the last active
    /// operator is refused (409 `last_operator`).
    #[oai(
        path = "/admin/v1/tenants/:tenant/users/:user_id",
        method = "delete",
        operation_id = "adminDeleteUser"
    )]
    async fn delete_user(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        user_id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        admin::users::delete(state, &auth.0, &t, user_id.0, Utc::now()).await?;
        Ok(Done::NoContent)
    }

    /// Set a user's password
    ///
    /// The tenant's password policy applies; every session of the user ends and a login lock
    /// on the user is lifted.
    #[oai(
        path = "/admin/v1/tenants/:tenant/users/:user_id/password",
        method = "put",
        operation_id = "adminSetUserPassword"
    )]
    async fn set_password(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        user_id: Path<Uuid>,
        body: Json<SetPasswordRequest>,
    ) -> Result<Done, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        admin::users::set_password(state, &auth.0, &t, user_id.0, body.0.password, Utc::now()).await?;
        Ok(Done::NoContent)
    }

    /// Unlock a user
    ///
    /// Lifts the lock that failed logins put on the username and forgets those failures.
    /// Setting a password does the same.
    #[oai(
        path = "/admin/v1/tenants/:tenant/users/:user_id/unlock",
        method = "post",
        operation_id = "adminUnlockUser"
    )]
    async fn unlock_user(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        user_id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        admin::users::unlock(state, &auth.0, &t, user_id.0, Utc::now()).await?;
        Ok(Done::NoContent)
    }

    /// Set a user's roles
    ///
    /// Replaces the roles. `tenant-admin` opens the admin API for this tenant; `admin` exists
    /// only in tenant `system` and only operators grant it. Taking `admin` from the last active
    /// operator is refused (409 `last_operator`).
    #[oai(
        path = "/admin/v1/tenants/:tenant/users/:user_id/roles",
        method = "put",
        operation_id = "adminSetUserRoles"
    )]
    async fn set_roles(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        user_id: Path<Uuid>,
        body: Json<SetRolesRequest>,
    ) -> Result<UserOk, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        let user = admin::users::set_roles(state, &auth.0, &t, user_id.0, &body.0.roles, Utc::now()).await?;
        Ok(UserOk::Ok(Json(user.into())))
    }

    /// List a user's sessions
    #[oai(
        path = "/admin/v1/tenants/:tenant/users/:user_id/sessions",
        method = "get",
        operation_id = "adminListUserSessions"
    )]
    async fn list_sessions(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        user_id: Path<Uuid>,
    ) -> Result<SessionsOk, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        let now = Utc::now();
        let items = admin::users::sessions(state, &t, user_id.0)
            .await?
            .into_iter()
            .map(|s| session_view(s, now))
            .collect();
        Ok(SessionsOk::Ok(Json(SessionList { items })))
    }

    /// Revoke every session of a user
    #[oai(
        path = "/admin/v1/tenants/:tenant/users/:user_id/sessions",
        method = "delete",
        operation_id = "adminRevokeUserSessions"
    )]
    async fn revoke_all_sessions(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        user_id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        admin::users::revoke_all_sessions(state, &auth.0, &t, user_id.0, Utc::now()).await?;
        Ok(Done::NoContent)
    }

    /// Revoke one session
    ///
    /// Its refresh tokens and access tokens stop working at once.
    #[oai(
        path = "/admin/v1/tenants/:tenant/users/:user_id/sessions/:session_id",
        method = "delete",
        operation_id = "adminRevokeUserSession"
    )]
    async fn revoke_session(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        user_id: Path<Uuid>,
        session_id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        admin::users::revoke_session(state, &auth.0, &t, user_id.0, session_id.0, Utc::now()).await?;
        Ok(Done::NoContent)
    }
}

fn status_str(s: crate::api::admin::tenants::TenantStatus) -> &'static str {
    match s {
        crate::api::admin::tenants::TenantStatus::Active => "active",
        crate::api::admin::tenants::TenantStatus::Disabled => "disabled",
    }
}
