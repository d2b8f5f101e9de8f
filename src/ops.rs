//! Operator commands (`gatehouse tenant|admin|keys ...`): the same database, master key and
//! settings as `serve`, without an HTTP server or an operator token. For first setup (the
//! admin API needs an admin to exist), key rotation from cron, and moving a tenant between
//! deployments or in from another system.
//!
//! Errors are `anyhow`: they end a command with a message for a person, never a response.
//!
//! # The export document (`format: gatehouse.tenant`, `version: 1`)
//!
//! One JSON object: `tenant` (slug, display name, status, settings), `users` (with their
//! password hashes), `clients` (with secret hashes), `providers` (configuration; secrets see
//! below) and `identities` (upstream accounts linked to users, by username and provider id).
//! Ids are kept, so `sub` claims stay the same after a move; documents written by hand or by
//! another system may leave every `id` out. Signing keys, sessions and audit events are not
//! exported: an import generates new keys, so tokens issued before the move must be renewed
//! by logging in again.
//!
//! Secrets: client secret hashes and sealed provider secrets only work under the master key
//! that made them (`master_key_fingerprint` tells). By default provider secrets stay sealed,
//! which imports only into a deployment with the same master key; `--include-secrets` writes
//! them in clear so the import seals them with its own key. Client secrets exist nowhere in
//! clear: under another master key, confidential clients need a new secret (the import says
//! which).
use std::{collections::BTreeMap, collections::HashSet, sync::Arc};

use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    app::{DEFAULT_TENANT, SYSTEM_TENANT},
    audit::{self, Event},
    auth::{ClientMeta, ROLE_ADMIN, ROLE_TENANT_ADMIN, password::PasswordHasher},
    config::Settings,
    crypto::MasterKey,
    domain::{Email, Password, Username},
    kv::Kv,
    store::{
        self,
        entities::{clients, identities, providers, tenants, users},
        providers::LOCAL,
        users::{InsertUserError, NewUser},
    },
    tenancy::{self, TenantSettings},
    tokens::Algorithm,
};

pub const FORMAT: &str = "gatehouse.tenant";
pub const VERSION: u32 = 1;

/// A connection to the configured deployment.
pub struct Ops {
    settings: Settings,
    db: DatabaseConnection,
    master_key: Arc<MasterKey>,
}

impl Ops {
    /// Connects as `serve` does: migrates when `database.auto_migrate` is set and makes sure
    /// `default` and `system` exist, so a fresh database can be set up from the CLI alone.
    ///
    /// # Errors
    /// Configuration, connection or migration failure.
    pub async fn connect(settings: Settings) -> anyhow::Result<Self> {
        use sea_orm_migration::MigratorTrait as _;
        let master_key = Arc::new(MasterKey::load(&settings.secrets)?);
        let db = store::connect(&settings.database)
            .await
            .map_err(|e| anyhow!("GATEHOUSE__DATABASE__URL: cannot connect: {e}"))?;
        if settings.database.auto_migrate {
            migration::Migrator::up(&db, None).await?;
        }
        let now = Utc::now();
        let defaults = TenantSettings::from_config(&settings);
        tenancy::ensure_tenant(&db, &master_key, DEFAULT_TENANT, "Default", defaults.clone(), now).await?;
        let system = TenantSettings { registration_open: false, ..defaults };
        tenancy::ensure_tenant(&db, &master_key, SYSTEM_TENANT, "System", system, now).await?;
        Ok(Self { settings, db, master_key })
    }

    async fn tenant(&self, slug: &str) -> anyhow::Result<tenants::Model> {
        store::tenants::find_by_slug(&self.db, slug).await?.ok_or_else(|| anyhow!("no tenant {slug}"))
    }

    /// Tells running instances that `slug` changed (through Redis when configured; without
    /// it the single instance reloads the tenant within its 30 s cache lifetime).
    async fn announce(&self, slug: &str) {
        if self.settings.redis.url.is_none() {
            return;
        }
        match Kv::connect(&self.settings.redis).await {
            Ok(kv) => {
                if let Err(e) = kv.publish(tenancy::INVALIDATION_CHANNEL, slug).await {
                    tracing::warn!(error = %e, "running instances will see the change within 30 s");
                }
            }
            Err(e) => tracing::warn!(error = %e, "running instances will see the change within 30 s"),
        }
    }

