//! `gatehouse tenant export`, and the document it writes (also what `import` reads).
use std::collections::BTreeMap;

use anyhow::anyhow;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    store::{
        self,
        entities::{clients, identities, users},
    },
    tenancy::TenantSettings,
};

use super::{FORMAT, Ops, VERSION};

impl Ops {
    /// The tenant as an export document; see the module docs for what is in it.
    ///
    /// # Errors
    /// Unknown tenant, provider secrets that do not open (with `include_secrets`), or a
    /// database failure.
    pub async fn export(&self, slug: &str, include_secrets: bool) -> anyhow::Result<TenantExport> {
        let t = self.tenant(slug).await?;
        let settings: TenantSettings = serde_json::from_value(t.settings.clone()).unwrap_or_default();
        let users = users::Entity::find()
            .filter(users::Column::TenantId.eq(t.id))
            .order_by_asc(users::Column::Id)
            .all(&self.db)
            .await?;
        let names: BTreeMap<Uuid, String> = users.iter().map(|u| (u.id, u.username.clone())).collect();
        let clients = clients::Entity::find()
            .filter(clients::Column::TenantId.eq(t.id))
            .order_by_asc(clients::Column::Id)
            .all(&self.db)
            .await?;
        let providers = store::providers::list_all(&self.db, t.id).await?;
        let identities = identities::Entity::find()
            .filter(identities::Column::TenantId.eq(t.id))
            .order_by_asc(identities::Column::Id)
            .all(&self.db)
            .await?;
        let strings = |v: &Value| serde_json::from_value::<Vec<String>>(v.clone()).unwrap_or_default();
        let mut exported_providers = Vec::new();
        for p in providers {
            let (secrets, secrets_sealed) = match (&p.secret_enc, include_secrets) {
                (None, _) => (None, None),
                (Some(_), true) => {
                    let open = store::providers::open_secrets(&self.master_key, &p).map_err(|_| {
                        anyhow!("provider {}: its secrets do not open with this master key", p.provider_id)
                    })?;
                    (Some(open), None)
                }
                (Some(sealed), false) => {
                    (None, Some(base64::engine::general_purpose::STANDARD.encode(sealed)))
                }
            };
            exported_providers.push(ExportProvider {
                id: Some(p.id),
                provider_id: p.provider_id,
                kind: p.kind,
                display_name: p.display_name,
                enabled: p.enabled,
                position: p.position,
                configuration: p.config,
                secrets,
                secrets_sealed,
            });
        }
        Ok(TenantExport {
            format: FORMAT.into(),
            version: VERSION,
            exported_at: Some(Utc::now()),
            master_key_fingerprint: Some(self.fingerprint()),
            tenant: ExportTenant {
                id: Some(t.id),
                slug: t.slug,
                display_name: t.display_name,
                status: t.status,
                settings,
            },
            users: users
                .into_iter()
                .map(|u| ExportUser {
                    id: Some(u.id),
                    roles: crate::auth::roles_of(&u),
                    username: u.username,
                    email: u.email,
                    email_verified: u.email_verified,
                    display_name: u.display_name,
                    password_hash: u.password_hash,
                    status: u.status,
                    created_at: Some(u.created_at),
                })
                .collect(),
            clients: clients
                .into_iter()
                .map(|c| ExportClient {
                    id: Some(c.id),
                    redirect_uris: strings(&c.redirect_uris),
                    post_logout_redirect_uris: strings(&c.post_logout_redirect_uris),
                    grant_types: strings(&c.grant_types),
                    scopes: strings(&c.scopes),
                    client_id: c.client_id,
                    name: c.name,
                    client_type: c.client_type,
                    secret_hash: c.secret_hash,
                    access_token_ttl_secs: c.access_token_ttl_secs,
                    refresh_token_ttl_secs: c.refresh_token_ttl_secs,
                    enabled: c.enabled,
                    pkce_required: c.pkce_required,
                    require_second_factor: c.require_second_factor,
                })
                .collect(),
            providers: exported_providers,
            identities: identities
                .into_iter()
                .map(|i| ExportIdentity {
                    id: Some(i.id),
                    username: names.get(&i.user_id).cloned().unwrap_or_default(),
                    provider_id: i.provider_id,
                    subject: i.subject,
                    email: i.email,
                    email_verified: i.email_verified,
                    claims: i.claims,
                    created_at: Some(i.created_at),
                    last_login_at: Some(i.last_login_at),
                })
                .collect(),
        })
    }

    /// Names the master key without revealing it: an HMAC under a key derived from it.
    pub(super) fn fingerprint(&self) -> String {
        self.master_key.keyed_hash("export-fingerprint", FORMAT)
    }
}

fn active() -> String {
    "active".into()
}

fn yes() -> bool {
    true
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantExport {
    /// Always `gatehouse.tenant`.
    pub format: String,
    /// Always 1.
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exported_at: Option<DateTime<Utc>>,
    /// Which master key sealed the secrets in this document (an HMAC, not the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_key_fingerprint: Option<String>,
    pub tenant: ExportTenant,
    #[serde(default)]
    pub users: Vec<ExportUser>,
    #[serde(default)]
    pub clients: Vec<ExportClient>,
    #[serde(default)]
    pub providers: Vec<ExportProvider>,
    #[serde(default)]
    pub identities: Vec<ExportIdentity>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportTenant {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub slug: String,
    pub display_name: String,
    #[serde(default = "active")]
    pub status: String,
    /// Missing fields take the defaults of a new tenant.
    #[serde(default)]
    pub settings: TenantSettings,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportUser {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    /// Set by the user on the account page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// An Argon2id PHC string; `null` for users who sign in only through providers.
    #[serde(default)]
    pub password_hash: Option<String>,
    #[serde(default = "active")]
    pub status: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportClient {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub client_id: String,
    pub name: String,
    pub client_type: String,
    /// Keyed with the exporting master key: usable only under the same key.
    #[serde(default)]
    pub secret_hash: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    #[serde(default)]
    pub access_token_ttl_secs: Option<i64>,
    #[serde(default)]
    pub refresh_token_ttl_secs: Option<i64>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "yes")]
    pub pkce_required: bool,
    #[serde(default)]
    pub require_second_factor: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportProvider {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub provider_id: String,
    pub kind: String,
    pub display_name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub position: i32,
    /// Non-secret settings, as `configuration` in the admin API. Files exported before this
    /// name was used say `config`; they still import.
    #[serde(default, alias = "config")]
    pub configuration: Value,
    /// In clear: only in exports made with `--include-secrets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<BTreeMap<String, String>>,
    /// Base64 of the sealed secrets: opens only with the same master key, tenant id and id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_sealed: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportIdentity {
    #[serde(default)]
    pub id: Option<Uuid>,
    /// The user it belongs to, by username.
    pub username: String,
    pub provider_id: String,
    pub subject: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default)]
    pub claims: Value,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_login_at: Option<DateTime<Utc>>,
}
