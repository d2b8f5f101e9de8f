//! Login strategies, the passport.js idea: one [`Strategy`] trait, one module per kind, and a
//! per-tenant [`Strategies`] registry built from the tenant's provider rows. The registry lives
//! on the cached tenant, so an admin's change (which invalidates the tenant on every instance
//! through Redis) rebuilds it everywhere without a restart.
//!
//! This module only talks to providers (and holds the shared [`Upstream`] client); what a
//! verified identity means for our users (linking, sessions, audit) is `crate::strategy`.
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use chrono::Utc;
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{
    config::UpstreamSettings,
    crypto::MasterKey,
    domain::{ValidationError, email::Email},
    store::{entities::providers, providers::LOCAL},
};

pub mod egress;
pub mod email;
pub mod http;
pub mod local;
pub mod oauth2;
pub mod oidc;
mod presets;

/// What Gatehouse reads from a discovery document beyond the core fields.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
pub struct ExtraMetadata {
    /// RFC 9207: the issuer puts `iss` in every authorization response.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

impl openidconnect::AdditionalProviderMetadata for ExtraMetadata {}

/// An issuer's discovery document.
pub type ProviderMetadata = openidconnect::ProviderMetadata<
    ExtraMetadata,
    openidconnect::core::CoreAuthDisplay,
    openidconnect::core::CoreClientAuthMethod,
    openidconnect::core::CoreClaimName,
    openidconnect::core::CoreClaimType,
    openidconnect::core::CoreGrantType,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJweKeyManagementAlgorithm,
    openidconnect::core::CoreJsonWebKey,
    openidconnect::core::CoreResponseMode,
    openidconnect::core::CoreResponseType,
    openidconnect::core::CoreSubjectIdentifierType,
>;

/// Every kind an admin can configure: the two generic protocols and the presets that fill
/// them in.
pub const KINDS: [&str; 8] =
    [LOCAL, "oidc", "oauth2", "google", "github", "microsoft", "gitlab", email::EMAIL];

/// What identifies a configured provider.
#[derive(Debug, Clone)]
pub struct ProviderInfo {
    /// The provider row: identities link to it, so a provider deleted and created again is a
    /// new provider.
    pub row_id: Uuid,
    pub provider_id: String,
    pub kind: String,
    pub display_name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Checks a username and password itself.
    pub password: bool,
    /// Sends the browser to an upstream provider and back.
    pub redirect: bool,
}

/// The parts of an upstream authorization request that Gatehouse generates and keeps.
pub struct Begin<'a> {
    pub state: &'a str,
    pub nonce: &'a str,
    pub pkce_verifier: &'a str,
    /// Our callback URL for this provider.
    pub redirect_uri: &'a str,
}

/// What the upstream sent back to our callback, with what `begin` generated for it.
pub struct Callback<'a> {
    pub code: &'a str,
    /// The authorization response's `iss` (RFC 9207), when it carried one.
    pub iss: Option<&'a str>,
    pub nonce: &'a str,
    pub pkce_verifier: &'a str,
    pub redirect_uri: &'a str,
}

/// An upstream account after claim mapping.
#[derive(Debug, Clone)]
pub struct ExternalIdentity {
    pub subject: String,
    pub username: Option<String>,
    /// Lower-case; `None` when absent or not an email address.
    pub email: Option<String>,
    /// Only `true` when the upstream said so explicitly.
    pub email_verified: bool,
    pub name: Option<String>,
    pub picture: Option<String>,
    /// The mapped claims, stored on the identity.
    pub claims: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider could not be reached in time or answered with something unusable.
    #[error("the provider did not answer usefully: {0}")]
    Upstream(String),
    /// The provider answered, but its answer failed verification (signature, nonce, issuer...).
    #[error("the provider's answer was rejected: {0}")]
    Rejected(String),
    #[error("this provider does not sign users in this way")]
    Unsupported,
}

