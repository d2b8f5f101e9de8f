//! Login providers (strategies) configured per tenant.
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::entities::providers;

/// The username/password provider every tenant starts with.
pub fn local_provider(tenant_id: Uuid, now: DateTime<Utc>) -> providers::Model {
    providers::Model {
        id: Uuid::now_v7(),
        tenant_id,
        provider_id: "local".into(),
        kind: "local".into(),
        display_name: "Username and password".into(),
        enabled: true,
        position: 0,
        config: serde_json::json!({}),
        secret_enc: None,
        created_at: now,
        updated_at: now,
    }
}
