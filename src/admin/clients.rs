//! Client apps of a tenant: their redirect URIs, grants, scopes and token lifetimes, and the
//! secret of confidential clients, shown once and stored only as a keyed hash.
use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Admin, Page, fetch_size, page, parse_cursor};
use crate::{
    crypto,
    domain::redirect_uri,
    error::ApiError,
    state::AppState,
    store::{
        self,
        clients::{ClientFilter, SECRET_PURPOSE},
        entities::clients,
    },
    tenancy::TenantContext,
};

pub const PUBLIC: &str = "public";
pub const CONFIDENTIAL: &str = "confidential";
pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];
/// Grants a client gets when the admin names none.
pub const DEFAULT_GRANT_TYPES: [&str; 2] = ["authorization_code", "refresh_token"];
/// Scopes a client gets when the admin names none.
pub const DEFAULT_SCOPES: [&str; 1] = ["openid"];
/// Prefix of client secrets, so secret scanners recognise leaked ones.
const SECRET_PREFIX: &str = "ghs_";
const MAX_URIS: usize = 20;
const MAX_SCOPES: usize = 50;
const MIN_ACCESS_TTL: u64 = 60;
const MIN_REFRESH_TTL: u64 = 300;
const MAX_REFRESH_TTL: u64 = 366 * 24 * 3600;

pub struct NewClientInput {
    pub name: String,
    /// `public` or `confidential`.
    pub client_type: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Empty: [`DEFAULT_GRANT_TYPES`].
    pub grant_types: Vec<String>,
    /// Empty: [`DEFAULT_SCOPES`].
    pub scopes: Vec<String>,
    pub access_token_ttl_secs: Option<u64>,
    pub refresh_token_ttl_secs: Option<u64>,
    pub enabled: bool,
    /// `false` exempts a legacy confidential client from PKCE.
    pub pkce_required: bool,
    /// Every sign-in this client starts must pass a second factor.
    pub require_second_factor: bool,
}

/// A client and, right after creation or rotation, its secret in plain text: the only moment
/// the secret exists outside the caller.
pub struct ClientWithSecret {
    pub client: clients::Model,
    pub secret: Option<String>,
}

/// The settings of a client, validated together because they depend on each other.
struct ClientFields {
    name: String,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    grant_types: Vec<String>,
    scopes: Vec<String>,
    access_token_ttl_secs: Option<u64>,
    refresh_token_ttl_secs: Option<u64>,
    pkce_required: bool,
}

/// Checks a client row that did not come through this API (an imported tenant) with the same
/// rules as a create.
///
/// # Errors
/// The first invalid field.
pub fn check_stored(client: &clients::Model, max_access_ttl: u64) -> Result<(), ApiError> {
    if !matches!(client.client_type.as_str(), PUBLIC | "confidential") {
        return Err(ApiError::validation("client_type", "must be public or confidential"));
    }
    ClientFields::of(client).validate(&client.client_type, max_access_ttl).map(|_| ())
}

impl ClientFields {
    fn of(c: &clients::Model) -> Self {
        let strings =
            |v: &serde_json::Value| serde_json::from_value::<Vec<String>>(v.clone()).unwrap_or_default();
        Self {
            name: c.name.clone(),
            redirect_uris: strings(&c.redirect_uris),
            post_logout_redirect_uris: strings(&c.post_logout_redirect_uris),
            grant_types: strings(&c.grant_types),
            scopes: strings(&c.scopes),
            access_token_ttl_secs: c.access_token_ttl_secs.and_then(|v| u64::try_from(v).ok()),
            refresh_token_ttl_secs: c.refresh_token_ttl_secs.and_then(|v| u64::try_from(v).ok()),
            pkce_required: c.pkce_required,
        }
    }

