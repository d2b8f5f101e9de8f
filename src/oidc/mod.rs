//! The OpenID Connect provider: authorization code flow with PKCE, browser SSO sessions, the
//! token endpoint's grants, ID tokens, and token introspection and revocation. HTTP handlers
//! live in `api::oauth` (JSON) and `web` (HTML pages and redirects).
use serde::{Deserialize, Serialize};

pub mod authorize;
pub mod first_party;
pub mod redirect;
pub mod sso;
pub mod token;

/// Scopes this provider understands; clients may also be allowed custom scopes.
pub const STANDARD_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// An authorization request waiting for the user to sign in, kept in the shared store under
/// `authz:{id}` so any instance can finish it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingAuthorization {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub login_hint: Option<String>,
    /// Must match the form field and the browser's CSRF cookie.
    pub csrf: String,
    /// The authentication level the client asked for (`acr_values`, `claims`): 2 means a
    /// second step (see [`crate::domain::authn`]).
    #[serde(default)]
    pub acr_level: Option<u8>,
}

/// What an authorization code stands for, under `code:{sha256(code)}`; replaced by
/// [`CodeRecord::Redeemed`] on first use so a replay can be detected and punished.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CodeRecord {
    Issued(IssuedCode),
    Redeemed {
        session_id: uuid::Uuid,
        /// Absent in markers written before it was recorded.
        #[serde(default)]
        client_id: Option<String>,
    },
}

impl CodeRecord {
    /// Whether the code was issued to `client_id` (unknown for old markers: yes).
    pub fn belongs_to(&self, client_id: &str) -> bool {
        match self {
            Self::Issued(c) => c.client_id == client_id,
            Self::Redeemed { client_id: owner, .. } => owner.as_deref().is_none_or(|o| o == client_id),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuedCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub user_id: uuid::Uuid,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    /// Unix seconds of the sign-in that produced this code.
    pub auth_time: i64,
    /// The browser SSO session; the `sid` of the ID token.
    pub sso_session_id: uuid::Uuid,
    /// How the user authenticated (RFC 8176), for `amr` and `acr`.
    #[serde(default)]
    pub amr: Vec<String>,
}

/// Claims of an ID token (OpenID Connect Core section 2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    pub sid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    /// The level the sign-in reached (`urn:gatehouse:loa:1fa` or `...:2fa`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// How the user authenticated (RFC 8176: `pwd`, `otp`, `mfa`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    #[serde(flatten)]
    pub profile: ProfileClaims,
}

/// Claims released by scope: `profile` gives the username, `email` the address.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProfileClaims {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

impl ProfileClaims {
    pub fn for_scope(user: &crate::store::entities::users::Model, scope: &str) -> Self {
        let has = |s: &str| scope.split(' ').any(|x| x == s);
        Self {
            preferred_username: has("profile").then(|| user.username.clone()),
            email: if has("email") { user.email.clone() } else { None },
            email_verified: (has("email") && user.email.is_some()).then_some(user.email_verified),
        }
    }
}

/// `at_hash`: the left half of the SHA-256 of the access token, base64url (RS256 ID tokens).
pub fn at_hash(access_token: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access_token.as_bytes());
    crate::crypto::b64url(&digest.as_ref()[..16])
}

/// Whether `client` must use PKCE: every client unless an administrator exempted a
/// confidential one (RFC 9700 section 2.1.1).
pub fn pkce_required(client: &crate::store::entities::clients::Model) -> bool {
    client.pkce_required || client.client_type != "confidential"
}

/// A `code_verifier` as RFC 7636 section 4.1 defines it: 43 to 128 unreserved characters.
pub fn valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// A `code_challenge` that S256 can have produced: exactly 43 characters of base64url.
pub fn valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// PKCE S256: `BASE64URL(SHA256(verifier)) == challenge`, compared in constant time.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    if !valid_verifier(verifier) {
        return false;
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    let computed = crate::crypto::b64url(digest.as_ref());
    aws_lc_rs::constant_time::verify_slices_are_equal(computed.as_bytes(), challenge.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_follows_the_rfc_7636_example() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(pkce_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert!(!pkce_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"));
        assert!(!pkce_matches("short", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
    }

    #[test]
    fn only_what_s256_produces_is_a_challenge() {
        assert!(valid_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        for bad in [
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cMx",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c=",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw.cM",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw~cM",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cé",
        ] {
            assert!(!valid_challenge(bad), "{bad}");
        }
        assert!(valid_verifier(&"a".repeat(43)) && valid_verifier(&"~._-".repeat(32)));
        assert!(!valid_verifier(&"a".repeat(42)) && !valid_verifier(&"a".repeat(129)));
        assert!(!valid_verifier(&format!("{}+", "a".repeat(43))));
    }
}
