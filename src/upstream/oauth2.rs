//! Plain OAuth2 with the `oauth2` crate, for providers without ID tokens: the user comes from
//! a configured user-info URL and a claim mapping. GitHub is the model, including its separate
//! email list, the only place it says whether an address is verified.
use ::oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl, basic::BasicClient,
};
use serde::Deserialize;
use serde_json::Value;

use super::{
    Begin, Callback, Capabilities, ClaimMap, Endpoint, ExternalIdentity, ProviderError, ProviderInfo,
    Strategy, Upstream, error_chain, provider_url,
};
use crate::{config::UpstreamSettings, domain::ValidationError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub authorization_url: String,
    pub token_url: String,
    pub userinfo_url: String,
    /// A GitHub-style list of `{email, primary, verified}`; when set, the primary address
    /// and its verification come from here.
    #[serde(default)]
    pub emails_url: Option<String>,
    pub client_id: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// `client_secret_basic` (default) or `client_secret_post`.
    #[serde(default)]
    pub client_auth_method: Option<String>,
    #[serde(default)]
    pub claims: ClaimMap,
}

pub struct OAuth2 {
    info: ProviderInfo,
    config: Config,
    secret: Option<String>,
    auth_url: AuthUrl,
    token_url: TokenUrl,
    endpoints: Vec<Endpoint>,
}

impl OAuth2 {
    /// # Errors
    /// Unusable URLs or client settings, named by field.
    pub fn new(
        info: ProviderInfo,
        config: Config,
        secret: Option<String>,
        settings: &UpstreamSettings,
    ) -> Result<Self, ValidationError> {
        let auth = provider_url("configuration.authorization_url", &config.authorization_url, settings)?;
        let token = provider_url("configuration.token_url", &config.token_url, settings)?;
        let mut endpoints = vec![
            ("configuration.token_url", token.clone()),
            (
                "configuration.userinfo_url",
                provider_url("configuration.userinfo_url", &config.userinfo_url, settings)?,
            ),
        ];
        if let Some(e) = &config.emails_url {
            endpoints
                .push(("configuration.emails_url", provider_url("configuration.emails_url", e, settings)?));
        }
        if config.client_id.is_empty() || config.client_id.len() > 512 {
            return Err(ValidationError::new("configuration.client_id", "must be 1 to 512 characters"));
        }
        if config.scopes.len() > 20 || config.scopes.iter().any(|s| s.is_empty() || s.contains(' ')) {
            return Err(ValidationError::new("configuration.scopes", "must be at most 20 scope names"));
        }
        if !matches!(
            config.client_auth_method.as_deref(),
            None | Some("client_secret_basic" | "client_secret_post")
        ) {
            return Err(ValidationError::new(
                "configuration.client_auth_method",
                "must be client_secret_basic or client_secret_post",
            ));
        }
        Ok(Self {
            info,
            auth_url: AuthUrl::from_url(auth),
            token_url: TokenUrl::from_url(token),
            config,
            secret,
            endpoints,
        })
    }

    fn client(
        &self,
        redirect_uri: &str,
    ) -> Result<
        BasicClient<
            ::oauth2::EndpointSet,
            ::oauth2::EndpointNotSet,
            ::oauth2::EndpointNotSet,
            ::oauth2::EndpointNotSet,
            ::oauth2::EndpointSet,
        >,
        ProviderError,
    > {
        let redirect = RedirectUrl::new(redirect_uri.to_string())
            .map_err(|e| ProviderError::Upstream(format!("callback URL: {e}")))?;
        let mut client = BasicClient::new(ClientId::new(self.config.client_id.clone()))
            .set_auth_uri(self.auth_url.clone())
            .set_token_uri(self.token_url.clone())
            .set_redirect_uri(redirect);
        if let Some(s) = &self.secret {
            client = client.set_client_secret(ClientSecret::new(s.clone()));
        }
        if self.config.client_auth_method.as_deref() == Some("client_secret_post") {
            client = client.set_auth_type(AuthType::RequestBody);
        }
        Ok(client)
    }

    async fn get_json(&self, upstream: &Upstream, url: &str, token: &str) -> Result<Value, ProviderError> {
        upstream
            .http
            .get_json(url, token)
            .await
            .map_err(|e| ProviderError::Upstream(format!("{url}: {}", error_chain(&e))))
    }
}

#[async_trait::async_trait]
impl Strategy for OAuth2 {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { password: false, redirect: true }
    }

    fn endpoints(&self) -> Vec<Endpoint> {
        self.endpoints.clone()
    }

    async fn begin(&self, _upstream: &Upstream, begin: &Begin<'_>) -> Result<String, ProviderError> {
        let csrf = begin.state.to_string();
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
            begin.pkce_verifier.to_string(),
        ));
        let (url, _) = self
            .client(begin.redirect_uri)?
            .authorize_url(move || CsrfToken::new(csrf))
            .add_scopes(self.config.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge)
            .url();
        Ok(url.to_string())
    }

    async fn complete(
        &self,
        upstream: &Upstream,
        callback: Callback<'_>,
    ) -> Result<ExternalIdentity, ProviderError> {
        let Callback { code, pkce_verifier, redirect_uri, .. } = callback;
        let token = self
            .client(redirect_uri)?
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
            .request_async(&upstream.http)
            .await
            .map_err(|e| ProviderError::Upstream(format!("code exchange failed: {}", error_chain(&e))))?;
        let access = token.access_token().secret();
        let mut claims = self.get_json(upstream, &self.config.userinfo_url, access).await?;
        if !claims.is_object() {
            return Err(ProviderError::Upstream("the user-info answer is not a JSON object".into()));
        }
        if let Some(url) = &self.config.emails_url {
            let emails = self.get_json(upstream, url, access).await?;
            let primary = emails.as_array().and_then(|list| {
                list.iter().find(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
            });
            let email_claim = self.config.claims.email.as_deref().unwrap_or("email").to_string();
            let verified_claim =
                self.config.claims.email_verified.as_deref().unwrap_or("email_verified").to_string();
            if let (Some(p), Value::Object(m)) = (primary, &mut claims) {
                m.insert(email_claim, p.get("email").cloned().unwrap_or(Value::Null));
                m.insert(
                    verified_claim,
                    Value::Bool(p.get("verified").and_then(Value::as_bool) == Some(true)),
                );
            }
        }
        self.config.claims.apply(&claims, "id")
    }
}
