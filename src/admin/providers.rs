//! Login providers of a tenant: which strategies its users log in with, in which order, with
//! their configuration and write-only secrets. Every change invalidates the tenant everywhere,
//! because login strategies are built from these rows.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{Admin, Page, fetch_size, page};
use crate::{
    error::ApiError,
    state::AppState,
    store::{
        self,
        entities::providers,
        providers::{InsertProviderError, LOCAL, ProviderFilter},
    },
    tenancy::TenantContext,
};

const MAX_POSITION: i32 = 10_000;
const MAX_CONFIG_BYTES: usize = 16 * 1024;
const MAX_SECRETS: usize = 32;
const MAX_SECRET_BYTES: usize = 8 * 1024;
const MAX_SECRETS_BYTES: usize = 16 * 1024;
/// Configuration keys that hold secrets in every provider we know of: configuration is
/// returned by the API and stored in plain text, so these belong in `secrets`.
const SECRET_LOOKING_KEYS: [&str; 5] = ["client_secret", "secret", "password", "private_key", "api_key"];

pub struct NewProviderInput {
    pub provider_id: String,
    pub kind: String,
    pub display_name: String,
    pub enabled: bool,
    /// Defaults to 0; equal positions are ordered by creation.
    pub position: Option<i32>,
    pub configuration: Map<String, Value>,
    pub secrets: BTreeMap<String, String>,
}

/// A provider row with the names (never the values) of its secrets.
pub struct Provider {
    pub row: providers::Model,
    pub secret_keys: Vec<String>,
    /// The redirect URI to register at the upstream provider (none for `local`).
    pub callback_url: Option<String>,
}

fn callback_url(tenant: &TenantContext, row: &providers::Model) -> Option<String> {
    (row.kind != LOCAL && row.kind != crate::upstream::email::EMAIL)
        .then(|| crate::strategy::flow::callback_url(tenant, &row.provider_id))
}

/// Changes to a provider; `None` keeps a value. Kind and `provider_id` never change.
#[derive(Default)]
pub struct ProviderChanges {
    pub display_name: Option<String>,
    pub enabled: Option<bool>,
    pub position: Option<i32>,
    /// Replaces the whole configuration.
    pub configuration: Option<Map<String, Value>>,
    /// Merged into the stored secrets: a value sets a secret, `None` removes it.
    pub secrets: Option<BTreeMap<String, Option<String>>>,
}

/// 1-64 lower-case letters, digits, `-` and `_`, starting with a letter or digit: it appears
/// in login and callback URLs.
pub fn valid_provider_id(id: &str) -> bool {
    id.len() <= 64
        && id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'))
}

fn validate_kind(kind: &str) -> Result<(), ApiError> {
    if crate::strategy::KINDS.contains(&kind) {
        Ok(())
    } else {
        Err(ApiError::validation("kind", format!("must be one of {}", crate::strategy::KINDS.join(", "))))
    }
}

/// Builds the strategy the registry would build, so a configuration that cannot work is
/// refused here with the field at fault rather than left out at login time; and refuses URLs
/// whose hosts resolve to internal addresses.
async fn validate_strategy(
    state: &AppState,
    kind: &str,
    config: &Value,
    secrets: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    let settings = &state.settings.upstream;
    let endpoints = crate::strategy::validate(kind, config, secrets, settings)?;
    crate::strategy::check_endpoints(&endpoints, settings).await?;
    Ok(())
}

fn validate_display_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::validation("display_name", "must be 1 to 200 characters"));
    }
    Ok(name.to_string())
}

fn validate_position(position: i32) -> Result<i32, ApiError> {
    if !(0..=MAX_POSITION).contains(&position) {
        return Err(ApiError::validation("position", format!("must be between 0 and {MAX_POSITION}")));
    }
    Ok(position)
}

fn validate_configuration(config: Map<String, Value>) -> Result<Value, ApiError> {
    if let Some(k) = config.keys().find(|k| SECRET_LOOKING_KEYS.contains(&k.to_ascii_lowercase().as_str())) {
        return Err(ApiError::validation(
            "configuration",
            format!("{k:?} looks like a secret: configuration is readable, put it in secrets"),
        ));
    }
    let config = Value::Object(config);
    if config.to_string().len() > MAX_CONFIG_BYTES {
        return Err(ApiError::validation("configuration", "must be at most 16 KiB of JSON"));
    }
    Ok(config)
}

fn validate_secret(key: &str, value: Option<&str>) -> Result<(), ApiError> {
    let key_ok = !key.is_empty()
        && key.len() <= 64
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !key_ok {
        let shown: String = key.chars().take(64).collect();
        return Err(ApiError::validation(
            "secrets",
            format!("{shown:?} is not a secret name: 1-64 letters, digits, _ - ."),
        ));
    }
    if value.is_some_and(|v| v.is_empty() || v.len() > MAX_SECRET_BYTES) {
        return Err(ApiError::validation(
            "secrets",
            format!("the value of {key} must be 1 to {MAX_SECRET_BYTES} bytes (null removes it)"),
        ));
    }
    Ok(())
}