    async fn audit(&self, tenant_id: Uuid, event_type: &str, target: String, details: Value) {
        let meta = ClientMeta { ip: None, user_agent: Some("gatehouse-cli".into()) };
        let event = Event {
            tenant_id,
            event_type,
            actor: None,
            user_id: None,
            target: Some(target),
            success: true,
            meta: &meta,
            details,
        };
        audit::record(&self.db, event, Utc::now()).await;
    }

    /// Creates a tenant with the configured defaults, its signing keys and local provider.
    ///
    /// # Errors
    /// An invalid or taken slug, or a database failure.
    pub async fn create_tenant(
        &self,
        slug: &str,
        display_name: Option<&str>,
    ) -> anyhow::Result<tenants::Model> {
        if !crate::admin::tenants::valid_slug(slug) {
            bail!("slug: must be 1-63 lower-case letters, digits or inner hyphens");
        }
        let name = display_name.unwrap_or(slug).trim();
        if name.is_empty() || name.chars().count() > 200 {
            bail!("--name: must be 1 to 200 characters");
        }
        let now = Utc::now();
        let settings = TenantSettings::from_config(&self.settings);
        let id = Uuid::now_v7();
        let row = tenants::Model {
            id,
            slug: slug.to_string(),
            display_name: name.to_string(),
            status: "active".into(),
            settings: serde_json::to_value(&settings)?,
            created_at: now,
            updated_at: now,
        };
        let algorithm = Algorithm::parse(&settings.signing_algorithm).unwrap_or(Algorithm::Es256);
        let keys = tenancy::new_signing_keys(&self.master_key, id, algorithm, now)?;
        let created = match store::tenants::create(
            &self.db,
            row,
            keys,
            store::providers::local_provider(id, now),
        )
        .await
        {
            Ok(t) => t,
            Err(store::tenants::CreateTenantError::SlugTaken) => bail!("tenant {slug} exists already"),
            Err(store::tenants::CreateTenantError::Store(e)) => return Err(e.into()),
        };
        self.announce(slug).await;
        self.audit(created.id, "tenant.created", format!("tenant:{slug}"), json!({ "via": "cli" })).await;
        Ok(created)
    }

    /// Creates an administrator: `admin` (every tenant) in `system`, `tenant-admin` elsewhere.
    /// The password must satisfy the tenant's policy.
    ///
    /// # Errors
    /// Unknown tenant, invalid username or password, a taken username, or a database failure.
    pub async fn create_admin(
        &self,
        slug: &str,
        username: &str,
        password: String,
    ) -> anyhow::Result<users::Model> {
        let tenant = self.tenant(slug).await?;
        let settings: TenantSettings = serde_json::from_value(tenant.settings.clone()).unwrap_or_default();
        let username = Username::parse(username).map_err(|e| anyhow!("{}: {}", e.field, e.message))?;
        let password = Password::parse(password, &settings.password_policy)
            .map_err(|e| anyhow!("the password: {}", e.message))?;
        let hasher = PasswordHasher::new(&self.settings.passwords)?;
        let hash = hasher.hash(password.expose().to_string()).await?;
        let role = if slug == SYSTEM_TENANT { ROLE_ADMIN } else { ROLE_TENANT_ADMIN };
        let new = NewUser {
            username: username.as_str().to_string(),
            email: None,
            password_hash: Some(hash),
            roles: vec![role.to_string()],
        };
        let user = match store::users::insert(&self.db, tenant.id, new, Utc::now()).await {
            Ok(u) => u,
            Err(InsertUserError::UsernameTaken) => bail!("{slug} has a user {} already", username.as_str()),
            Err(InsertUserError::Store(e)) => return Err(e.into()),
        };
        let details = json!({ "via": "cli", "roles": [role] });
        self.audit(tenant.id, "user.created", format!("user:{}", user.id), details).await;
        Ok(user)
    }

