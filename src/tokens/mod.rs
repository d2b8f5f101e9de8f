//! Access tokens (JWT, per-tenant keys), refresh tokens (opaque, hashed) and revocation.
use serde::{Deserialize, Serialize};

pub mod keys;
pub mod refresh;
pub mod revocation;
pub mod verify;

pub use crate::domain::Algorithm;

/// RFC 9068 media type of our access tokens; tokens of another type are refused.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
    /// The session; absent for client-credentials tokens, which have none. Absent claims are
    /// left out rather than sent empty, so no consumer mistakes `""` for a value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// The client the token was issued to (RFC 9068); absent for first-party logins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// How the user authenticated (RFC 8176: `pwd`, or `email`); absent without a user.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
}

/// Why a presented access token was refused. Every variant becomes a 401.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token is too large")]
    TooLarge,
    #[error("the token was not signed by a key of this tenant")]
    UnknownKey,
    #[error("the token signature or algorithm is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued for another tenant or audience")]
    WrongIssuerOrAudience,
    #[error("the token has been revoked")]
    Revoked,
    #[error("the token names critical header extensions we do not support")]
    UnsupportedCritical,
}

impl From<TokenError> for crate::error::ApiError {
    fn from(e: TokenError) -> Self {
        Self::invalid_token(e.to_string())
    }
}