    /// Checks every field, trims the name and drops duplicates (keeping the first).
    fn validate(mut self, client_type: &str, max_access_ttl: u64) -> Result<Self, ApiError> {
        self.name = self.name.trim().to_string();
        if self.name.is_empty() || self.name.chars().count() > 200 {
            return Err(ApiError::validation("name", "must be 1 to 200 characters"));
        }
        self.redirect_uris = uris("redirect_uris", self.redirect_uris)?;
        self.post_logout_redirect_uris = uris("post_logout_redirect_uris", self.post_logout_redirect_uris)?;
        self.grant_types = dedup(self.grant_types);
        if self.grant_types.is_empty() {
            return Err(ApiError::validation("grant_types", "at least one grant type is needed"));
        }
        if let Some(g) = self.grant_types.iter().find(|g| !GRANT_TYPES.contains(&g.as_str())) {
            return Err(ApiError::validation(
                "grant_types",
                format!("{g:?} is not one of authorization_code, refresh_token, client_credentials"),
            ));
        }
        let has = |g: &str| self.grant_types.iter().any(|x| x == g);
        // A public client cannot keep a secret, so it cannot authenticate as itself.
        if client_type == PUBLIC && has("client_credentials") {
            return Err(ApiError::validation("grant_types", "public clients cannot use client_credentials"));
        }
        // RFC 9700 section 2.1.1: a public client has nothing else binding a code to itself.
        if client_type == PUBLIC && !self.pkce_required {
            return Err(ApiError::validation(
                "pkce_required",
                "only confidential clients may opt out of PKCE",
            ));
        }
        if has("authorization_code") && self.redirect_uris.is_empty() {
            return Err(ApiError::validation(
                "redirect_uris",
                "at least one redirect URI is needed for the authorization_code grant",
            ));
        }
        self.scopes = dedup(self.scopes);
        if self.scopes.len() > MAX_SCOPES {
            return Err(ApiError::validation("scopes", format!("at most {MAX_SCOPES} scopes")));
        }
        if let Some(s) = self.scopes.iter().find(|s| !valid_scope(s)) {
            return Err(ApiError::validation(
                "scopes",
                format!("{s:?} is not a scope: 1-64 of a-z 0-9 : . _ - starting with a letter"),
            ));
        }
        if self.access_token_ttl_secs.is_some_and(|t| !(MIN_ACCESS_TTL..=max_access_ttl).contains(&t)) {
            return Err(ApiError::validation(
                "access_token_ttl_secs",
                format!("must be between {MIN_ACCESS_TTL} and {max_access_ttl}"),
            ));
        }
        if self.refresh_token_ttl_secs.is_some_and(|t| !(MIN_REFRESH_TTL..=MAX_REFRESH_TTL).contains(&t)) {
            return Err(ApiError::validation(
                "refresh_token_ttl_secs",
                format!("must be between {MIN_REFRESH_TTL} and {MAX_REFRESH_TTL} (366 days)"),
            ));
        }
        Ok(self)
    }

    fn write(self, c: &mut clients::Model) {
        c.name = self.name;
        c.redirect_uris = json!(self.redirect_uris);
        c.post_logout_redirect_uris = json!(self.post_logout_redirect_uris);
        c.grant_types = json!(self.grant_types);
        c.scopes = json!(self.scopes);
        // Validated bounds fit an i64.
        c.access_token_ttl_secs = self.access_token_ttl_secs.and_then(|v| i64::try_from(v).ok());
        c.refresh_token_ttl_secs = self.refresh_token_ttl_secs.and_then(|v| i64::try_from(v).ok());
        c.pkce_required = self.pkce_required;
    }
}

fn uris(field: &str, list: Vec<String>) -> Result<Vec<String>, ApiError> {
    let list = dedup(list);
    if list.len() > MAX_URIS {
        return Err(ApiError::validation(field, format!("at most {MAX_URIS} URIs")));
    }
    for u in &list {
        redirect_uri::check(u).map_err(|why| {
            let shown: String = u.chars().take(100).collect();
            ApiError::validation(field, format!("{shown:?} {why}"))
        })?;
    }
    Ok(list)
}

fn dedup(list: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for item in list {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// `openid`, `profile`, `email`, `offline_access`, or a custom scope such as `billing:read`.
fn valid_scope(s: &str) -> bool {
    s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b':' | b'.' | b'_' | b'-'))
}

