//! The token endpoint's grants (RFC 6749 4.1.3, 4.4 and 6), client authentication, ID
//! tokens, introspection (RFC 7662) and revocation (RFC 7009).
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use uuid::Uuid;

use super::{CodeRecord, IdTokenClaims, ProfileClaims, at_hash, authorize, pkce_matches};
use crate::{
    auth::{self, AccessGrant, Audience, AuthError, ClientMeta},
    kv::KvError,
    metrics::Grant,
    state::AppState,
    store::{
        self, StoreError,
        entities::{clients, users},
        sessions::NewSession,
    },
    tenancy::TenantContext,
    tokens::{keys, refresh},
};

/// RFC 6749 section 5.2 errors.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("client authentication failed")]
    InvalidClient { basic: bool },
    #[error("{0}")]
    InvalidGrant(String),
    #[error("{0}")]
    UnauthorizedClient(String),
    #[error("this grant type is not supported")]
    UnsupportedGrantType,
    #[error("{0}")]
    InvalidScope(String),
    #[error("a dependency is unavailable; retry shortly")]
    Unavailable,
    #[error("an unexpected error occurred")]
    Server,
}

impl OAuthError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient { .. } => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::Unavailable => "temporarily_unavailable",
            Self::Server => "server_error",
        }
    }
}

impl From<AuthError> for OAuthError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidRefreshToken => {
                Self::InvalidGrant("the refresh token is invalid, expired or revoked".into())
            }
            AuthError::InvalidScope(why) => Self::InvalidScope(why),
            AuthError::Store(StoreError::Unavailable(_)) | AuthError::Kv(_) => Self::Unavailable,
            other => {
                tracing::error!(error = %other, "token endpoint failure");
                Self::Server
            }
        }
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        AuthError::Store(e).into()
    }
}

impl From<KvError> for OAuthError {
    fn from(e: KvError) -> Self {
        AuthError::Kv(e).into()
    }
}

/// Client credentials as presented: HTTP Basic (`client_secret_basic`), body parameters
/// (`client_secret_post`), or a bare `client_id` (public clients).
pub struct ClientAuth {
    pub client_id: String,
    pub secret: Option<String>,
    pub basic: bool,
}

/// Collects the client's credentials, refusing more than one method (RFC 6749 2.3).
///
/// # Errors
/// `InvalidRequest` for two methods at once, `InvalidClient` for none.
pub fn client_auth(
    authorization: Option<&str>,
    body_id: Option<String>,
    body_secret: Option<String>,
) -> Result<ClientAuth, OAuthError> {
    if let Some(header) = authorization {
        if body_secret.is_some() {
            return Err(OAuthError::InvalidRequest("use one client authentication method".into()));
        }
        let (id, secret) = parse_basic(header).ok_or(OAuthError::InvalidClient { basic: true })?;
        if body_id.as_ref().is_some_and(|b| *b != id) {
            return Err(OAuthError::InvalidRequest(
                "client_id does not match the Authorization header".into(),
            ));
        }
        return Ok(ClientAuth { client_id: id, secret: Some(secret), basic: true });
    }
    let client_id = body_id.filter(|c| !c.is_empty()).ok_or(OAuthError::InvalidClient { basic: false })?;
    Ok(ClientAuth { client_id, secret: body_secret, basic: false })
}

/// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 2.3.1).
fn parse_basic(header: &str) -> Option<(String, String)> {
    use base64::Engine;
    let (scheme, value) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(value.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape =
        |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.to_string());
    Some((unescape(id)?, unescape(secret)?))
}

/// Authenticates the client: a confidential client by its secret, a public one by its id.
///
/// # Errors
/// `InvalidClient` for any mismatch, all alike.
pub async fn authenticate_client(
    state: &AppState,
    tenant: &TenantContext,
    auth: &ClientAuth,
) -> Result<clients::Model, OAuthError> {
    let invalid = OAuthError::InvalidClient { basic: auth.basic };
    let client = cached_client(state, tenant, &auth.client_id).await?.filter(|c| c.enabled);
    let client = match &auth.secret {
        Some(secret) => client.filter(|c| store::clients::secret_matches(&state.master_key, c, secret)),
        None => client.filter(|c| c.client_type == "public"),
    };
    client.ok_or(invalid)
}