/// A URL a strategy calls, with the configuration field it comes from.
pub type Endpoint = (&'static str, url::Url);

#[async_trait::async_trait]
pub trait Strategy: Send + Sync {
    fn info(&self) -> &ProviderInfo;

    /// The configured URLs this strategy calls (a discovery document may name more; those
    /// are checked when called).
    fn endpoints(&self) -> Vec<Endpoint> {
        Vec::new()
    }

    fn capabilities(&self) -> Capabilities;

    /// Its settings if it signs users in by a mailed link or code (`email`).
    fn email_sign_in(&self) -> Option<&email::EmailSignInConfig> {
        None
    }

    /// The upstream authorization URL to send the browser to.
    ///
    /// # Errors
    /// The upstream cannot be reached (discovery), or the strategy has no redirect step.
    async fn begin(&self, _upstream: &Upstream, _begin: &Begin<'_>) -> Result<String, ProviderError> {
        Err(ProviderError::Unsupported)
    }

    /// Exchanges the callback's code and says which upstream account it belongs to.
    ///
    /// # Errors
    /// A rejected or failed upstream exchange, or a strategy with no redirect step.
    async fn complete(
        &self,
        _upstream: &Upstream,
        _callback: Callback<'_>,
    ) -> Result<ExternalIdentity, ProviderError> {
        Err(ProviderError::Unsupported)
    }
}

/// The enabled strategies of one tenant, in display order.
#[derive(Default)]
pub struct Strategies {
    list: Vec<Arc<dyn Strategy>>,
}

impl Strategies {
    /// Builds every enabled provider; one that cannot be built (its configuration no longer
    /// validates, or its secrets do not open) is left out and logged, never fatal to the tenant.
    pub fn build(rows: &[providers::Model], master_key: &MasterKey, settings: &UpstreamSettings) -> Self {
        let list = rows
            .iter()
            .filter(|r| r.enabled)
            .filter_map(|row| {
                let secrets = match crate::store::providers::open_secrets(master_key, row) {
                    Ok(s) => s,
                    Err(_) => {
                        tracing::error!(provider = %row.provider_id, "provider secrets do not open with this master key");
                        return None;
                    }
                };
                match from_row(row, &secrets, settings) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        tracing::error!(provider = %row.provider_id, error = %e.message, "provider left out");
                        None
                    }
                }
            })
            .collect();
        Self { list }
    }

    pub fn get(&self, provider_id: &str) -> Option<&Arc<dyn Strategy>> {
        self.list.iter().find(|s| s.info().provider_id == provider_id)
    }

    /// The password strategy, when enabled.
    pub fn password(&self) -> Option<&Arc<dyn Strategy>> {
        self.list.iter().find(|s| s.capabilities().password)
    }

    /// The mailed-link-or-code strategy and its settings, when the tenant enabled one.
    pub fn email_sign_in(&self) -> Option<&email::EmailSignInConfig> {
        self.list.iter().find_map(|s| s.email_sign_in())
    }

    /// The strategies that sign in through an upstream provider.
    pub fn external(&self) -> impl Iterator<Item = &Arc<dyn Strategy>> {
        self.list.iter().filter(|s| s.capabilities().redirect)
    }
}

/// Validates a provider configuration the way the registry will build it, so the admin API
/// refuses what could not work.
///
/// Returns the URLs the provider will call, for [`check_endpoints`].
///
/// # Errors
/// The first problem, named by its field.
pub fn validate(
    kind: &str,
    config: &Value,
    secrets: &BTreeMap<String, String>,
    settings: &UpstreamSettings,
) -> Result<Vec<Endpoint>, ValidationError> {
    let row = providers::Model {
        id: Uuid::nil(),
        tenant_id: Uuid::nil(),
        provider_id: "validation".into(),
        kind: kind.into(),
        display_name: String::new(),
        enabled: true,
        position: 0,
        config: config.clone(),
        secret_enc: None,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    };
    from_row(&row, secrets, settings).map(|s| s.endpoints())
}

/// Resolves the host of every endpoint and refuses one that reaches an internal address
/// (`egress::check_resolved`); configuring a provider calls this after [`validate`].
///
/// # Errors
/// The first endpoint at fault, named by its field.
pub async fn check_endpoints(
    endpoints: &[Endpoint],
    settings: &UpstreamSettings,
) -> Result<(), ValidationError> {
    let timeout = Duration::from_millis(settings.connect_timeout_ms);
    for (field, url) in endpoints {
        egress::check_resolved(url, &settings.allowed_internal_hosts, timeout)
            .await
            .map_err(|why| ValidationError::new(field, why))?;
    }
    Ok(())
}

