//! Tenants as the rest of the service sees them: settings plus ready-to-use signer and
//! verifiers, cached in-process and reloaded after a bounded time or on an unknown `kid`.
use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

mod second_factor;

pub use second_factor::{PasskeySettings, SecondFactorPolicy};

use crate::{
    config::Settings,
    crypto::MasterKey,
    domain::{ValidationError, password::PasswordPolicy},
    store::{self, StoreError, entities},
    tokens::{
        Algorithm, TokenError,
        keys::{self, KeyPurpose, Signer, Verifier},
    },
    upstream::Strategies,
};

/// The tenant that exists after the first start.
pub const DEFAULT_TENANT: &str = "default";
/// The reserved tenant of operators.
pub const SYSTEM_TENANT: &str = "system";

/// Per-tenant settings, stored as JSON on the tenant row.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct TenantSettings {
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub signing_algorithm: String,
    /// Whether anyone may create an account (`POST /t/{tenant}/auth/register`, first sign-in
    /// with an upstream provider). Closed for new tenants; only the `default` tenant of a fresh
    /// deployment starts open.
    pub registration_open: bool,
    pub password_policy: PasswordPolicy,
    /// `explicit_only` (link only from a logged-in session) or `verified_email` (also link
    /// automatically when the upstream marks the email verified).
    pub account_linking: String,
    pub branding: Branding,
    pub lockout: LockoutPolicy,
    pub email: EmailPolicy,
    pub second_factor: SecondFactorPolicy,
    pub passkeys: PasskeySettings,
}

/// Mail and account recovery for one tenant ([email](../../docs/email.md)).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct EmailPolicy {
    /// `off` (no verification mail), `optional` (a mail on registration, sign-in works
    /// without it) or `required` (no tokens until the address is verified).
    pub verification: String,
    /// Whether a password reset ends the user's sessions and refresh tokens.
    pub reset_ends_sessions: bool,
    /// Shown in front of the deployment's `From:` address; the brand name when unset.
    pub sender_name: Option<String>,
    pub reply_to: Option<String>,
    /// The language tag whose mail template overrides are used (`de`, `pt-BR`); `en` when unset.
    pub locale: Option<String>,
}

impl Default for EmailPolicy {
    fn default() -> Self {
        Self {
            verification: "optional".into(),
            reset_ends_sessions: true,
            sender_name: None,
            reply_to: None,
            locale: None,
        }
    }
}

impl EmailPolicy {
    /// Whether sign-in must wait for a verified address.
    pub fn verification_required(&self) -> bool {
        self.verification == "required"
    }

    /// Whether registration sends a verification mail.
    pub fn verification_on(&self) -> bool {
        self.verification != "off"
    }
}

/// Brute-force defence per (tenant, username): after `threshold` failed logins within
/// `window_secs`, further attempts are refused until the window ends, without hashing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct LockoutPolicy {
    pub threshold: u32,
    pub window_secs: u64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self { threshold: 5, window_secs: 900 }
    }
}

/// The largest logo a tenant may store inline as a `data:` URL.
pub const MAX_INLINE_LOGO_BYTES: usize = 32 * 1024;

/// An https URL of at most 2048 characters, or a `data:image/{png,jpeg,webp,svg+xml};base64,`
/// URL of at most [`MAX_INLINE_LOGO_BYTES`] decoded. The pages show the logo with `<img>`, where
/// an SVG's scripts never run and its external references are not loaded, and the CSP admits
/// `img-src https: data:` only.
fn check_logo_url(url: &str) -> Result<(), &'static str> {
    const REFUSED: &str =
        "must be an https URL or a data:image/png, jpeg, webp or svg+xml base64 URL of at most 32 KiB";
    if url.starts_with("https://") {
        return if url.len() <= 2048 { Ok(()) } else { Err("an https URL must be at most 2048 characters") };
    }
    let Some(rest) = url.strip_prefix("data:") else { return Err(REFUSED) };
    let Some((media, data)) = rest.split_once(";base64,") else { return Err(REFUSED) };
    if !matches!(media, "image/png" | "image/jpeg" | "image/webp" | "image/svg+xml") {
        return Err(REFUSED);
    }
    use base64::Engine as _;
    match base64::engine::general_purpose::STANDARD.decode(data) {
        Ok(bytes) if !bytes.is_empty() && bytes.len() <= MAX_INLINE_LOGO_BYTES => Ok(()),
        Ok(bytes) if !bytes.is_empty() => Err("a data: logo must be at most 32 KiB"),
        _ => Err("a data: logo must carry valid base64"),
    }
}

