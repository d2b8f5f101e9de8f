//! Any OpenID Connect issuer, through the `openidconnect` crate: discovery (cached, refreshed
//! when an ID token names an unknown key), PKCE, `nonce`, full ID token validation, then the
//! userinfo endpoint when the issuer has one.
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
    core::{CoreAuthenticationFlow, CoreClient, CoreUserInfoClaims},
};
use serde::Deserialize;
use serde_json::Value;

use super::{
    Begin, Callback, Capabilities, ClaimMap, Endpoint, ExternalIdentity, ProviderError, ProviderInfo,
    ProviderMetadata, Strategy, Upstream, error_chain, provider_url,
};
use crate::{config::UpstreamSettings, domain::ValidationError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub issuer: String,
    pub client_id: String,
    /// `openid` is always requested.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub claims: ClaimMap,
}

fn default_scopes() -> Vec<String> {
    vec!["email".into(), "profile".into()]
}

pub struct Oidc {
    info: ProviderInfo,
    config: Config,
    secret: Option<String>,
    issuer: url::Url,
}

impl Oidc {
    /// # Errors
    /// An unusable issuer URL or client id.
    pub fn new(
        info: ProviderInfo,
        config: Config,
        secret: Option<String>,
        settings: &UpstreamSettings,
    ) -> Result<Self, ValidationError> {
        let issuer = provider_url("configuration.issuer", &config.issuer, settings)?;
        if config.client_id.is_empty() || config.client_id.len() > 512 {
            return Err(ValidationError::new("configuration.client_id", "must be 1 to 512 characters"));
        }
        if config.scopes.len() > 20 || config.scopes.iter().any(|s| s.is_empty() || s.contains(' ')) {
            return Err(ValidationError::new("configuration.scopes", "must be at most 20 scope names"));
        }
        Ok(Self { info, config, secret, issuer })
    }

    fn client(
        &self,
        metadata: &ProviderMetadata,
        redirect_uri: &str,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        ProviderError,
    > {
        let redirect = RedirectUrl::new(redirect_uri.to_string())
            .map_err(|e| ProviderError::Upstream(format!("callback URL: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(self.config.client_id.clone()),
            self.secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect))
    }
}

#[async_trait::async_trait]
impl Strategy for Oidc {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { password: false, redirect: true }
    }

    fn endpoints(&self) -> Vec<Endpoint> {
        vec![("configuration.issuer", self.issuer.clone())]
    }

    async fn begin(&self, upstream: &Upstream, begin: &Begin<'_>) -> Result<String, ProviderError> {
        let metadata = upstream.metadata(&self.config.issuer, false).await?;
        let client = self.client(&metadata, begin.redirect_uri)?;
        let csrf = begin.state.to_string();
        let nonce = begin.nonce.to_string();
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
            begin.pkce_verifier.to_string(),
        ));
        let (url, _, _) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(csrf),
                move || Nonce::new(nonce),
            )
            .add_scopes(self.config.scopes.iter().filter(|s| *s != "openid").cloned().map(Scope::new))
            .set_pkce_challenge(challenge)
            .url();
        Ok(url.to_string())
    }

    async fn complete(
        &self,
        upstream: &Upstream,
        callback: Callback<'_>,
    ) -> Result<ExternalIdentity, ProviderError> {
        let Callback { code, iss, nonce, pkce_verifier, redirect_uri } = callback;
        let http = &upstream.http;
        let mut metadata = upstream.metadata(&self.config.issuer, false).await?;
        // Before the code goes anywhere: a response from another issuer is a mix-up attack.
        check_iss(iss, &metadata)?;
        let client = self.client(&metadata, redirect_uri)?;
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| ProviderError::Upstream(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
            .request_async(http)
            .await
            .map_err(|e| ProviderError::Upstream(format!("code exchange failed: {}", error_chain(&e))))?;
        let id_token = token
            .id_token()
            .ok_or_else(|| ProviderError::Rejected("the token response carries no ID token".into()))?;
        let nonce = Nonce::new(nonce.to_string());
        let claims = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(c) => c.clone(),
            // A key rotated at the issuer since discovery: fetch its keys again, once.
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(
                openidconnect::SignatureVerificationError::NoMatchingKey,
            )) => {
                metadata = upstream.metadata(&self.config.issuer, true).await?;
                let client = self.client(&metadata, redirect_uri)?;
                id_token
                    .claims(&client.id_token_verifier(), &nonce)
                    .map_err(|e| ProviderError::Rejected(format!("ID token: {e}")))?
                    .clone()
            }
            Err(e) => return Err(ProviderError::Rejected(format!("ID token: {e}"))),
        };
        let mut merged = serde_json::to_value(&claims).unwrap_or(Value::Null);
        let client = self.client(&metadata, redirect_uri)?;
        if let Ok(request) = client.user_info(token.access_token().clone(), Some(claims.subject().clone())) {
            let info: CoreUserInfoClaims = request
                .request_async(http)
                .await
                .map_err(|e| ProviderError::Upstream(format!("userinfo failed: {}", error_chain(&e))))?;
            if let (Value::Object(m), Ok(Value::Object(extra))) = (&mut merged, serde_json::to_value(&info)) {
                m.extend(extra);
            }
        }
        self.config.claims.apply(&merged, "sub")
    }
}

/// RFC 9207 §2.4: an `iss` in the authorization response must be the issuer's identifier,
/// and an issuer that says it always sends one must have sent it.
fn check_iss(iss: Option<&str>, metadata: &ProviderMetadata) -> Result<(), ProviderError> {
    let expected = metadata.issuer().as_str();
    match iss {
        Some(iss) if iss != expected => Err(ProviderError::Rejected(format!(
            "the authorization response names issuer {iss:?}, not {expected:?} (RFC 9207)"
        ))),
        None if metadata.additional_metadata().authorization_response_iss_parameter_supported => {
            Err(ProviderError::Rejected(
                "the authorization response carries no iss, which this issuer always sends (RFC 9207)".into(),
            ))
        }
        _ => Ok(()),
    }
}
