//! The caller's remembered devices under `/me/remembered-devices`: browsers that skip the
//! second step (see `mfa::remember`), listed and revoked one by one or all at once.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use uuid::Uuid;

use super::{ApiTags, client_meta, security::UserBearer};
use crate::{error::ApiError, mfa::remember, state::AppState, store::entities::remembered_devices};

pub struct RememberedDevicesApi;

/// A browser that skips the second step until `expires_at`.
#[derive(Object)]
pub struct RememberedDeviceView {
    pub id: Uuid,
    /// What the browser said it was when remembered (its User-Agent, cut short).
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<remembered_devices::Model> for RememberedDeviceView {
    fn from(m: remembered_devices::Model) -> Self {
        Self {
            id: m.id,
            label: m.label,
            created_at: m.created_at,
            expires_at: m.expires_at,
            last_used_at: m.last_used_at,
        }
    }
}

#[derive(ApiResponse)]
pub enum DeviceList {
    #[oai(status = 200)]
    Ok(Json<Vec<RememberedDeviceView>>),
}

#[derive(ApiResponse)]
pub enum DeviceGone {
    /// Forgotten: that browser's next sign-in asks for the second factor again.
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(tag = "ApiTags::Me")]
impl RememberedDevicesApi {
    /// My remembered devices
    ///
    /// The browsers that skip the second step ("Remember this device"), newest first.
    #[oai(
        path = "/t/:tenant/me/remembered-devices",
        method = "get",
        operation_id = "listMyRememberedDevices"
    )]
    async fn list(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: UserBearer,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
    ) -> Result<DeviceList, ApiError> {
        let _ = tenant;
        let p = &auth.0;
        let list = remember::list(state, &p.tenant, p.user_id, Utc::now()).await?;
        Ok(DeviceList::Ok(Json(list.into_iter().map(Into::into).collect())))
    }

    /// Forget a remembered device
    ///
    /// 404 `remembered_device_not_found` for an unknown id.
    #[oai(
        path = "/t/:tenant/me/remembered-devices/:device_id",
        method = "delete",
        operation_id = "forgetMyRememberedDevice"
    )]
    async fn forget(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        auth: UserBearer,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
        device_id: Path<Uuid>,
    ) -> Result<DeviceGone, ApiError> {
        let _ = tenant;
        let p = &auth.0;
        remember::forget(state, &p.tenant, p.user_id, Some(device_id.0), &client_meta(req), Utc::now())
            .await?;
        Ok(DeviceGone::NoContent)
    }

    /// Forget all remembered devices
    #[oai(
        path = "/t/:tenant/me/remembered-devices",
        method = "delete",
        operation_id = "forgetAllMyRememberedDevices"
    )]
    async fn forget_all(
        &self,
        Data(state): Data<&Arc<AppState>>,
        req: &Request,
        auth: UserBearer,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
    ) -> Result<DeviceGone, ApiError> {
        let _ = tenant;
        let p = &auth.0;
        remember::forget(state, &p.tenant, p.user_id, None, &client_meta(req), Utc::now()).await?;
        Ok(DeviceGone::NoContent)
    }
}