/// How the hosted pages present the tenant.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Branding {
    pub name: Option<String>,
    /// An https URL, or a small `data:image/...;base64,` URL (see `check_logo_url`).
    pub logo_url: Option<String>,
    /// `#rrggbb`, any colour: the pages set black or white text on it, whichever reads.
    pub primary_color: Option<String>,
}

impl TenantSettings {
    /// The settings of a new tenant: the deployment's token defaults, registration closed.
    pub fn from_config(settings: &Settings) -> Self {
        Self {
            access_token_ttl_secs: settings.tokens.access_ttl_secs,
            refresh_token_ttl_secs: settings.tokens.refresh_ttl_secs,
            signing_algorithm: settings.tokens.default_algorithm.clone(),
            registration_open: false,
            password_policy: PasswordPolicy::default(),
            account_linking: "explicit_only".into(),
            branding: Branding::default(),
            lockout: LockoutPolicy::default(),
            email: EmailPolicy::default(),
            second_factor: SecondFactorPolicy::default(),
            passkeys: PasskeySettings::default(),
        }
    }

    /// The `default` tenant of a fresh deployment: open to self-registration, so the README's
    /// first requests work without an admin.
    pub fn default_tenant(settings: &Settings) -> Self {
        Self { registration_open: true, ..Self::from_config(settings) }
    }

    /// # Errors
    /// The first setting that cannot work, named by its field.
    pub fn validate(&self, max_access_ttl_secs: u64) -> Result<(), ValidationError> {
        if self.access_token_ttl_secs < 60 || self.access_token_ttl_secs > max_access_ttl_secs {
            return Err(ValidationError::new(
                "settings.access_token_ttl_secs",
                format!("must be between 60 and {max_access_ttl_secs}"),
            ));
        }
        if self.refresh_token_ttl_secs < 300 || self.refresh_token_ttl_secs > 366 * 24 * 3600 {
            return Err(ValidationError::new(
                "settings.refresh_token_ttl_secs",
                "must be between 300 and 31622400 (366 days)",
            ));
        }
        if Algorithm::parse(&self.signing_algorithm).is_none() {
            return Err(ValidationError::new("settings.signing_algorithm", "must be ES256, RS256 or EdDSA"));
        }
        self.password_policy.validate()?;
        self.second_factor.validate()?;
        self.passkeys.validate()?;
        if !(1..=100).contains(&self.lockout.threshold) || !(60..=86_400).contains(&self.lockout.window_secs)
        {
            return Err(ValidationError::new(
                "settings.lockout",
                "threshold must be 1 to 100 and window_secs 60 to 86400",
            ));
        }
        if !matches!(self.account_linking.as_str(), "explicit_only" | "verified_email") {
            return Err(ValidationError::new(
                "settings.account_linking",
                "must be explicit_only or verified_email",
            ));
        }
        let e = &self.email;
        if !matches!(e.verification.as_str(), "off" | "optional" | "required") {
            return Err(ValidationError::new(
                "settings.email.verification",
                "must be off, optional or required",
            ));
        }
        if e.sender_name.as_ref().is_some_and(|n| n.chars().count() > 100 || n.chars().any(char::is_control))
        {
            return Err(ValidationError::new(
                "settings.email.sender_name",
                "must be at most 100 characters, no control characters",
            ));
        }
        if let Some(r) = &e.reply_to {
            crate::domain::Email::parse(r)
                .map_err(|_| ValidationError::new("settings.email.reply_to", "must be an email address"))?;
        }
        if e.locale.as_deref().is_some_and(|l| !crate::domain::valid_language_tag(l)) {
            return Err(ValidationError::new(
                "settings.email.locale",
                "must be a language tag like en, de or pt-BR",
            ));
        }
        let b = &self.branding;
        if b.name.as_ref().is_some_and(|n| n.chars().count() > 100) {
            return Err(ValidationError::new("settings.branding.name", "must be at most 100 characters"));
        }
        if let Some(url) = &b.logo_url {
            check_logo_url(url).map_err(|m| ValidationError::new("settings.branding.logo_url", m))?;
        }
        let is_colour = |c: &String| {
            c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|ch| ch.is_ascii_hexdigit())
        };
        if b.primary_color.as_ref().is_some_and(|c| !is_colour(c)) {
            return Err(ValidationError::new("settings.branding.primary_color", "must look like #1a2b3c"));
        }
        Ok(())
    }
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self::from_config(&Settings::default())
    }
}