fn from_row(
    row: &providers::Model,
    secrets: &BTreeMap<String, String>,
    settings: &UpstreamSettings,
) -> Result<Arc<dyn Strategy>, ValidationError> {
    let info = ProviderInfo {
        row_id: row.id,
        provider_id: row.provider_id.clone(),
        kind: row.kind.clone(),
        display_name: row.display_name.clone(),
    };
    let config = row.config.as_object().cloned().unwrap_or_default();
    let (protocol, config) = presets::expand(&row.kind, config, secrets)?;
    let secret = secrets.get("client_secret").cloned();
    Ok(match protocol {
        LOCAL => Arc::new(local::Local { info }),
        email::EMAIL => Arc::new(email::EmailSignIn::new(info, parse(config)?)?),
        "oidc" => Arc::new(oidc::Oidc::new(info, parse(config)?, secret, settings)?),
        "oauth2" => Arc::new(oauth2::OAuth2::new(info, parse(config)?, secret, settings)?),
        other => {
            return Err(ValidationError::new(
                "kind",
                format!("{other:?} is not a kind; use one of {KINDS:?}"),
            ));
        }
    })
}

fn parse<T: for<'de> Deserialize<'de>>(config: Map<String, Value>) -> Result<T, ValidationError> {
    serde_json::from_value(Value::Object(config))
        .map_err(|e| ValidationError::new("configuration", e.to_string()))
}

/// A provider URL: https, or http on a loopback host when the deployment allows it; never
/// an internal address unless `upstream.allowed_internal_hosts` lists it.
fn provider_url(
    field: &'static str,
    raw: &str,
    settings: &UpstreamSettings,
) -> Result<url::Url, ValidationError> {
    let bad = |why: &str| ValidationError::new(field, why.to_string());
    let url = url::Url::parse(raw).map_err(|_| bad("must be an absolute URL"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback && settings.allow_http_loopback => {}
        _ => return Err(bad("must be an https URL")),
    }
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry a fragment or credentials"));
    }
    egress::check_literal(&url, &settings.allowed_internal_hosts).map_err(|why| bad(&why))?;
    Ok(url)
}

/// Which upstream claim (a dotted path into the JSON the provider returns) fills which field.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimMap {
    pub subject: Option<String>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<String>,
    pub name: Option<String>,
    pub picture: Option<String>,
}

fn lookup<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(claims, |v, key| v.get(key))
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl ClaimMap {
    /// Maps upstream claims; `default_subject` names the subject claim when the map does not.
    ///
    /// # Errors
    /// The upstream gave no usable subject.
    pub fn apply(&self, claims: &Value, default_subject: &str) -> Result<ExternalIdentity, ProviderError> {
        let get = |configured: &Option<String>, default: &str| {
            lookup(claims, configured.as_deref().unwrap_or(default)).and_then(text)
        };
        let subject = get(&self.subject, default_subject)
            .filter(|s| s.len() <= 255)
            .ok_or_else(|| ProviderError::Upstream("the provider's answer has no usable subject".into()))?;
        let username = get(&self.username, "preferred_username")
            .or_else(|| self.username.is_none().then(|| lookup(claims, "nickname").and_then(text)).flatten());
        let email =
            get(&self.email, "email").and_then(|e| Email::parse(&e).ok()).map(|e| e.as_str().to_string());
        let verified = lookup(claims, self.email_verified.as_deref().unwrap_or("email_verified"));
        let email_verified = email.is_some()
            && matches!(verified, Some(Value::Bool(true)))
                | matches!(verified, Some(Value::String(s)) if s == "true");
        let name = get(&self.name, "name");
        let picture = get(&self.picture, "picture").filter(|p| p.starts_with("https://") && p.len() <= 2048);
        let mapped = serde_json::json!({
            "sub": subject, "username": username, "email": email, "email_verified": email_verified,
            "name": name, "picture": picture,
        });
        Ok(ExternalIdentity { subject, username, email, email_verified, name, picture, claims: mapped })
    }
}

