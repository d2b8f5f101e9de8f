//! `gatehouse tenant import`: the whole document is validated before one transaction writes it.
use std::{collections::BTreeMap, collections::HashSet};

use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, IntoActiveModel, TransactionTrait};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::{ROLE_ADMIN, ROLE_TENANT_ADMIN},
    domain::{Email, Username},
    store::{
        self,
        entities::{clients, identities, providers, tenants, users},
        providers::LOCAL,
    },
    tenancy::SYSTEM_TENANT,
    tenancy::{self},
    tokens::Algorithm,
};

use super::{FORMAT, Ops, VERSION, export::*};

impl Ops {
    /// Validates the whole document, then writes the tenant in one transaction (replacing a
    /// tenant of the same slug only with `replace`). Returns warnings for the operator.
    ///
    /// # Errors
    /// The first invalid entry, named; an existing slug without `replace`; ids that exist in
    /// this database under another tenant; or a database failure. Nothing is written then.
    pub async fn import(&self, doc: TenantExport, replace: bool) -> anyhow::Result<ImportReport> {
        let now = Utc::now();
        let plan = self.validate(doc, now)?;
        for (label, urls) in &plan.endpoints {
            crate::strategy::check_endpoints(urls, &self.settings.upstream)
                .await
                .map_err(|e| anyhow!("{label}: {}: {}", e.field, e.message))?;
        }
        let slug = plan.tenant.slug.clone();
        let txn = self.db.begin().await?;
        if let Some(existing) = store::tenants::find_by_slug(&txn, &slug).await? {
            if !replace {
                bail!("tenant {slug} exists already (use --replace to overwrite it)");
            }
            if slug == SYSTEM_TENANT {
                bail!("the system tenant cannot be replaced");
            }
            store::tenants::delete(&txn, existing.id).await?;
        }
        let tenant_id = plan.tenant.id;
        let insert_err =
            |what: &str| format!("writing {what} (is an id in use by another tenant of this database?)");
        plan.tenant
            .into_active_model()
            .reset_all()
            .insert(&txn)
            .await
            .with_context(|| insert_err("the tenant"))?;
        for key in plan.keys {
            key.into_active_model()
                .reset_all()
                .insert(&txn)
                .await
                .with_context(|| insert_err("signing keys"))?;
        }
        for p in plan.providers {
            let what = format!("provider {}", p.provider_id);
            p.into_active_model().reset_all().insert(&txn).await.with_context(|| insert_err(&what))?;
        }
        for u in plan.users {
            let what = format!("user {}", u.username);
            u.into_active_model().reset_all().insert(&txn).await.with_context(|| insert_err(&what))?;
        }
        for c in plan.clients {
            let what = format!("client {}", c.client_id);
            c.into_active_model().reset_all().insert(&txn).await.with_context(|| insert_err(&what))?;
        }
        for i in plan.identities {
            let what = format!("identity {}:{}", i.provider_id, i.subject);
            i.into_active_model().reset_all().insert(&txn).await.with_context(|| insert_err(&what))?;
        }
        txn.commit().await?;
        self.announce(&slug).await;
        let details =
            json!({ "via": "cli", "replaced": replace, "users": plan.counts.0, "clients": plan.counts.1 });
        self.audit(tenant_id, "tenant.imported", format!("tenant:{slug}"), details).await;
        Ok(ImportReport { tenant_id, users: plan.counts.0, clients: plan.counts.1, warnings: plan.warnings })
    }