fn defaults(given: Vec<String>, default: &[&str]) -> Vec<String> {
    if given.is_empty() { default.iter().map(|s| (*s).to_string()).collect() } else { given }
}

fn new_secret(state: &AppState) -> (String, String) {
    let secret = crypto::random_token(SECRET_PREFIX);
    let hash = state.master_key.keyed_hash(SECRET_PURPOSE, &secret);
    (secret, hash)
}

/// Registers a client with a fresh `client_id`; confidential clients also get a secret,
/// returned here and never again.
///
/// # Errors
/// 400 for invalid input.
pub async fn create(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    input: NewClientInput,
    now: DateTime<Utc>,
) -> Result<ClientWithSecret, ApiError> {
    if !matches!(input.client_type.as_str(), PUBLIC | CONFIDENTIAL) {
        return Err(ApiError::validation("client_type", "must be public or confidential"));
    }
    let fields = ClientFields {
        name: input.name,
        redirect_uris: input.redirect_uris,
        post_logout_redirect_uris: input.post_logout_redirect_uris,
        grant_types: defaults(input.grant_types, &DEFAULT_GRANT_TYPES),
        scopes: defaults(input.scopes, &DEFAULT_SCOPES),
        access_token_ttl_secs: input.access_token_ttl_secs,
        refresh_token_ttl_secs: input.refresh_token_ttl_secs,
        pkce_required: input.pkce_required,
    }
    .validate(&input.client_type, state.settings.tokens.max_access_ttl_secs)?;
    let (secret, secret_hash) = match input.client_type.as_str() {
        CONFIDENTIAL => {
            let (s, h) = new_secret(state);
            (Some(s), Some(h))
        }
        _ => (None, None),
    };
    let mut row = clients::Model {
        id: uuid::Uuid::now_v7(),
        tenant_id: tenant.id,
        // 128 random bits: a collision (which the unique index would refuse) is not a real case.
        client_id: crypto::random_id(),
        name: String::new(),
        client_type: input.client_type,
        secret_hash,
        redirect_uris: json!([]),
        post_logout_redirect_uris: json!([]),
        grant_types: json!([]),
        scopes: json!([]),
        access_token_ttl_secs: None,
        refresh_token_ttl_secs: None,
        enabled: input.enabled,
        pkce_required: true,
        require_second_factor: input.require_second_factor,
        created_at: now,
        updated_at: now,
    };
    fields.write(&mut row);
    let client = store::clients::insert(&state.db, row).await?;
    let details = json!({ "client_type": client.client_type, "pkce_required": client.pkce_required });
    record(state, admin, tenant, "client.created", &client.client_id, details, now).await;
    Ok(ClientWithSecret { client, secret })
}

/// # Errors
/// 400 for a bad cursor; infrastructure failures.
pub async fn list(
    state: &AppState,
    tenant: &TenantContext,
    filter: ClientFilter,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Page<clients::Model>, ApiError> {
    let after = parse_cursor(cursor)?;
    let fetched = fetch_size(limit);
    let rows = store::clients::list(&state.replica, tenant.id, &filter, after, fetched).await?;
    Ok(page(rows, fetched, |c| c.id))
}

/// # Errors
/// 404 when the client is not in this tenant.
pub async fn get(
    state: &AppState,
    tenant: &TenantContext,
    client_id: &str,
) -> Result<clients::Model, ApiError> {
    store::clients::find(&state.db, tenant.id, client_id)
        .await?
        .ok_or_else(|| ApiError::not_found("client_not_found", "no such client in this tenant"))
}

/// Changes to a client; `None` keeps a value. The type cannot change: a public client cannot
/// start keeping a secret, and a confidential one's secret may already be deployed.
#[derive(Default)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    /// `Some(None)` removes the override, so the tenant's setting applies.
    pub access_token_ttl_secs: Option<Option<u64>>,
    pub refresh_token_ttl_secs: Option<Option<u64>>,
    pub enabled: Option<bool>,
    pub pkce_required: Option<bool>,
    pub require_second_factor: Option<bool>,
}

