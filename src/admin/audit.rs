//! Reading the audit log.
use super::{Page, fetch_size, page, parse_cursor};
use crate::{
    error::ApiError,
    state::AppState,
    store::{self, audit::AuditFilter, entities::audit_events},
    tenancy::TenantContext,
};

/// Newest first.
///
/// # Errors
/// 400 for a bad cursor or an inverted time range.
pub async fn list(
    state: &AppState,
    tenant: &TenantContext,
    filter: AuditFilter,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Page<audit_events::Model>, ApiError> {
    if let (Some(s), Some(u)) = (filter.since, filter.until)
        && s > u
    {
        return Err(ApiError::validation("since", "must not be after until"));
    }
    let before = parse_cursor(cursor)?;
    let fetched = fetch_size(limit);
    let rows = store::audit::list(&state.replica, tenant.id, &filter, before, fetched).await?;
    Ok(page(rows, fetched, |e| e.id))
}
