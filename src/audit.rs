//! Recording audit events: every admin change and every login attempt.
//!
//! A failure to write the audit log is logged, not returned: the change it describes has
//! already been committed, and refusing the response would only make the client retry it.
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde_json::Value;
use uuid::Uuid;

use crate::{domain::ClientMeta, store, store::entities::audit_events};

/// Who did it: a user of some tenant (operators act from `system`).
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: Uuid,
    pub tenant: String,
}

pub struct Event<'a> {
    pub tenant_id: Uuid,
    pub event_type: &'a str,
    pub actor: Option<&'a Actor>,
    pub user_id: Option<Uuid>,
    pub target: Option<String>,
    pub success: bool,
    pub meta: &'a ClientMeta,
    pub details: Value,
}

pub async fn record(db: &impl ConnectionTrait, mut event: Event<'_>, now: DateTime<Utc>) {
    // The web faces mark their changes so the log tells a console click from an API call.
    if let (Some(channel), Value::Object(d)) = (event.meta.channel, &mut event.details) {
        d.insert("channel".into(), Value::from(channel));
    } else if let Some(channel) = event.meta.channel
        && event.details.is_null()
    {
        event.details = serde_json::json!({ "channel": channel });
    }
    let row = audit_events::Model {
        id: Uuid::now_v7(),
        tenant_id: event.tenant_id,
        event_type: event.event_type.to_string(),
        actor_id: event.actor.map(|a| a.id),
        actor_tenant: event.actor.map(|a| a.tenant.clone()),
        user_id: event.user_id,
        target: event.target,
        outcome: if event.success { "success" } else { "failure" }.to_string(),
        ip: event.meta.ip.clone(),
        user_agent: event.meta.user_agent.clone(),
        details: event.details,
        created_at: now,
    };
    if let Err(e) = store::audit::insert(db, row).await {
        tracing::error!(error = %e, event = event.event_type, "could not write an audit event");
    }
}