/// The client app's row, from this instance's cache while the client's change marker in
/// Redis is the one it was loaded under (see [`crate::cache`]), else from the database.
async fn cached_client(
    state: &AppState,
    tenant: &TenantContext,
    client_id: &str,
) -> Result<Option<clients::Model>, OAuthError> {
    let version = state.revocations.client_version(tenant.id, client_id).await?;
    let load = store::clients::find(&state.db, tenant.id, client_id);
    Ok(state.clients.get_or_load((tenant.id, client_id.to_string()), version, load).await?)
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

fn allows_grant(client: &clients::Model, grant: &str) -> bool {
    strings(&client.grant_types).iter().any(|g| g == grant)
}

fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split(' ').any(|s| s == wanted)
}

pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
}

pub struct TokenSet {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub scope: String,
}

/// Runs the requested grant for an authenticated client.
///
/// # Errors
/// The RFC 6749 error to return.
pub async fn exchange(
    state: &AppState,
    tenant: &TenantContext,
    client: &clients::Model,
    authenticated_by_secret: bool,
    req: TokenRequest,
    meta: ClientMeta,
    now: DateTime<Utc>,
) -> Result<TokenSet, OAuthError> {
    let grant =
        req.grant_type.clone().ok_or_else(|| OAuthError::InvalidRequest("grant_type is required".into()))?;
    if !matches!(grant.as_str(), "authorization_code" | "refresh_token" | "client_credentials") {
        return Err(OAuthError::UnsupportedGrantType);
    }
    if !allows_grant(client, &grant) {
        return Err(OAuthError::UnauthorizedClient(format!("this client may not use the {grant} grant")));
    }
    let (kind, result) = match grant.as_str() {
        "authorization_code" => {
            (Grant::AuthorizationCode, authorization_code(state, tenant, client, req, meta, now).await)
        }
        "refresh_token" => (Grant::RefreshToken, refresh_grant(state, tenant, client, req, &meta, now).await),
        _ => (
            Grant::ClientCredentials,
            client_credentials(tenant, client, authenticated_by_secret, req.scope.as_deref(), now),
        ),
    };
    if let Ok(set) = &result {
        state.metrics.tokens_issued(kind, set.refresh_token.is_some(), set.id_token.is_some());
    }
    result
}

