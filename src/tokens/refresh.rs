//! Opaque refresh tokens: 256 random bits, shown once, stored as SHA-256.

/// Fixed prefix so leaked tokens are recognisable by secret scanners. Never change it:
/// stored hashes cover the prefix.
pub const PREFIX: &str = "ghr_";

pub struct PlainRefreshToken {
    pub token: String,
    pub hash: String,
}

pub fn generate() -> PlainRefreshToken {
    let token = crate::crypto::random_token(PREFIX);
    let hash = crate::crypto::sha256_b64(&token);
    PlainRefreshToken { token, hash }
}

/// Hash of a presented token, or `None` when it cannot be one of ours (no lookup needed).
pub fn hash_presented(token: &str) -> Option<String> {
    (token.starts_with(PREFIX) && token.len() == PREFIX.len() + 43).then(|| crate::crypto::sha256_b64(token))
}
