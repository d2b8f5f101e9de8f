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
use std::sync::Arc;

use anyhow::{anyhow, bail};
use chrono::Utc;
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    audit::{self, Event},
    auth::{ClientMeta, ROLE_ADMIN, ROLE_TENANT_ADMIN},
    config::Settings,
    crypto::{MasterKey, password::PasswordHasher},
    domain::{Password, Username},
    kv::Kv,
    store::{
        self,
        entities::{tenants, users},
        users::{InsertUserError, NewUser},
    },
    tenancy::{self, TenantSettings},
    tenancy::{DEFAULT_TENANT, SYSTEM_TENANT},
    tokens::Algorithm,
};

mod export;
mod import;
mod token;

pub use export::TenantExport;
pub use import::ImportReport;
pub use token::AdminToken;

pub const FORMAT: &str = "gatehouse.tenant";
pub const VERSION: u32 = 1;

/// What `rotate_keys` did.
pub struct KeyRotation {
    /// The new key ids: the access-token key, then the ID-token key.
    pub kids: Vec<String>,
    /// Running instances were told through Redis and switch at once; otherwise an instance
    /// switches when its tenant cache entry expires (30 s).
    pub announced: bool,
    /// How long the retired keys stay in the JWKS and keep verifying: the longest an access
    /// token they signed can still be valid.
    pub old_keys_verify_secs: u64,
}

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
        let db = store::open(&settings.database).await?;
        if settings.database.auto_migrate {
            migration::Migrator::up(&db, None).await?;
        }
        let now = Utc::now();
        let default = TenantSettings::default_tenant(&settings);
        tenancy::ensure_tenant(&db, &master_key, DEFAULT_TENANT, "Default", default, now).await?;
        let system = TenantSettings::from_config(&settings);
        tenancy::ensure_tenant(&db, &master_key, SYSTEM_TENANT, "System", system, now).await?;
        Ok(Self { settings, db, master_key })
    }

    async fn tenant(&self, slug: &str) -> anyhow::Result<tenants::Model> {
        store::tenants::find_by_slug(&self.db, slug).await?.ok_or_else(|| anyhow!("no tenant {slug}"))
    }

    /// Tells running instances that `slug` changed (through Redis when configured; without
    /// it the single instance reloads the tenant within its 30 s cache lifetime). True when
    /// they were told.
    async fn announce(&self, slug: &str) -> bool {
        if self.settings.redis.url.is_none() {
            return false;
        }
        match Kv::connect(&self.settings.redis, &self.db).await {
            Ok(kv) => match kv.publish(tenancy::INVALIDATION_CHANNEL, slug).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "running instances will see the change within 30 s");
                    false
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "running instances will see the change within 30 s");
                false
            }
        }
    }

    async fn audit(&self, tenant_id: Uuid, event_type: &str, target: String, details: Value) {
        let meta = ClientMeta { ip: None, user_agent: Some("gatehouse-cli".into()), channel: None };
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

    /// Creates a tenant with the configured defaults, its signing keys and local provider;
    /// closed to self-registration unless `registration_open`.
    ///
    /// # Errors
    /// An invalid or taken slug, or a database failure.
    pub async fn create_tenant(
        &self,
        slug: &str,
        display_name: Option<&str>,
        registration_open: bool,
    ) -> anyhow::Result<tenants::Model> {
        if !crate::domain::valid_slug(slug) {
            bail!("slug: must be 1-63 lower-case letters, digits or inner hyphens");
        }
        let name = display_name.unwrap_or(slug).trim();
        if name.is_empty() || name.chars().count() > 200 {
            bail!("--name: must be 1 to 200 characters");
        }
        let now = Utc::now();
        let settings = TenantSettings { registration_open, ..TenantSettings::from_config(&self.settings) };
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
    /// keep verifying until the tokens they signed have expired.
    ///
    /// # Errors
    /// Unknown tenant, key generation or database failure.
    pub async fn rotate_keys(&self, slug: &str, algorithm: Option<Algorithm>) -> anyhow::Result<KeyRotation> {
        let tenant = self.tenant(slug).await?;
        let settings: TenantSettings = serde_json::from_value(tenant.settings.clone()).unwrap_or_default();
        let algorithm =
            algorithm.or_else(|| Algorithm::parse(&settings.signing_algorithm)).unwrap_or(Algorithm::Es256);
        let now = Utc::now();
        let keys = tenancy::new_signing_keys(&self.master_key, tenant.id, algorithm, now)?;
        let kids: Vec<String> = keys.iter().map(|k| k.kid.clone()).collect();
        store::signing_keys::rotate(&self.db, tenant.id, keys, now).await?;
        let announced = self.announce(slug).await;
        let details = json!({ "via": "cli", "algorithm": algorithm.as_str() });
        self.audit(tenant.id, "signing_key.rotated", format!("key:{}", kids[0]), details).await;
        let tokens = &self.settings.tokens;
        Ok(KeyRotation {
            kids,
            announced,
            old_keys_verify_secs: tokens.max_access_ttl_secs + tokens.leeway_secs,
        })
    }
}