fn validate_secrets(secrets: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if secrets.len() > MAX_SECRETS {
        return Err(ApiError::validation("secrets", format!("at most {MAX_SECRETS} secrets")));
    }
    let total: usize = secrets.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_SECRETS_BYTES {
        return Err(ApiError::validation("secrets", "must be at most 16 KiB in total"));
    }
    Ok(())
}

fn with_keys(state: &AppState, tenant: &TenantContext, row: providers::Model) -> Result<Provider, ApiError> {
    let secrets = store::providers::open_secrets(&state.master_key, &row).map_err(ApiError::internal)?;
    Ok(Provider { secret_keys: secrets.into_keys().collect(), callback_url: callback_url(tenant, &row), row })
}

/// Adds a provider. A tenant has exactly one local provider (created with the tenant), so a
/// second one is a conflict.
///
/// # Errors
/// 400 for invalid input (unknown kinds, configurations that cannot work), 409 for a taken `provider_id`
/// or a second local provider.
pub async fn create(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    input: NewProviderInput,
    now: DateTime<Utc>,
) -> Result<Provider, ApiError> {
    if !valid_provider_id(&input.provider_id) {
        return Err(ApiError::validation(
            "provider_id",
            "must be 1-64 lower-case letters, digits, - or _, starting with a letter or digit",
        ));
    }
    validate_kind(&input.kind)?;
    let display_name = validate_display_name(&input.display_name)?;
    let position = validate_position(input.position.unwrap_or(0))?;
    let config = validate_configuration(input.configuration)?;
    for (k, v) in &input.secrets {
        validate_secret(k, Some(v))?;
    }
    validate_secrets(&input.secrets)?;
    validate_strategy(state, &input.kind, &config, &input.secrets).await?;
    if input.kind == LOCAL {
        if store::providers::find_by_kind(&state.db, tenant.id, LOCAL).await?.is_some() {
            return Err(ApiError::conflict(
                "local_provider_exists",
                "this tenant already has its local provider; update that one instead",
            ));
        }
        if input.provider_id != LOCAL {
            return Err(ApiError::validation("provider_id", "the local provider's provider_id is local"));
        }
    }
    let id = uuid::Uuid::now_v7();
    let row = providers::Model {
        id,
        tenant_id: tenant.id,
        provider_id: input.provider_id,
        kind: input.kind,
        display_name,
        enabled: input.enabled,
        position,
        config,
        secret_enc: store::providers::seal_secrets(&state.master_key, tenant.id, id, &input.secrets),
        created_at: now,
        updated_at: now,
    };
    let row = match store::providers::insert(&state.db, row).await {
        Ok(r) => r,
        Err(InsertProviderError::ProviderIdTaken) => {
            return Err(ApiError::conflict("provider_exists", "a provider with this provider_id exists"));
        }
        Err(InsertProviderError::Store(e)) => return Err(e.into()),
    };
    state.tenants.changed(&state.kv, &tenant.slug).await;
    let secret_keys: Vec<String> = input.secrets.into_keys().collect();
    let details = json!({ "kind": row.kind, "secret_keys": secret_keys });
    record(state, admin, tenant, "provider.created", &row.provider_id, details, now).await;
    Ok(Provider { callback_url: callback_url(tenant, &row), row, secret_keys })
}