/// Shared plumbing for calls to providers: one HTTP client (bounded in time and size, no
/// redirects) and the issuers' discovery documents, kept across tenant reloads.
pub struct Upstream {
    pub http: http::HttpClient,
    discovery_ttl: Duration,
    discovered: RwLock<HashMap<String, (Arc<ProviderMetadata>, Instant)>>,
}

impl Upstream {
    /// # Errors
    /// The HTTP client cannot be built (TLS roots).
    pub fn new(settings: &UpstreamSettings) -> anyhow::Result<Self> {
        Ok(Self {
            http: http::HttpClient::new(settings)?,
            discovery_ttl: Duration::from_secs(settings.discovery_ttl_secs),
            discovered: RwLock::new(HashMap::new()),
        })
    }

    /// An issuer's metadata and keys, from memory unless stale or `refresh` is asked for.
    ///
    /// # Errors
    /// Discovery failed: the issuer is unreachable, slow, or its document is invalid.
    pub async fn metadata(
        &self,
        issuer: &str,
        refresh: bool,
    ) -> Result<Arc<ProviderMetadata>, ProviderError> {
        if !refresh {
            let cached = self
                .discovered
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(issuer)
                .cloned();
            if let Some((m, _)) = cached.filter(|(_, at)| at.elapsed() < self.discovery_ttl) {
                return Ok(m);
            }
        }
        let url = openidconnect::IssuerUrl::new(issuer.to_string())
            .map_err(|e| ProviderError::Upstream(format!("issuer URL: {e}")))?;
        let metadata = ProviderMetadata::discover_async(url, &self.http).await.map_err(|e| {
            ProviderError::Upstream(format!("discovery at {issuer} failed: {}", error_chain(&e)))
        })?;
        let metadata = Arc::new(metadata);
        self.discovered
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(issuer.to_string(), (metadata.clone(), Instant::now()));
        Ok(metadata)
    }
}

/// An error with its causes, for logs and pages shown to admins; never carries secrets (the
/// HTTP client's errors name URLs, not bodies or headers).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn claims_map_with_defaults_and_dotted_paths() {
        let claims = json!({"sub": "abc", "preferred_username": "Ann", "email": "Ann@Example.com",
            "email_verified": true, "profile": {"pic": "https://img.example/a.png"}});
        let map = ClaimMap { picture: Some("profile.pic".into()), ..ClaimMap::default() };
        let id = map.apply(&claims, "sub").unwrap();
        assert_eq!(id.subject, "abc");
        assert_eq!(id.username.as_deref(), Some("Ann"));
        assert_eq!(id.email.as_deref(), Some("ann@example.com"));
        assert!(id.email_verified);
        assert_eq!(id.picture.as_deref(), Some("https://img.example/a.png"));
    }

    #[test]
    fn email_is_verified_only_when_the_upstream_says_so() {
        for claims in [
            json!({"id": 7, "email": "a@example.com"}),
            json!({"id": 7, "email": "a@example.com", "email_verified": false}),
            json!({"id": 7, "email": "a@example.com", "email_verified": "yes"}),
            json!({"id": 7, "email_verified": true}),
        ] {
            let id = ClaimMap::default().apply(&claims, "id").unwrap();
            assert_eq!(id.subject, "7");
            assert!(!id.email_verified, "{claims}");
        }
        assert!(ClaimMap::default().apply(&json!({"email": "a@example.com"}), "sub").is_err());
    }

    #[test]
    fn provider_urls_are_https_unless_loopback_is_allowed() {
        let strict = UpstreamSettings::default();
        let dev = UpstreamSettings {
            allow_http_loopback: true,
            allowed_internal_hosts: crate::config::InternalHosts::parse(["127.0.0.1".to_string()]).unwrap(),
            ..UpstreamSettings::default()
        };
        let check = |raw: &str, s: &UpstreamSettings| provider_url("configuration.issuer", raw, s).is_ok();
        assert!(check("https://accounts.google.com", &strict));
        assert!(!check("http://127.0.0.1:9000", &strict));
        assert!(check("http://127.0.0.1:9000", &dev));
        assert!(!check("http://idp.example.com", &dev));
        assert!(!check("https://user:pw@idp.example.com", &dev));
        assert!(!check("not a url", &dev));
    }
}