/// After each write to a client row: no instance authenticates it from its cached copy again.
async fn client_changed(state: &AppState, tenant: &TenantContext, client_id: &str) -> Result<(), ApiError> {
    state.clients.forget(&(tenant.id, client_id.to_string()));
    Ok(state.revocations.client_changed(tenant.id, client_id).await?)
}

/// Applies changes, checking the client as a whole afterwards.
///
/// # Errors
/// 404 for an unknown client, 400 for invalid values (nothing is stored then).
pub async fn update(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    client_id: &str,
    changes: ClientChanges,
    now: DateTime<Utc>,
) -> Result<clients::Model, ApiError> {
    let mut client = get(state, tenant, client_id).await?;
    let mut fields = ClientFields::of(&client);
    let mut changed = Vec::new();
    if let Some(v) = changes.name {
        fields.name = v;
        changed.push("name");
    }
    if let Some(v) = changes.redirect_uris {
        fields.redirect_uris = v;
        changed.push("redirect_uris");
    }
    if let Some(v) = changes.post_logout_redirect_uris {
        fields.post_logout_redirect_uris = v;
        changed.push("post_logout_redirect_uris");
    }
    if let Some(v) = changes.grant_types {
        fields.grant_types = v;
        changed.push("grant_types");
    }
    if let Some(v) = changes.scopes {
        fields.scopes = v;
        changed.push("scopes");
    }
    if let Some(v) = changes.access_token_ttl_secs {
        fields.access_token_ttl_secs = v;
        changed.push("access_token_ttl_secs");
    }
    if let Some(v) = changes.refresh_token_ttl_secs {
        fields.refresh_token_ttl_secs = v;
        changed.push("refresh_token_ttl_secs");
    }
    if let Some(v) = changes.pkce_required {
        fields.pkce_required = v;
        changed.push("pkce_required");
    }
    if let Some(v) = changes.require_second_factor {
        client.require_second_factor = v;
        changed.push("require_second_factor");
    }
    let disabling = changes.enabled == Some(false) && client.enabled;
    if let Some(v) = changes.enabled {
        client.enabled = v;
        changed.push("enabled");
    }
    fields.validate(&client.client_type, state.settings.tokens.max_access_ttl_secs)?.write(&mut client);
    client.updated_at = now;
    if disabling {
        crate::auth::end_client_sessions(state, tenant.id, &client.client_id, now).await?;
    }
    let client = store::clients::update(&state.db, client).await?;
    client_changed(state, tenant, client_id).await?;
    let details =
        json!({ "fields": changed, "enabled": client.enabled, "pkce_required": client.pkce_required });
    record(state, admin, tenant, "client.updated", &client.client_id, details, now).await;
    Ok(client)
}

/// # Errors
/// 404 for an unknown client.
pub async fn delete(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let client = get(state, tenant, client_id).await?;
    // Its tokens must not outlive it.
    crate::auth::end_client_sessions(state, tenant.id, &client.client_id, now).await?;
    store::clients::delete(&state.db, tenant.id, client.id).await?;
    client_changed(state, tenant, client_id).await?;
    record(state, admin, tenant, "client.deleted", client_id, json!({}), now).await;
    Ok(())
}