    #[allow(clippy::too_many_lines)]
    fn validate(&self, doc: TenantExport, now: DateTime<Utc>) -> anyhow::Result<Plan> {
        if doc.format != FORMAT || doc.version != VERSION {
            bail!("not a {FORMAT} document of version {VERSION}");
        }
        let same_key = doc.master_key_fingerprint.as_deref() == Some(self.fingerprint().as_str());
        let mut warnings = Vec::new();
        let t = doc.tenant;
        if !crate::domain::valid_slug(&t.slug) {
            bail!("tenant.slug: must be 1-63 lower-case letters, digits or inner hyphens");
        }
        if t.display_name.trim().is_empty() || t.display_name.chars().count() > 200 {
            bail!("tenant.display_name: must be 1 to 200 characters");
        }
        if !matches!(t.status.as_str(), "active" | "disabled") {
            bail!("tenant.status: must be active or disabled");
        }
        t.settings
            .validate(self.settings.tokens.max_access_ttl_secs)
            .map_err(|e| anyhow!("tenant.{}: {}", e.field, e.message))?;
        let tenant_id = t.id.unwrap_or_else(Uuid::now_v7);
        let algorithm = Algorithm::parse(&t.settings.signing_algorithm).unwrap_or(Algorithm::Es256);
        let keys = tenancy::new_signing_keys(&self.master_key, tenant_id, algorithm, now)?;
        let system = t.slug == SYSTEM_TENANT;
        let tenant = tenants::Model {
            id: tenant_id,
            slug: t.slug,
            display_name: t.display_name.trim().to_string(),
            status: t.status,
            settings: serde_json::to_value(&t.settings)?,
            created_at: now,
            updated_at: now,
        };

        let mut user_ids = BTreeMap::new();
        let mut users = Vec::new();
        for (n, u) in doc.users.into_iter().enumerate() {
            let at = |m: String| anyhow!("users[{n}] ({}): {m}", u.username);
            let name = Username::parse(&u.username).map_err(|e| at(e.message))?;
            let email = u.email.as_deref().map(Email::parse).transpose().map_err(|e| at(e.message))?;
            if let Some(h) = &u.password_hash {
                check_password_hash(h).map_err(at)?;
            }
            if !matches!(u.status.as_str(), "active" | "disabled") {
                return Err(at("status must be active or disabled".into()));
            }
            if let Some(r) = u
                .roles
                .iter()
                .find(|r| !(r.as_str() == ROLE_TENANT_ADMIN || (r.as_str() == ROLE_ADMIN && system)))
            {
                return Err(at(format!("role {r:?}: only tenant-admin (and admin in system) exist")));
            }
            if u.display_name
                .as_ref()
                .is_some_and(|d| d.chars().count() > 200 || d.chars().any(char::is_control))
            {
                return Err(at("display_name: at most 200 characters, without control characters".into()));
            }
            let id = u.id.unwrap_or_else(Uuid::now_v7);
            if user_ids.insert(name.as_str().to_string(), id).is_some() {
                return Err(at("the username appears twice (after normalisation)".into()));
            }
            users.push(users::Model {
                id,
                tenant_id,
                username: name.as_str().to_string(),
                email: email.map(|e| e.as_str().to_string()),
                email_verified: u.email_verified,
                password_hash: u.password_hash,
                status: u.status,
                roles: json!(u.roles),
                display_name: u.display_name,
                second_factor_required: false,
                created_at: u.created_at.unwrap_or(now),
                updated_at: now,
            });
        }

        let mut client_ids = HashSet::new();
        let mut clients = Vec::new();
        for (n, c) in doc.clients.into_iter().enumerate() {
            let at = |m: String| anyhow!("clients[{n}] ({}): {m}", c.client_id);
            if c.client_id.is_empty()
                || c.client_id.len() > 128
                || !c.client_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return Err(at("client_id must be 1-128 of a-z A-Z 0-9 - _ .".into()));
            }
            if !client_ids.insert(c.client_id.clone()) {
                return Err(at("the client_id appears twice".into()));
            }
            match (c.client_type.as_str(), &c.secret_hash) {
                ("public", None) => {}
                ("confidential", Some(_)) if same_key => {}
                ("confidential", _) => warnings.push(format!(
                    "client {} ({}): its secret does not carry over to this master key; \
                     give it a new one (POST /admin/v1/tenants/{{tenant}}/clients/{{client_id}}/secret)",
                    c.client_id, c.name
                )),
                ("public", Some(_)) => return Err(at("a public client has no secret".into())),
                _ => return Err(at("client_type must be public or confidential".into())),
            }
            let row = clients::Model {
                id: c.id.unwrap_or_else(Uuid::now_v7),
                tenant_id,
                client_id: c.client_id.clone(),
                name: c.name.clone(),
                client_type: c.client_type.clone(),
                secret_hash: c.secret_hash.clone().filter(|_| same_key),
                redirect_uris: json!(c.redirect_uris),
                post_logout_redirect_uris: json!(c.post_logout_redirect_uris),
                grant_types: json!(c.grant_types),
                scopes: json!(c.scopes),
                access_token_ttl_secs: c.access_token_ttl_secs,
                refresh_token_ttl_secs: c.refresh_token_ttl_secs,
                enabled: c.enabled,
                pkce_required: c.pkce_required,
                require_second_factor: c.require_second_factor,
                created_at: now,
                updated_at: now,
            };
            crate::admin::clients::check_stored(&row, self.settings.tokens.max_access_ttl_secs)
                .map_err(|e| at(problem_detail(e)))?;
            clients.push(row);
        }