pub struct TenantContext {
    pub id: Uuid,
    pub slug: String,
    pub display_name: String,
    pub active: bool,
    pub settings: TenantSettings,
    /// `{public_url}/t/{slug}`: the `iss` of every token of this tenant.
    pub issuer: String,
    /// The `aud` of first-party access tokens (the tenant's own API).
    pub audience: String,
    /// The `aud` of tokens for the admin API, issued to users holding an admin role.
    pub admin_audience: String,
    /// Signs access tokens, in the tenant's algorithm.
    pub signer: Signer,
    /// Signs ID tokens: RS256, which every OpenID Connect client supports. Never the access
    /// token key, even when the tenant signs access tokens with RS256 too.
    pub id_token_signer: Signer,
    /// Access-token keys only: an ID-token key never verifies an access token.
    verifiers: HashMap<String, Verifier>,
    /// ID-token keys only, for `id_token_hint`.
    id_token_verifiers: HashMap<String, Verifier>,
    /// The JWKS document, rendered once.
    pub jwks: Arc<String>,
    /// The enabled login strategies, rebuilt with the tenant when a provider changes.
    pub strategies: Strategies,
    loaded_at: Instant,
}

impl TenantContext {
    /// The verifier of an access-token key.
    pub fn verifier(&self, kid: &str) -> Option<&Verifier> {
        self.verifiers.get(kid)
    }

    /// The verifier of an ID-token key (for ID tokens we issued, such as `id_token_hint`).
    pub fn id_token_verifier(&self, kid: &str) -> Option<&Verifier> {
        self.id_token_verifiers.get(kid)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("tenant {0} has unusable signing keys: {1}")]
    Keys(String, String),
}

impl From<TenantError> for crate::error::ApiError {
    fn from(e: TenantError) -> Self {
        match e {
            TenantError::Store(s) => s.into(),
            other => Self::internal(anyhow::anyhow!(other.to_string())),
        }
    }
}

/// The Redis channel carrying slugs of changed tenants.
pub const INVALIDATION_CHANNEL: &str = "tenant-changed";

/// Looks tenants up by slug and keeps them ready in memory.
pub struct TenantDirectory {
    db: DatabaseConnection,
    master_key: Arc<MasterKey>,
    public_url: String,
    leeway: u64,
    /// How long a retired key keeps verifying (and stays in the JWKS): the longest an access
    /// token it signed can still be valid.
    retired_key_horizon: chrono::Duration,
    ttl: Duration,
    upstream: crate::config::UpstreamSettings,
    cache: RwLock<HashMap<String, Arc<TenantContext>>>,
}

impl TenantDirectory {
    pub fn new(db: DatabaseConnection, master_key: Arc<MasterKey>, settings: &Settings) -> Self {
        Self {
            db,
            master_key,
            public_url: settings.public_url(),
            leeway: settings.tokens.leeway_secs,
            retired_key_horizon: chrono::Duration::seconds(
                i64::try_from(settings.tokens.max_access_ttl_secs + settings.tokens.leeway_secs)
                    .unwrap_or(3630),
            ),
            ttl: Duration::from_secs(30),
            upstream: settings.upstream.clone(),
            cache: RwLock::new(HashMap::new()),
        }
    }

    pub fn issuer(&self, slug: &str) -> String {
        format!("{}/t/{slug}", self.public_url)
    }

