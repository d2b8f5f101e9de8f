//! Admin use cases: who may manage which tenant, cursor pages, idempotent creates, and one
//! module per resource. These functions return [`ApiError`] directly: every failure here is
//! an outcome the admin client sees.
use std::sync::Arc;

use serde::{Serialize, de::DeserializeOwned};
use uuid::Uuid;

use crate::{
    audit::Actor,
    auth::ClientMeta,
    error::ApiError,
    state::AppState,
    store::idempotency::{self, Begin},
    tenancy::TenantContext,
};

pub mod audit;
pub mod clients;
pub mod keys;
pub mod mail;
pub mod mail_templates;
pub mod providers;
pub mod tenants;
pub mod user_factors;
pub mod users;

/// An authenticated administrator.
pub struct Admin {
    pub actor: Actor,
    /// `admin` in `system`: manages every tenant.
    pub operator: bool,
    /// `tenant-admin`: manages its own tenant.
    pub tenant_admin: bool,
    pub meta: ClientMeta,
}

impl Admin {
    pub fn may_manage(&self, slug: &str) -> bool {
        self.operator || (self.tenant_admin && self.actor.tenant == slug)
    }

    /// # Errors
    /// 403 unless an operator.
    pub fn require_operator(&self) -> Result<(), ApiError> {
        if self.operator {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "operator_required",
                "only operators (role admin in tenant system) may do this",
            ))
        }
    }
}

/// The tenant at `slug` if this admin may manage it: 403 before 404, so tenant admins learn
/// nothing about other tenants.
///
/// # Errors
/// 403 for a tenant the admin may not manage, 404 for one that does not exist.
pub async fn managed_tenant(
    state: &AppState,
    admin: &Admin,
    slug: &str,
) -> Result<Arc<TenantContext>, ApiError> {
    if !admin.may_manage(slug) {
        return Err(ApiError::forbidden("forbidden", format!("you may not manage tenant {slug}")));
    }
    state.tenants.get(slug).await?.ok_or_else(|| ApiError::not_found("tenant_not_found", "no such tenant"))
}

/// Records an admin change in the audit log of `tenant_id`, with the admin as actor.
pub(crate) async fn record_change(
    state: &AppState,
    admin: &Admin,
    tenant_id: Uuid,
    event_type: &str,
    target: String,
    user_id: Option<Uuid>,
    details: serde_json::Value,
    now: chrono::DateTime<chrono::Utc>,
) {
    let event = crate::audit::Event {
        tenant_id,
        event_type,
        actor: Some(&admin.actor),
        user_id,
        target: Some(target),
        success: true,
        meta: &admin.meta,
        details,
    };
    crate::audit::record(&state.db, event, now).await;
}

pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 200;

/// One page of a list, and the cursor of the next page if there is one.
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Cursors are the id of the last item of the previous page.
///
/// # Errors
/// A cursor that no page produced.
pub fn parse_cursor(cursor: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    cursor
        .map(|c| {
            Uuid::parse_str(c)
                .map_err(|_| ApiError::validation("cursor", "is not a cursor from a previous page"))
        })
        .transpose()
}

/// How many rows to fetch for a page of `limit`: one more, to learn whether a next page exists.
pub fn fetch_size(limit: Option<u32>) -> u64 {
    u64::from(limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE)) + 1
}

pub fn page<T>(mut rows: Vec<T>, fetched: u64, id: impl Fn(&T) -> Uuid) -> Page<T> {
    let limit = usize::try_from(fetched - 1).unwrap_or(usize::MAX);
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if more { rows.last().map(|r| id(r).to_string()) } else { None };
    Page { items: rows, next_cursor }
}

/// Runs a create once per `Idempotency-Key`: a retry with the same key and body gets the first
/// response; the same key with another body is refused. Stored responses are sealed with the
/// master key because they may contain a secret shown once.
///
/// # Errors
/// The create's own errors, or 409/422 for a key in use or reused with another body.
pub async fn idempotent<T, F, Fut>(
    state: &AppState,
    admin: &Admin,
    route: &str,
    key: Option<&str>,
    request: &impl Serialize,
    run: F,
) -> Result<T, ApiError>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let Some(key) = key else { return run().await };
    if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::validation("Idempotency-Key", "must be 1 to 200 visible ASCII characters"));
    }
    let scope = format!("{}:{route}", admin.actor.id);
    let body = serde_json::to_string(request).map_err(ApiError::internal)?;
    // Keyed: the body may hold a password, and a plain hash would allow offline guessing.
    let fingerprint = state.master_key.keyed_hash("idempotency", &body);
    let now = chrono::Utc::now();
    match idempotency::begin(&state.db, &scope, key, &fingerprint, now).await? {
        Begin::Fresh(id) => match run().await {
            Ok(value) => {
                let json = serde_json::to_vec(&value).map_err(ApiError::internal)?;
                let sealed = state.master_key.encrypt(&json, id.as_bytes());
                idempotency::complete(&state.db, id, 201, sealed).await?;
                Ok(value)
            }
            Err(e) => {
                idempotency::abandon(&state.db, id).await?;
                Err(e)
            }
        },
        Begin::Replay { id, response } => {
            let plain = state.master_key.decrypt(&response, id.as_bytes()).map_err(ApiError::internal)?;
            serde_json::from_slice(&plain).map_err(ApiError::internal)
        }
        Begin::InProgress => Err(ApiError::conflict(
            "idempotency_in_progress",
            "a request with this Idempotency-Key is still running",
        )),
        Begin::Mismatch => Err(ApiError::unprocessable(
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request",
        )),
    }
}
