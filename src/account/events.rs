//! Audit events of the mailed account flows (email sign-in, email change), all about one
//! user (or an address that is nobody's) and caused by no admin.
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    audit::{self, Event},
    auth::ClientMeta,
    state::AppState,
    tenancy::TenantContext,
};

/// Records `event_type` about `user` (none for an unknown address).
#[allow(clippy::too_many_arguments)]
pub async fn record(
    state: &AppState,
    tenant: &TenantContext,
    event_type: &str,
    user: Option<Uuid>,
    success: bool,
    meta: &ClientMeta,
    details: Value,
    now: DateTime<Utc>,
) {
    let event = Event {
        tenant_id: tenant.id,
        event_type,
        actor: None,
        user_id: user,
        target: user.map(|u| format!("user:{u}")),
        success,
        meta,
        details,
    };
    audit::record(&state.db, event, now).await;
}