    /// The slug of a tenant issuer URL of this deployment.
    pub fn slug_of_issuer<'a>(&self, iss: &'a str) -> Option<&'a str> {
        iss.strip_prefix(self.public_url.as_str())?.strip_prefix("/t/").filter(|s| !s.contains('/'))
    }

    pub fn admin_audience(&self) -> String {
        format!("{}/admin", self.public_url)
    }

    /// The tenant, from memory when fresh.
    ///
    /// # Errors
    /// Database failure or unusable keys.
    pub async fn get(&self, slug: &str) -> Result<Option<Arc<TenantContext>>, TenantError> {
        if let Some(t) = self.cached(slug).filter(|t| t.loaded_at.elapsed() < self.ttl) {
            return Ok(Some(t));
        }
        self.load(slug).await
    }

    /// The tenant if it exists and is active (disabled tenants refuse logins and tokens).
    ///
    /// # Errors
    /// Database failure or unusable keys.
    pub async fn get_active(&self, slug: &str) -> Result<Option<Arc<TenantContext>>, TenantError> {
        Ok(self.get(slug).await?.filter(|t| t.active))
    }

    /// Reloads a tenant whose token named a `kid` we do not know (a key rotated by another
    /// instance), at most once per second per tenant so forged `kid`s cannot flood the database.
    ///
    /// # Errors
    /// Database failure or unusable keys.
    pub async fn refresh_for_unknown_kid(
        &self,
        tenant: &TenantContext,
    ) -> Result<Option<Arc<TenantContext>>, TenantError> {
        if tenant.loaded_at.elapsed() < Duration::from_secs(1) {
            return Ok(None);
        }
        self.load(&tenant.slug).await
    }

    /// Forgets a tenant on this instance only; see [`TenantDirectory::changed`].
    pub fn invalidate(&self, slug: &str) {
        self.cache.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(slug);
    }

    pub fn invalidate_all(&self) {
        self.cache.write().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }

    /// A tenant's configuration or keys changed: forget it here and tell every other instance.
    /// If the message is lost, the others reload within the cache lifetime anyway.
    pub async fn changed(&self, kv: &crate::kv::Kv, slug: &str) {
        self.invalidate(slug);
        if let Err(e) = kv.publish(INVALIDATION_CHANNEL, slug).await {
            tracing::warn!(error = %e, tenant = slug, "could not publish a tenant invalidation");
        }
    }

    fn cached(&self, slug: &str) -> Option<Arc<TenantContext>> {
        self.cache.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(slug).cloned()
    }

    async fn load(&self, slug: &str) -> Result<Option<Arc<TenantContext>>, TenantError> {
        let Some(row) = store::tenants::find_by_slug(&self.db, slug).await? else {
            self.invalidate(slug);
            return Ok(None);
        };
        let mut keys = store::signing_keys::list(&self.db, row.id).await?;
        if !keys.iter().any(|k| k.status == "active" && k.purpose == KeyPurpose::IdToken.as_str()) {
            // Tenants from before ID tokens (or with one RS256 key for both) get their own
            // ID-token key on first use.
            let key =
                new_signing_key(&self.master_key, row.id, Algorithm::Rs256, KeyPurpose::IdToken, Utc::now())
                    .map_err(|e| TenantError::Keys(row.slug.clone(), e.to_string()))?;
            store::signing_keys::insert(&self.db, key).await?;
            keys = store::signing_keys::list(&self.db, row.id).await?;
        }
        let providers = store::providers::list_all(&self.db, row.id).await?;
        let strategies = Strategies::build(&providers, &self.master_key, &self.upstream);
        let ctx = Arc::new(self.build(row, keys, strategies)?);
        self.cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(slug.to_string(), ctx.clone());
        Ok(Some(ctx))
    }

    fn signer(&self, row: &entities::signing_keys::Model) -> Result<Signer, String> {
        let alg = Algorithm::parse(&row.algorithm).ok_or("unknown algorithm")?;
        let der = self.master_key.decrypt(&row.private_key, row.kid.as_bytes()).map_err(|e| e.to_string())?;
        Ok(Signer::new(row.kid.clone(), alg, &der))
    }

    fn build(
        &self,
        row: entities::tenants::Model,
        keys: Vec<entities::signing_keys::Model>,
        strategies: Strategies,
    ) -> Result<TenantContext, TenantError> {
        let key_err = |m: &str| TenantError::Keys(row.slug.clone(), m.to_string());
        let settings: TenantSettings = serde_json::from_value(row.settings.clone()).unwrap_or_default();
        let issuer = self.issuer(&row.slug);
        let audience = issuer.clone();
        let admin_audience = self.admin_audience();
        let now = Utc::now();
        let keys: Vec<_> = keys
            .into_iter()
            .filter(|k| k.retired_at.is_none_or(|r| r + self.retired_key_horizon > now))
            .collect();
        // Keys are newest first: the newest active key of a purpose (and algorithm) signs.
        let purpose_of = |k: &entities::signing_keys::Model| KeyPurpose::parse(&k.purpose);
        let active =
            |p: KeyPurpose| keys.iter().filter(move |k| k.status == "active" && purpose_of(k) == Some(p));
        let signer_row = active(KeyPurpose::Access)
            .find(|k| k.algorithm == settings.signing_algorithm)
            .or_else(|| active(KeyPurpose::Access).next())
            .ok_or_else(|| key_err("no active access-token key"))?;
        let signer = self.signer(signer_row).map_err(|e| key_err(&e))?;
        let id_token_row = active(KeyPurpose::IdToken)
            .find(|k| k.algorithm == "RS256")
            .ok_or_else(|| key_err("no active RS256 ID-token key"))?;
        let id_token_signer = self.signer(id_token_row).map_err(|e| key_err(&e))?;
        let mut verifiers = HashMap::new();
        let mut id_token_verifiers = HashMap::new();
        for k in &keys {
            let v = Verifier::new(
                &k.public_jwk,
                &issuer,
                &[audience.as_str(), admin_audience.as_str()],
                self.leeway,
            )
            .map_err(|e: TokenError| key_err(&e.to_string()))?;
            match purpose_of(k) {
                Some(KeyPurpose::Access) => verifiers.insert(k.kid.clone(), v),
                Some(KeyPurpose::IdToken) => id_token_verifiers.insert(k.kid.clone(), v),
                None => None,
            };
        }
        let jwks =
            serde_json::json!({ "keys": keys.iter().map(|k| k.public_jwk.clone()).collect::<Vec<_>>() });
        Ok(TenantContext {
            id: row.id,
            slug: row.slug,
            display_name: row.display_name,
            active: row.status == "active",
            settings,
            issuer,
            audience,
            admin_audience,
            signer,
            id_token_signer,
            verifiers,
            id_token_verifiers,
            jwks: Arc::new(jwks.to_string()),
            strategies,
            loaded_at: Instant::now(),
        })
    }
}