/// Replaces a confidential client's secret: the old one stops working at once, the new one
/// is returned here and never again.
///
/// # Errors
/// 404 for an unknown client, 409 for a public client (it has no secret).
pub async fn rotate_secret(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<ClientWithSecret, ApiError> {
    let mut client = get(state, tenant, client_id).await?;
    if client.client_type != CONFIDENTIAL {
        return Err(ApiError::conflict("client_is_public", "public clients have no secret to rotate"));
    }
    let (secret, hash) = new_secret(state);
    client.secret_hash = Some(hash);
    client.updated_at = now;
    let client = store::clients::update(&state.db, client).await?;
    client_changed(state, tenant, client_id).await?;
    record(state, admin, tenant, "client.secret_rotated", client_id, json!({}), now).await;
    Ok(ClientWithSecret { client, secret: Some(secret) })
}

async fn record(
    state: &AppState,
    admin: &Admin,
    tenant: &TenantContext,
    event_type: &str,
    client_id: &str,
    details: serde_json::Value,
    now: DateTime<Utc>,
) {
    super::record_change(
        state,
        admin,
        tenant.id,
        event_type,
        format!("client:{client_id}"),
        None,
        details,
        now,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> ClientFields {
        ClientFields {
            name: " App ".into(),
            redirect_uris: vec!["https://app.example/cb".into(), "https://app.example/cb".into()],
            post_logout_redirect_uris: vec![],
            grant_types: vec!["authorization_code".into()],
            scopes: vec!["openid".into(), "billing:read".into()],
            access_token_ttl_secs: Some(600),
            refresh_token_ttl_secs: None,
            pkce_required: true,
        }
    }

    fn field_of(e: ApiError) -> String {
        match e {
            ApiError::BadRequest(p) => p.0.field.unwrap_or_default(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn valid_fields_are_trimmed_and_deduplicated() {
        let f = fields().validate(PUBLIC, 3600).unwrap();
        assert_eq!(f.name, "App");
        assert_eq!(f.redirect_uris, ["https://app.example/cb"]);
    }

    #[test]
    fn each_invalid_field_is_named() {
        type Change = fn(&mut ClientFields);
        let cases: Vec<(Change, &str)> = vec![
            (|f| f.name = "  ".into(), "name"),
            (|f| f.redirect_uris = vec!["http://evil.example/cb".into()], "redirect_uris"),
            (|f| f.redirect_uris = vec![], "redirect_uris"),
            (
                |f| f.redirect_uris = (0..21).map(|i| format!("https://a.example/{i}")).collect(),
                "redirect_uris",
            ),
            (
                |f| f.post_logout_redirect_uris = vec!["https://a.example/#x".into()],
                "post_logout_redirect_uris",
            ),
            (|f| f.grant_types = vec!["password".into()], "grant_types"),
            (|f| f.grant_types = vec![], "grant_types"),
            (|f| f.grant_types = vec!["client_credentials".into()], "grant_types"),
            (|f| f.scopes = vec!["Openid".into()], "scopes"),
            (|f| f.scopes = vec!["a b".into()], "scopes"),
            (|f| f.access_token_ttl_secs = Some(59), "access_token_ttl_secs"),
            (|f| f.access_token_ttl_secs = Some(3601), "access_token_ttl_secs"),
            (|f| f.refresh_token_ttl_secs = Some(299), "refresh_token_ttl_secs"),
            (|f| f.refresh_token_ttl_secs = Some(MAX_REFRESH_TTL + 1), "refresh_token_ttl_secs"),
            (|f| f.pkce_required = false, "pkce_required"),
        ];
        for (change, field) in cases {
            let mut f = fields();
            change(&mut f);
            assert_eq!(field_of(f.validate(PUBLIC, 3600).err().unwrap()), field);
        }
    }

    #[test]
    fn confidential_clients_may_use_client_credentials_without_redirect_uris() {
        let mut f = fields();
        f.grant_types = vec!["client_credentials".into()];
        f.redirect_uris = vec![];
        assert!(f.validate(CONFIDENTIAL, 3600).is_ok());
    }

    #[test]
    fn only_confidential_clients_may_opt_out_of_pkce() {
        let mut f = fields();
        f.pkce_required = false;
        assert!(f.validate(CONFIDENTIAL, 3600).is_ok());
    }

    #[test]
    fn scopes_follow_the_documented_pattern() {
        for ok in ["openid", "offline_access", "billing:read", "a", "x.y-z_1"] {
            assert!(valid_scope(ok), "{ok}");
        }
        for bad in ["", "1abc", "Profile", "a b", "a/b", &"a".repeat(65)] {
            assert!(!valid_scope(bad), "{bad}");
        }
    }
}