        let mut provider_rows: BTreeMap<String, Uuid> = BTreeMap::new();
        let mut providers = Vec::new();
        let mut endpoints = Vec::new();
        for (n, p) in doc.providers.into_iter().enumerate() {
            let at = |m: String| anyhow!("providers[{n}] ({}): {m}", p.provider_id);
            if !crate::strategy::KINDS.contains(&p.kind.as_str()) {
                return Err(at(format!("unknown kind {:?}", p.kind)));
            }
            if (p.kind == LOCAL) != (p.provider_id == LOCAL) {
                return Err(at("the local provider has provider_id and kind local, and no other has".into()));
            }
            let id = p.id.unwrap_or_else(Uuid::now_v7);
            if provider_rows.insert(p.provider_id.clone(), id).is_some() {
                return Err(at("the provider_id appears twice".into()));
            }
            let mut row = providers::Model {
                id,
                tenant_id,
                provider_id: p.provider_id.clone(),
                kind: p.kind.clone(),
                display_name: p.display_name.clone(),
                enabled: p.enabled,
                position: p.position,
                config: p.configuration.clone(),
                secret_enc: None,
                created_at: now,
                updated_at: now,
            };
            let secrets = match (&p.secrets, &p.secrets_sealed) {
                (Some(_), Some(_)) => return Err(at("give secrets or secrets_sealed, not both".into())),
                (Some(clear), None) => {
                    row.secret_enc = store::providers::seal_secrets(&self.master_key, tenant_id, id, clear);
                    clear.clone()
                }
                (None, Some(sealed)) => {
                    row.secret_enc = Some(
                        base64::engine::general_purpose::STANDARD
                            .decode(sealed)
                            .map_err(|_| at("secrets_sealed is not base64".into()))?,
                    );
                    store::providers::open_secrets(&self.master_key, &row).map_err(|_| {
                        at("its secrets are sealed with another master key (or for another tenant or \
                            provider id): export with --include-secrets, or import with the same \
                            GATEHOUSE__SECRETS__MASTER_KEY and ids"
                            .into())
                    })?
                }
                (None, None) => BTreeMap::new(),
            };
            let urls =
                crate::strategy::validate(&p.kind, &p.configuration, &secrets, &self.settings.upstream)
                    .map_err(|e| at(format!("{}: {}", e.field, e.message)))?;
            endpoints.push((format!("providers[{n}] ({})", p.provider_id), urls));
            providers.push(row);
        }
        if !provider_rows.contains_key(LOCAL) {
            let local = store::providers::local_provider(tenant_id, now);
            provider_rows.insert(LOCAL.into(), local.id);
            providers.push(local);
        }

        let mut identities = Vec::new();
        for (n, i) in doc.identities.into_iter().enumerate() {
            let at = |m: &str| anyhow!("identities[{n}] ({}:{}): {m}", i.provider_id, i.subject);
            let canonical = Username::lookup(&i.username).map_err(|_| at("invalid username"))?;
            let user_id =
                *user_ids.get(canonical.as_str()).ok_or_else(|| at("no such user in the document"))?;
            let provider_row_id =
                *provider_rows.get(&i.provider_id).ok_or_else(|| at("no such provider in the document"))?;
            if i.provider_id == LOCAL || i.subject.is_empty() || i.subject.len() > 255 {
                return Err(at("needs an external provider and a subject of 1-255 characters"));
            }
            identities.push(identities::Model {
                id: i.id.unwrap_or_else(Uuid::now_v7),
                tenant_id,
                user_id,
                provider_row_id,
                provider_id: i.provider_id,
                subject: i.subject,
                email: i.email,
                email_verified: i.email_verified,
                claims: i.claims,
                created_at: i.created_at.unwrap_or(now),
                last_login_at: i.last_login_at.unwrap_or(now),
            });
        }
        let counts = (users.len(), clients.len());
        Ok(Plan { tenant, keys, users, clients, providers, endpoints, identities, counts, warnings })
    }
}

/// Accepts the hashes Gatehouse verifies: Argon2id PHC strings from Gatehouse or any other
/// system, and the formats other systems leave behind (bcrypt, scrypt, PBKDF2, Argon2i: see
/// [`crate::crypto::password::legacy`]). Anything but Argon2id with the configured parameters
/// is replaced by one at the user's next login.
fn check_password_hash(hash: &str) -> Result<(), String> {
    crate::crypto::password::check_stored(hash).map(drop).map_err(|e| format!("password_hash: {e}"))
}

/// The human part of an API validation error.
fn problem_detail(e: crate::error::ApiError) -> String {
    match e {
        crate::error::ApiError::BadRequest(p) => p.0.detail,
        other => format!("{other:?}"),
    }
}

struct Plan {
    tenant: tenants::Model,
    keys: Vec<store::entities::signing_keys::Model>,
    users: Vec<users::Model>,
    clients: Vec<clients::Model>,
    providers: Vec<providers::Model>,
    /// The URLs each provider calls, resolved before anything is written.
    endpoints: Vec<(String, Vec<crate::upstream::Endpoint>)>,
    identities: Vec<identities::Model>,
    counts: (usize, usize),
    warnings: Vec<String>,
}

pub struct ImportReport {
    pub tenant_id: Uuid,
    pub users: usize,
    pub clients: usize,
    pub warnings: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2_and_legacy_hashes_are_accepted_and_other_formats_named() {
        let good = "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
        assert!(check_password_hash(good).is_ok());
        assert!(check_password_hash(&good.replace("argon2id", "argon2i")).is_ok());
        let argon2d = check_password_hash(&good.replace("argon2id", "argon2d")).unwrap_err();
        assert!(argon2d.starts_with("password_hash: ") && argon2d.contains("\"argon2d\""), "{argon2d}");
        assert!(check_password_hash("$2b$12$OMsJd1f5QcTxYY5RrO5Ct.5T6gDTfAysXR60UZc8SF/pGUmoVAvN6").is_ok());
        assert!(check_password_hash("$2b$12$abcdefghijklmnopqrstuuQ").unwrap_err().contains("bcrypt"));
        assert!(check_password_hash("plain text").unwrap_err().contains("not a recognised"));
    }
}