async fn authorization_code(
    state: &AppState,
    tenant: &TenantContext,
    client: &clients::Model,
    req: TokenRequest,
    meta: ClientMeta,
    now: DateTime<Utc>,
) -> Result<TokenSet, OAuthError> {
    let code = req.code.ok_or_else(|| OAuthError::InvalidRequest("code is required".into()))?;
    if req.redirect_uri.is_none() {
        return Err(OAuthError::InvalidRequest("redirect_uri is required".into()));
    }
    if req.code_verifier.as_deref().is_some_and(|v| !super::valid_verifier(v)) {
        return Err(OAuthError::InvalidRequest(
            "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~".into(),
        ));
    }
    let invalid = || OAuthError::InvalidGrant("the code is invalid or expired".into());
    // Another client's request changes nothing: it learns no more than from an unknown code,
    // and cannot burn the code or revoke what it issued.
    let record = authorize::peek_code(state, tenant, &code).await?.ok_or_else(invalid)?;
    if !record.belongs_to(&client.client_id) {
        return Err(OAuthError::InvalidGrant("the code was issued to another client".into()));
    }
    let session_id = Uuid::now_v7();
    let record = match record {
        CodeRecord::Issued(_) => authorize::redeem_code(state, tenant, &code, &client.client_id, session_id)
            .await?
            .ok_or_else(invalid)?,
        replayed @ CodeRecord::Redeemed { .. } => replayed,
    };
    let issued = match record {
        CodeRecord::Redeemed { session_id: first, .. } => {
            tracing::warn!(tenant = %tenant.slug, session = %first, "authorization code replayed: revoking its tokens");
            state.revocations.revoke_sessions(tenant.id, &[first]).await?;
            store::sessions::revoke(&state.db, tenant.id, first, now).await?;
            return Err(OAuthError::InvalidGrant("the code was already used; its tokens are revoked".into()));
        }
        CodeRecord::Issued(c) => c,
    };
    // From here the code is spent: the right client with a wrong redirect_uri or verifier
    // burns it (SECURITY.md).
    if req.redirect_uri.as_deref() != Some(issued.redirect_uri.as_str()) {
        return Err(OAuthError::InvalidGrant("redirect_uri does not match the authorization request".into()));
    }
    match (&issued.code_challenge, &req.code_verifier) {
        (Some(challenge), Some(verifier)) if pkce_matches(verifier, challenge) => {}
        (Some(_), _) => return Err(OAuthError::InvalidGrant("PKCE verification failed".into())),
        (None, Some(_)) => {
            return Err(OAuthError::InvalidGrant(
                "code_verifier sent but the request had no code_challenge".into(),
            ));
        }
        (None, None) if super::pkce_required(client) => {
            return Err(OAuthError::InvalidGrant("PKCE is required for this client".into()));
        }
        (None, None) => {}
    }
    let user = store::users::find_by_id(&state.db, tenant.id, issued.user_id)
        .await?
        .filter(|u| u.status == "active")
        .ok_or_else(|| OAuthError::InvalidGrant("the user is no longer active".into()))?;
    let refresh_ttl = client
        .refresh_token_ttl_secs
        .unwrap_or(i64::try_from(tenant.settings.refresh_token_ttl_secs).unwrap_or(0));
    let new = NewSession {
        id: Some(session_id),
        user_id: user.id,
        client_id: Some(client.client_id.clone()),
        parent_id: Some(issued.sso_session_id),
        scope: Some(issued.scope.clone()),
        auth_time: DateTime::from_timestamp(issued.auth_time, 0),
        ip: meta.ip,
        user_agent: meta.user_agent,
        expires_at: now + ChronoDuration::seconds(refresh_ttl),
    };
    let refresh_token = if allows_grant(client, "refresh_token") {
        let plain = refresh::generate();
        store::sessions::create_with_refresh_token(&state.db, tenant.id, new, plain.hash, now).await?;
        Some(plain.token)
    } else {
        store::sessions::create(&state.db, tenant.id, new, now).await?;
        None
    };
    // A replay racing this redemption revokes the session in the shared list before or after
    // the row exists; either way refreshes and verifications consult that list.
    let context = IdContext {
        sso_session_id: issued.sso_session_id,
        auth_time: issued.auth_time,
        nonce: issued.nonce,
        amr: issued.amr,
    };
    issue(tenant, client, &user, session_id, &issued.scope, refresh_token, Some(context), now)
}

