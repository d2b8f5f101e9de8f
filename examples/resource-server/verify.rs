//! Verifying Gatehouse access tokens in a Rust API with jsonwebtoken and the tenant's JWKS.
//! Needs `jsonwebtoken` (one crypto backend, e.g. `features = ["aws_lc_rs"]`), `reqwest` (`json`),
//! `serde` and `tokio`. Run by tests/api/resource_server.rs; quoted in docs/resource-server.md.
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
use serde::Deserialize;
use tokio::sync::RwLock;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The claims an API usually needs from a Gatehouse access token.
#[derive(Debug, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub scope: String,
    pub exp: i64,
    pub jti: String,
    /// Set when a client app obtained the token (OpenID Connect or client credentials).
    pub client_id: Option<String>,
    /// How strong the sign-in was: `urn:gatehouse:loa:1fa` or `urn:gatehouse:loa:2fa`.
    pub acr: Option<String>,
}

pub struct Verifier {
    issuer: String,
    http: reqwest::Client,
    jwks: RwLock<JwkSet>,
}

impl Verifier {
    /// `issuer` is the tenant's issuer, e.g. `https://id.example.com/t/acme`.
    pub async fn new(issuer: &str) -> Result<Self, Error> {
        let http = reqwest::Client::new();
        let jwks = fetch_jwks(&http, issuer).await?;
        Ok(Self { issuer: issuer.to_string(), http, jwks: RwLock::new(jwks) })
    }

    /// Checks signature, `typ`, `iss`, `aud` (the tenant's access tokens are addressed to the
    /// issuer) and `exp`/`nbf`. Says nothing about logout: see [`Verifier::is_active`].
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, Error> {
        let header = decode_header(token)?;
        if header.typ.as_deref() != Some("at+jwt") {
            return Err("not an access token".into());
        }
        let kid = header.kid.ok_or("the token names no key")?;
        let mut jwk = self.jwks.read().await.find(&kid).cloned();
        if jwk.is_none() {
            // An unknown kid: the tenant may have rotated its key since we fetched the set.
            let fresh = fetch_jwks(&self.http, &self.issuer).await?;
            jwk = fresh.find(&kid).cloned();
            *self.jwks.write().await = fresh;
        }
        let jwk = jwk.ok_or("unknown signing key")?;
        // The key's own algorithm, never the one the token claims.
        let alg = Algorithm::try_from(jwk.common.key_algorithm.ok_or("key without alg")?)?;
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.issuer]);
        validation.leeway = 30;
        Ok(decode::<AccessClaims>(token, &DecodingKey::from_jwk(&jwk)?, &validation)?.claims)
    }

    /// RFC 7662 introspection with the API's own client credentials: `false` once the token
    /// is logged out or revoked, which local verification cannot see.
    pub async fn is_active(&self, token: &str, client_id: &str, secret: &str) -> Result<bool, Error> {
        #[derive(Deserialize)]
        struct Introspection {
            active: bool,
        }
        let answer: Introspection = self
            .http
            .post(format!("{}/oauth2/introspect", self.issuer))
            .basic_auth(client_id, Some(secret))
            .form(&[("token", token)])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(answer.active)
    }
}

async fn fetch_jwks(http: &reqwest::Client, issuer: &str) -> Result<JwkSet, Error> {
    let url = format!("{issuer}/.well-known/jwks.json");
    Ok(http.get(url).send().await?.error_for_status()?.json().await?)
}

/// For a valid token whose sign-in is weaker than `acr` requires: the RFC 9470 challenge to send
/// with a 401, so the app steps up (signs the user in again with `acr_values`) and retries.
pub fn step_up_challenge(claims: &AccessClaims, acr: &str) -> Option<String> {
    (claims.acr.as_deref() != Some(acr)).then(|| {
        format!(
            r#"Bearer error="insufficient_user_authentication", error_description="A stronger sign-in is required", acr_values="{acr}""#
        )
    })
}
