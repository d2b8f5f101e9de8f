//! Tenants, signing keys and audit events.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};

use super::AdminAuth;
use crate::{
    admin::{self, tenants::TenantChanges},
    api::ApiTags,
    error::ApiError,
    state::AppState,
    store::{audit::AuditFilter, tenants::TenantFilter},
    tenancy::TenantSettings,
    tokens::Algorithm,
};

mod records;
mod views;

pub use records::*;
pub use views::*;

pub struct AdminTenantsApi;

#[derive(ApiResponse)]
pub enum TenantCreated {
    /// The tenant, with its signing key and local provider.
    #[oai(status = 201)]
    Created(Json<TenantView>),
}

#[derive(ApiResponse)]
pub enum TenantOk {
    #[oai(status = 200)]
    Ok(Json<TenantView>),
}

#[derive(ApiResponse)]
pub enum TenantListOk {
    #[oai(status = 200)]
    Ok(Json<TenantList>),
}

#[derive(ApiResponse)]
pub enum Deleted {
    /// Deleted.
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
pub enum KeysOk {
    #[oai(status = 200)]
    Ok(Json<SigningKeyList>),
}

#[derive(ApiResponse)]
pub enum KeyRotated {
    /// The new signing key.
    #[oai(status = 201)]
    Created(Json<SigningKeyView>),
}

#[derive(ApiResponse)]
pub enum AuditOk {
    #[oai(status = 200)]
    Ok(Json<AuditEventList>),
}

// Tags per operation: the keys and audit operations belong to their own tag only, so generated
// clients put them in their own module.
#[OpenApi]
impl AdminTenantsApi {
    /// Create a tenant
    ///
    /// Creates a tenant with its own signing key and the local username/password provider.
    /// Operators only. Send an `Idempotency-Key` to retry safely.
    #[oai(
        path = "/admin/v1/tenants",
        method = "post",
        operation_id = "adminCreateTenant",
        tag = "ApiTags::AdminTenants"
    )]
    async fn create_tenant(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "Idempotency-Key", validator(pattern = r"^[!-~]{1,200}$"))] idempotency_key: Header<
            Option<String>,
        >,
        body: Json<CreateTenantRequest>,
    ) -> Result<TenantCreated, ApiError> {
        let req = body.0;
        let view = admin::idempotent(
            state,
            &auth.0,
            "POST /admin/v1/tenants",
            idempotency_key.as_deref(),
            &req,
            || async {
                let mut settings = TenantSettings::from_config(&state.settings);
                if let Some(input) = req.settings.clone() {
                    input.apply(&mut settings);
                }
                let new = admin::tenants::NewTenant {
                    slug: req.slug.clone(),
                    display_name: req.display_name.clone(),
                    settings,
                };
                let created = admin::tenants::create(state, &auth.0, new, Utc::now()).await?;
                Ok(tenant_view(state, created))
            },
        )
        .await?;
        Ok(TenantCreated::Created(Json(view)))
    }

    /// List tenants
    ///
    /// Operators see every tenant, tenant admins their own. Ordered by creation.
    #[oai(
        path = "/admin/v1/tenants",
        method = "get",
        operation_id = "adminListTenants",
        tag = "ApiTags::AdminTenants"
    )]
    async fn list_tenants(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        /// Only tenants with this status.
        status: Query<Option<TenantStatus>>,
        /// Only tenants whose slug starts with this.
        slug_prefix: Query<Option<String>>,
        cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> Result<TenantListOk, ApiError> {
        let filter = TenantFilter {
            status: status
                .0
                .map(|s| if s == TenantStatus::Active { "active" } else { "disabled" }.to_string()),
            slug_prefix: slug_prefix.0,
        };
        let page = admin::tenants::list(state, &auth.0, filter, cursor.as_deref(), limit.0).await?;
        let items = page.items.into_iter().map(|t| tenant_view(state, t)).collect();
        Ok(TenantListOk::Ok(Json(TenantList { items, next_cursor: page.next_cursor })))
    }

    /// Get a tenant
    #[oai(
        path = "/admin/v1/tenants/:tenant",
        method = "get",
        operation_id = "adminGetTenant",
        tag = "ApiTags::AdminTenants"
    )]
    async fn get_tenant(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
    ) -> Result<TenantOk, ApiError> {
        let t = admin::tenants::get(state, &auth.0, &tenant).await?;
        Ok(TenantOk::Ok(Json(tenant_view(state, t))))
    }

    /// Update a tenant
    ///
    /// Changes the display name, settings or status. Disabling stops every token of the
    /// tenant at once, on every instance. Returns the stored tenant.
    #[oai(
        path = "/admin/v1/tenants/:tenant",
        method = "patch",
        operation_id = "adminUpdateTenant",
        tag = "ApiTags::AdminTenants"
    )]
    async fn update_tenant(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        body: Json<UpdateTenantRequest>,
    ) -> Result<TenantOk, ApiError> {
        let req = body.0;
        let changes = TenantChanges {
            display_name: req.display_name,
            status: req
                .status
                .map(|s| if s == TenantStatus::Active { "active" } else { "disabled" }.to_string()),
            settings: |s: &mut TenantSettings| {
                if let Some(input) = req.settings {
                    input.apply(s);
                }
            },
        };
        let t = admin::tenants::update(state, &auth.0, &tenant, changes, Utc::now()).await?;
        Ok(TenantOk::Ok(Json(tenant_view(state, t))))
    }

    /// Delete a tenant
    ///
    /// Deletes the tenant and all its data; its tokens stop working at once. Operators only.
    #[oai(
        path = "/admin/v1/tenants/:tenant",
        method = "delete",
        operation_id = "adminDeleteTenant",
        tag = "ApiTags::AdminTenants"
    )]
    async fn delete_tenant(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
    ) -> Result<Deleted, ApiError> {
        admin::tenants::delete(state, &auth.0, &tenant, Utc::now()).await?;
        Ok(Deleted::NoContent)
    }

    /// List signing keys
    ///
    /// The active key and retired keys that still verify tokens.
    #[oai(
        path = "/admin/v1/tenants/:tenant/keys",
        method = "get",
        operation_id = "adminListSigningKeys",
        tag = "ApiTags::AdminKeys"
    )]
    async fn list_keys(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
    ) -> Result<KeysOk, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        let items = admin::keys::list(state, &t).await?.into_iter().map(Into::into).collect();
        Ok(KeysOk::Ok(Json(SigningKeyList { items })))
    }

    /// Rotate the signing key
    ///
    /// A new key signs from now on; the old one stays in the JWKS until every token it signed
    /// has expired.
    #[oai(
        path = "/admin/v1/tenants/:tenant/keys/rotate",
        method = "post",
        operation_id = "adminRotateSigningKey",
        tag = "ApiTags::AdminKeys"
    )]
    async fn rotate_key(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        body: Json<Option<RotateKeyRequest>>,
    ) -> Result<KeyRotated, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        let algorithm = body.0.and_then(|b| b.algorithm).and_then(|a| Algorithm::parse(a.as_str()));
        let key = admin::keys::rotate(state, &auth.0, &t, algorithm, Utc::now()).await?;
        Ok(KeyRotated::Created(Json(key.into())))
    }

    /// Query the audit log
    ///
    /// Admin changes and login attempts, newest first.
    #[oai(
        path = "/admin/v1/tenants/:tenant/audit-events",
        method = "get",
        operation_id = "adminListAuditEvents",
        tag = "ApiTags::AdminAudit"
    )]
    async fn list_audit_events(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: AdminAuth,
        #[oai(name = "tenant")] tenant: Path<String>,
        /// Event type, e.g. `login.failed`.
        #[oai(name = "type")]
        event_type: Query<Option<String>>,
        /// Id of the acting user.
        actor: Query<Option<uuid::Uuid>>,
        /// Id of the user the event is about.
        user: Query<Option<uuid::Uuid>>,
        /// Only events at or after this time.
        since: Query<Option<DateTime<Utc>>>,
        /// Only events before this time.
        until: Query<Option<DateTime<Utc>>>,
        cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> Result<AuditOk, ApiError> {
        let t = admin::managed_tenant(state, &auth.0, &tenant).await?;
        let filter = AuditFilter {
            event_type: event_type.0,
            actor_id: actor.0,
            user_id: user.0,
            since: since.0,
            until: until.0,
        };
        let page = admin::audit::list(state, &t, filter, cursor.as_deref(), limit.0).await?;
        let items = page.items.into_iter().map(Into::into).collect();
        Ok(AuditOk::Ok(Json(AuditEventList { items, next_cursor: page.next_cursor })))
    }
}