/// # Errors
/// 400 for a bad cursor; infrastructure failures.
pub async fn list(
    state: &AppState,
    tenant: &TenantContext,
    filter: ProviderFilter,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Page<Provider>, ApiError> {
    let after = cursor.map(parse_cursor).transpose()?;
    let fetched = fetch_size(limit);
    let rows = store::providers::list(&state.replica, tenant.id, &filter, after, fetched).await?;
    let mut p = page(rows, fetched, |r| r.id);
    if p.next_cursor.is_some() {
        p.next_cursor = p.items.last().map(|r| format!("{}:{}", r.position, r.id));
    }
    let items = p.items.into_iter().map(|r| with_keys(state, tenant, r)).collect::<Result<_, _>>()?;
    Ok(Page { items, next_cursor: p.next_cursor })
}

/// Cursors are `position:id` of the last item, since the list is ordered by both.
fn parse_cursor(cursor: &str) -> Result<(i32, uuid::Uuid), ApiError> {
    cursor
        .split_once(':')
        .and_then(|(p, id)| Some((p.parse().ok()?, uuid::Uuid::parse_str(id).ok()?)))
        .ok_or_else(|| ApiError::validation("cursor", "is not a cursor from a previous page"))
}

async fn find(
    state: &AppState,
    tenant: &TenantContext,
    provider_id: &str,
) -> Result<providers::Model, ApiError> {
    store::providers::find(&state.db, tenant.id, provider_id)
        .await?
        .ok_or_else(|| ApiError::not_found("provider_not_found", "no such provider in this tenant"))
}

/// # Errors
/// 404 when the provider is not in this tenant.
pub async fn get(state: &AppState, tenant: &TenantContext, provider_id: &str) -> Result<Provider, ApiError> {
    with_keys(state, tenant, find(state, tenant, provider_id).await?)
}

/// Applies changes; secrets are merged into the stored ones and sealed again.
///
/// # Errors
/// 404 for an unknown provider, 400 for invalid values (nothing is stored then).
pub async fn update(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    provider_id: &str,
    changes: ProviderChanges,
    now: DateTime<Utc>,
) -> Result<Provider, ApiError> {
    let mut row = find(state, tenant, provider_id).await?;
    let mut changed = Vec::new();
    if let Some(v) = changes.display_name {
        row.display_name = validate_display_name(&v)?;
        changed.push("display_name");
    }
    if let Some(v) = changes.enabled {
        row.enabled = v;
        changed.push("enabled");
    }
    if let Some(v) = changes.position {
        row.position = validate_position(v)?;
        changed.push("position");
    }
    if let Some(v) = changes.configuration {
        row.config = validate_configuration(v)?;
        changed.push("configuration");
    }
    let mut secrets = store::providers::open_secrets(&state.master_key, &row).map_err(ApiError::internal)?;
    let mut secrets_changed: Vec<&str> = Vec::new();
    if let Some(patch) = &changes.secrets {
        for (k, v) in patch {
            validate_secret(k, v.as_deref())?;
            match v {
                Some(v) => secrets.insert(k.clone(), v.clone()),
                None => secrets.remove(k),
            };
            secrets_changed.push(k);
        }
        validate_secrets(&secrets)?;
        row.secret_enc = store::providers::seal_secrets(&state.master_key, tenant.id, row.id, &secrets);
        changed.push("secrets");
    }
    validate_strategy(state, &row.kind, &row.config, &secrets).await?;
    row.updated_at = now;
    let row = store::providers::update(&state.db, row).await?;
    state.tenants.changed(&state.kv, &tenant.slug).await;
    let details =
        json!({ "fields": changed, "secret_keys_changed": secrets_changed, "enabled": row.enabled });
    record(state, admin, tenant, "provider.updated", provider_id, details, now).await;
    Ok(Provider { callback_url: callback_url(tenant, &row), row, secret_keys: secrets.into_keys().collect() })
}

/// Deletes a provider. The local provider stays (disable it instead), so a tenant always has
/// exactly one.
///
/// # Errors
/// 404 for an unknown provider, 409 for the local provider.
pub async fn delete(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    provider_id: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let row = find(state, tenant, provider_id).await?;
    if row.kind == LOCAL {
        return Err(ApiError::conflict(
            "local_provider_required",
            "the local provider cannot be deleted; disable it instead",
        ));
    }
    store::providers::delete(&state.db, tenant.id, row.id).await?;
    state.tenants.changed(&state.kv, &tenant.slug).await;
    record(state, admin, tenant, "provider.deleted", provider_id, json!({ "kind": row.kind }), now).await;
    Ok(())
}

async fn record(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    event_type: &str,
    provider_id: &str,
    details: Value,
    now: DateTime<Utc>,
) {
    super::record_change(
        state,
        admin,
        tenant.id,
        event_type,
        format!("provider:{provider_id}"),
        None,
        details,
        now,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_ids_are_url_safe_slugs() {
        for ok in ["local", "github", "corp-sso", "a_b", "0", &"a".repeat(64)] {
            assert!(valid_provider_id(ok), "{ok}");
        }
        for bad in ["", "-x", "_x", "GitHub", "a b", "a/b", "a.b", &"a".repeat(65)] {
            assert!(!valid_provider_id(bad), "{bad}");
        }
    }

    #[test]
    fn unknown_kinds_are_refused_with_the_list() {
        for kind in ["local", "oidc", "oauth2", "google", "github", "microsoft", "gitlab"] {
            assert!(validate_kind(kind).is_ok(), "{kind}");
        }
        let ApiError::BadRequest(p) = validate_kind("saml").unwrap_err() else { panic!() };
        assert_eq!(p.0.field.as_deref(), Some("kind"));
        assert!(p.0.detail.contains("oidc"), "{}", p.0.detail);
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = uuid::Uuid::now_v7();
        assert_eq!(parse_cursor(&format!("7:{id}")).unwrap(), (7, id));
        for bad in ["", "7", "x:y", &id.to_string(), &format!("a:{id}")] {
            assert!(parse_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn configuration_is_bounded_and_refuses_secret_looking_keys() {
        let obj = |v: Value| v.as_object().cloned().unwrap();
        assert!(validate_configuration(obj(json!({"issuer": "https://idp.example"}))).is_ok());
        assert!(validate_configuration(obj(json!({"Client_Secret": "x"}))).is_err());
        assert!(validate_configuration(obj(json!({"blob": "x".repeat(MAX_CONFIG_BYTES)}))).is_err());
    }
}