struct IdContext {
    sso_session_id: Uuid,
    auth_time: i64,
    nonce: Option<String>,
    /// How the user authenticated; the access token carries it too.
    amr: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
fn issue(
    tenant: &TenantContext,
    client: &clients::Model,
    user: &users::Model,
    session_id: Uuid,
    scope: &str,
    refresh_token: Option<String>,
    id: Option<IdContext>,
    now: DateTime<Utc>,
) -> Result<TokenSet, OAuthError> {
    let amr = id.as_ref().map(|c| c.amr.clone()).unwrap_or_default();
    let grant = AccessGrant {
        subject: user.id.to_string(),
        session_id: Some(session_id.to_string()),
        audience: Audience::Tenant,
        scope,
        client_id: Some(&client.client_id),
        ttl_secs: client.access_token_ttl_secs.and_then(|t| u64::try_from(t).ok()),
        amr: &amr,
    };
    let (access_token, expires_in) = auth::sign_access_token(tenant, &grant, now)?;
    let id_token = match id.filter(|_| has_scope(scope, "openid")) {
        Some(ctx) => {
            let claims = IdTokenClaims {
                iss: tenant.issuer.clone(),
                sub: user.id.to_string(),
                aud: client.client_id.clone(),
                exp: now.timestamp() + i64::try_from(expires_in).unwrap_or(600),
                iat: now.timestamp(),
                auth_time: ctx.auth_time,
                nonce: ctx.nonce,
                at_hash: Some(at_hash(&access_token)),
                sid: ctx.sso_session_id.to_string(),
                azp: None,
                amr: ctx.amr,
                profile: ProfileClaims::for_scope(user, scope),
            };
            let signed = tenant.id_token_signer.sign_typed(&claims, "JWT").map_err(|e| {
                tracing::error!(error = %e, "ID token signing failed");
                OAuthError::Server
            })?;
            Some(signed)
        }
        None => None,
    };
    Ok(TokenSet { access_token, expires_in, refresh_token, id_token, scope: scope.to_string() })
}

async fn refresh_grant(
    state: &AppState,
    tenant: &TenantContext,
    client: &clients::Model,
    req: TokenRequest,
    meta: &ClientMeta,
    now: DateTime<Utc>,
) -> Result<TokenSet, OAuthError> {
    let presented =
        req.refresh_token.ok_or_else(|| OAuthError::InvalidRequest("refresh_token is required".into()))?;
    let rotated = auth::rotate_refresh(
        state,
        tenant,
        &presented,
        Some(&client.client_id),
        req.scope.as_deref(),
        meta,
        now,
    )
    .await?;
    let session = &rotated.session;
    let context = IdContext {
        sso_session_id: session.parent_id.unwrap_or(session.id),
        auth_time: session.auth_time.unwrap_or(session.created_at).timestamp(),
        nonce: None,
        // Refreshed tokens keep no `amr` until sessions record it.
        amr: Vec::new(),
    };
    issue(
        tenant,
        client,
        &rotated.user,
        session.id,
        &rotated.scope,
        Some(rotated.refresh_token),
        Some(context),
        now,
    )
}

fn client_credentials(
    tenant: &TenantContext,
    client: &clients::Model,
    authenticated_by_secret: bool,
    asked: Option<&str>,
    now: DateTime<Utc>,
) -> Result<TokenSet, OAuthError> {
    if client.client_type != "confidential" || !authenticated_by_secret {
        return Err(OAuthError::UnauthorizedClient("client_credentials needs a confidential client".into()));
    }
    let allowed: Vec<String> = strings(&client.scopes)
        .into_iter()
        .filter(|s| !super::STANDARD_SCOPES.contains(&s.as_str()))
        .collect();
    let scope = match asked {
        Some(a) => {
            let wanted: Vec<&str> = a.split(' ').filter(|s| !s.is_empty()).collect();
            if let Some(bad) = wanted.iter().find(|s| !allowed.iter().any(|x| x == *s)) {
                return Err(OAuthError::InvalidScope(format!("scope {bad} is not available to this client")));
            }
            wanted.join(" ")
        }
        None => allowed.join(" "),
    };
    let grant = AccessGrant {
        subject: client.client_id.clone(),
        session_id: None,
        audience: Audience::Tenant,
        scope: &scope,
        client_id: Some(&client.client_id),
        ttl_secs: client.access_token_ttl_secs.and_then(|t| u64::try_from(t).ok()),
        amr: &[],
    };
    let (access_token, expires_in) = auth::sign_access_token(tenant, &grant, now)?;
    Ok(TokenSet { access_token, expires_in, refresh_token: None, id_token: None, scope })
}

/// RFC 7662 response members.
#[derive(Debug, Default)]
pub struct Introspection {
    pub active: bool,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub username: Option<String>,
    pub token_type: Option<String>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    pub nbf: Option<i64>,
    pub sub: Option<String>,
    pub aud: Option<String>,
    pub iss: Option<String>,
    pub jti: Option<String>,
    pub sid: Option<String>,
}

/// Describes a token of this tenant. Revoked, expired, foreign or malformed tokens are just
/// `{"active": false}`; an unanswerable revocation check is an error, never "active".
///
/// # Errors
/// `Unavailable` when the store cannot answer.
pub async fn introspect(
    state: &AppState,
    tenant: &TenantContext,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Introspection, OAuthError> {
    if let Some(hash) = refresh::hash_presented(token) {
        let Some((row, session)) =
            store::refresh_tokens::find_with_session(&state.db, tenant.id, &hash).await?
        else {
            return Ok(Introspection::default());
        };
        let live = row.used_at.is_none()
            && session.revoked_at.is_none()
            && session.expires_at > now
            && !state.revocations.is_session_revoked(tenant.id, session.id).await?;
        let user = store::users::find_by_id(&state.db, tenant.id, session.user_id)
            .await?
            .filter(|u| u.status == "active");
        let (true, Some(user)) = (live, user) else { return Ok(Introspection::default()) };
        return Ok(Introspection {
            active: true,
            scope: session.scope.clone().filter(|s| !s.is_empty()),
            client_id: session.client_id.clone(),
            username: Some(user.username),
            token_type: Some("refresh_token".into()),
            exp: Some(session.expires_at.timestamp()),
            iat: Some(row.created_at.timestamp()),
            sub: Some(session.user_id.to_string()),
            iss: Some(tenant.issuer.clone()),
            sid: Some(session.id.to_string()),
            ..Introspection::default()
        });
    }
    let Some(claims) = verified_access_claims(state, tenant, token).await? else {
        return Ok(Introspection::default());
    };
    let checked = state.revocations.check(tenant.id, &claims).await?;
    if checked.revoked {
        return Ok(Introspection::default());
    }
    let username = match Uuid::parse_str(&claims.sub) {
        Ok(id) => match crate::auth::active_user(state, tenant.id, id, checked.user_version).await? {
            Some(u) => Some(u.username),
            None => return Ok(Introspection::default()),
        },
        Err(_) => None,
    };
    Ok(Introspection {
        active: true,
        scope: (!claims.scope.is_empty()).then_some(claims.scope),
        client_id: claims.client_id,
        username,
        token_type: Some("Bearer".into()),
        exp: Some(claims.exp),
        iat: Some(claims.iat),
        nbf: Some(claims.nbf),
        sub: Some(claims.sub),
        aud: Some(claims.aud),
        iss: Some(claims.iss),
        jti: Some(claims.jti),
        sid: claims.sid,
    })
}

async fn verified_access_claims(
    state: &AppState,
    tenant: &TenantContext,
    token: &str,
) -> Result<Option<crate::tokens::AccessClaims>, OAuthError> {
    let Ok(header) = keys::peek_header(token) else { return Ok(None) };
    let mut tenant_ctx = state.tenants.get(&tenant.slug).await.map_err(|_| OAuthError::Unavailable)?;
    if let Some(t) = tenant_ctx.as_ref().filter(|t| t.verifier(&header.kid).is_none()) {
        tenant_ctx = state
            .tenants
            .refresh_for_unknown_kid(t)
            .await
            .map_err(|_| OAuthError::Unavailable)?
            .or(tenant_ctx);
    }
    Ok(tenant_ctx.and_then(|t| t.verifier(&header.kid).and_then(|v| v.verify(token).ok())))
}

/// Revokes a token the client holds (RFC 7009): a refresh token ends its session, an access
/// token goes on the revocation list. Unknown, expired or malformed tokens are ignored, and
/// the answer is the same as for a revoked one.
///
/// # Errors
/// `UnauthorizedClient` for a token issued to another client (or to a first-party session),
/// and nothing is revoked (RFC 7009 section 2.1); `Unavailable` when the store cannot be
/// written.
pub async fn revoke(
    state: &AppState,
    tenant: &TenantContext,
    client: &clients::Model,
    token: &str,
    now: DateTime<Utc>,
) -> Result<(), OAuthError> {
    let foreign = || OAuthError::UnauthorizedClient("the token was issued to another client".into());
    let own = |holder: Option<&str>| holder == Some(client.client_id.as_str());
    if let Some(hash) = refresh::hash_presented(token) {
        if let Some((_, session)) =
            store::refresh_tokens::find_with_session(&state.db, tenant.id, &hash).await?
        {
            if !own(session.client_id.as_deref()) {
                return Err(foreign());
            }
            state.revocations.revoke_sessions(tenant.id, &[session.id]).await?;
            store::sessions::revoke(&state.db, tenant.id, session.id, now).await?;
        }
        return Ok(());
    }
    if let Some(claims) = verified_access_claims(state, tenant, token).await? {
        if !own(claims.client_id.as_deref()) {
            return Err(foreign());
        }
        state.revocations.revoke_token(tenant.id, &claims, now.timestamp()).await?;
    }
    Ok(())
}