/// The keys a tenant signs with: one for access tokens in its algorithm, and an RS256 key for
/// ID tokens, which OpenID Connect requires every provider to offer. Always two keys, even
/// for RS256 tenants: each key signs one kind of token (RFC 8725 §3.12).
///
/// # Errors
/// Key generation failed.
pub fn new_signing_keys(
    master_key: &MasterKey,
    tenant_id: Uuid,
    algorithm: Algorithm,
    now: DateTime<Utc>,
) -> Result<Vec<entities::signing_keys::Model>, keys::KeyGenError> {
    Ok(vec![
        new_signing_key(master_key, tenant_id, algorithm, KeyPurpose::Access, now)?,
        new_signing_key(master_key, tenant_id, Algorithm::Rs256, KeyPurpose::IdToken, now)?,
    ])
}

/// A signing-key row for `tenant_id`, its private part sealed with the master key.
///
/// # Errors
/// Key generation failed.
pub fn new_signing_key(
    master_key: &MasterKey,
    tenant_id: Uuid,
    algorithm: Algorithm,
    purpose: KeyPurpose,
    now: DateTime<Utc>,
) -> Result<entities::signing_keys::Model, keys::KeyGenError> {
    let generated = keys::generate(algorithm)?;
    Ok(entities::signing_keys::Model {
        id: Uuid::now_v7(),
        tenant_id,
        private_key: master_key.encrypt(&generated.private_der, generated.kid.as_bytes()),
        kid: generated.kid,
        algorithm: algorithm.as_str().to_string(),
        public_jwk: generated.public_jwk,
        status: "active".into(),
        purpose: purpose.as_str().into(),
        created_at: now,
        retired_at: None,
    })
}

/// Creates `slug` unless it exists; safe when several instances start at once.
///
/// # Errors
/// Database failure or key generation failure.
pub async fn ensure_tenant(
    db: &DatabaseConnection,
    master_key: &MasterKey,
    slug: &str,
    display_name: &str,
    settings: TenantSettings,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if store::tenants::find_by_slug(db, slug).await?.is_some() {
        return Ok(());
    }
    let algorithm = Algorithm::parse(&settings.signing_algorithm).unwrap_or(Algorithm::Es256);
    let id = Uuid::now_v7();
    let tenant = entities::tenants::Model {
        id,
        slug: slug.to_string(),
        display_name: display_name.to_string(),
        status: "active".into(),
        settings: serde_json::to_value(&settings)?,
        created_at: now,
        updated_at: now,
    };
    let keys = new_signing_keys(master_key, id, algorithm, now)?;
    match store::tenants::create(db, tenant, keys, store::providers::local_provider(id, now)).await {
        Ok(_) => {
            tracing::info!(tenant = slug, "created tenant");
            Ok(())
        }
        Err(store::tenants::CreateTenantError::SlugTaken) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
