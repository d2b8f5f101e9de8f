//! The wire shapes of a tenant's signing-key and audit endpoints.
use chrono::{DateTime, Utc};
use poem_openapi::Object;

use super::views::SigningAlgorithm;
use crate::store::entities::{audit_events, signing_keys};

#[derive(Object)]
pub struct SigningKeyView {
    pub kid: String,
    pub algorithm: SigningAlgorithm,
    /// `active` (signs new tokens) or `retired` (verifies until its tokens expire).
    pub status: String,
    /// `access` or `id_token`: the only kind of token this key signs and verifies.
    pub purpose: String,
    pub created_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub retired_at: Option<DateTime<Utc>>,
}

impl From<signing_keys::Model> for SigningKeyView {
    fn from(k: signing_keys::Model) -> Self {
        Self {
            algorithm: SigningAlgorithm::parse(&k.algorithm),
            kid: k.kid,
            status: k.status,
            purpose: k.purpose,
            created_at: k.created_at,
            retired_at: k.retired_at,
        }
    }
}

#[derive(Object)]
pub struct SigningKeyList {
    pub items: Vec<SigningKeyView>,
}

/// `algorithm` defaults to the tenant's signing algorithm.
#[derive(Object, Default)]
#[oai(deny_unknown_fields)]
pub struct RotateKeyRequest {
    // Documented on the struct: a doc comment here would wrap the enum's $ref in `allOf`,
    // which generated clients (openapi-python-client) cannot read.
    #[oai(skip_serializing_if_is_none)]
    pub algorithm: Option<SigningAlgorithm>,
}

#[derive(Object)]
pub struct AuditEventView {
    pub id: uuid::Uuid,
    /// `login.succeeded`, `login.failed`, `tenant.updated`, `user.created`, ...
    pub event_type: String,
    #[oai(skip_serializing_if_is_none)]
    pub actor_id: Option<uuid::Uuid>,
    /// Tenant of the actor (`system` for operators).
    #[oai(skip_serializing_if_is_none)]
    pub actor_tenant: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub user_id: Option<uuid::Uuid>,
    #[oai(skip_serializing_if_is_none)]
    pub target: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    #[oai(skip_serializing_if_is_none)]
    pub ip: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub user_agent: Option<String>,
    pub details: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl From<audit_events::Model> for AuditEventView {
    fn from(e: audit_events::Model) -> Self {
        Self {
            id: e.id,
            event_type: e.event_type,
            actor_id: e.actor_id,
            actor_tenant: e.actor_tenant,
            user_id: e.user_id,
            target: e.target,
            outcome: e.outcome,
            ip: e.ip,
            user_agent: e.user_agent,
            details: e.details,
            created_at: e.created_at,
        }
    }
}

#[derive(Object)]
pub struct AuditEventList {
    pub items: Vec<AuditEventView>,
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}