    /// New signing keys for the tenant (its algorithm, plus RS256 for ID tokens); the old ones
    /// keep verifying until the tokens they signed have expired. Returns the new key ids.
    ///
    /// # Errors
    /// Unknown tenant, key generation or database failure.
    pub async fn rotate_keys(&self, slug: &str, algorithm: Option<Algorithm>) -> anyhow::Result<Vec<String>> {
        let tenant = self.tenant(slug).await?;
        let settings: TenantSettings = serde_json::from_value(tenant.settings.clone()).unwrap_or_default();
        let algorithm =
            algorithm.or_else(|| Algorithm::parse(&settings.signing_algorithm)).unwrap_or(Algorithm::Es256);
        let now = Utc::now();
        let keys = tenancy::new_signing_keys(&self.master_key, tenant.id, algorithm, now)?;
        let kids: Vec<String> = keys.iter().map(|k| k.kid.clone()).collect();
        store::signing_keys::rotate(&self.db, tenant.id, keys, now).await?;
        self.announce(slug).await;
        let details = json!({ "via": "cli", "algorithm": algorithm.as_str() });
        self.audit(tenant.id, "signing_key.rotated", format!("key:{}", kids[0]), details).await;
        Ok(kids)
    }

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
                config: p.config,
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
    fn fingerprint(&self) -> String {
        self.master_key.keyed_hash("export-fingerprint", FORMAT)
    }

    /// Validates the whole document, then writes the tenant in one transaction (replacing a
    /// tenant of the same slug only with `replace`). Returns warnings for the operator.
    ///
    /// # Errors
    /// The first invalid entry, named; an existing slug without `replace`; ids that exist in
    /// this database under another tenant; or a database failure. Nothing is written then.
    pub async fn import(&self, doc: TenantExport, replace: bool) -> anyhow::Result<ImportReport> {
        let now = Utc::now();
        let plan = self.validate(doc, now)?;
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
        if !crate::admin::tenants::valid_slug(&t.slug) {
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
                created_at: now,
                updated_at: now,
            };
            crate::admin::clients::check_stored(&row, self.settings.tokens.max_access_ttl_secs)
                .map_err(|e| at(problem_detail(e)))?;
            clients.push(row);
        }

        let mut provider_rows: BTreeMap<String, Uuid> = BTreeMap::new();
        let mut providers = Vec::new();
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
                config: p.config.clone(),
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
            crate::strategy::validate(&p.kind, &p.config, &secrets, &self.settings.upstream)
                .map_err(|e| at(format!("{}: {}", e.field, e.message)))?;
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
        Ok(Plan { tenant, keys, users, clients, providers, identities, counts, warnings })
    }
}

/// Accepts Argon2id PHC strings (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`), from Gatehouse
/// or any other system. Hashes with other parameters verify as they are and are re-hashed with
/// the configured ones at the user's next login.
fn check_password_hash(hash: &str) -> Result<(), String> {
    let parsed =
        argon2::PasswordHash::new(hash).map_err(|e| format!("password_hash is not a PHC string: {e}"))?;
    if parsed.algorithm.as_str() != "argon2id" {
        return Err(format!("password_hash uses {}, only argon2id is accepted", parsed.algorithm.as_str()));
    }
    argon2::Params::try_from(&parsed).map_err(|e| format!("password_hash has unusable parameters: {e}"))?;
    if parsed.hash.is_none() || parsed.salt.is_none() {
        return Err("password_hash has no salt or no hash".into());
    }
    Ok(())
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
    #[serde(default)]
    pub config: Value,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_argon2id_phc_hashes_are_accepted() {
        let good = "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
        assert!(check_password_hash(good).is_ok());
        let argon2i = good.replace("argon2id", "argon2i");
        assert!(check_password_hash(&argon2i).unwrap_err().contains("argon2i"));
        assert!(check_password_hash("$2b$12$abcdefghijklmnopqrstuuQ").is_err());
        assert!(check_password_hash("plain text").is_err());
    }
}
