//! Small cryptographic helpers on aws-lc-rs (the backend jsonwebtoken signs with): random
//! tokens, SHA-256 digests for stored token hashes, and the master key that encrypts signing
//! keys at rest with AES-256-GCM.
use aws_lc_rs::{
    aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey},
    digest, hmac, rand,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64URL, prelude::BASE64_STANDARD};

use crate::config::{ConfigError, SecretSettings};

pub mod password;

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The system RNG failing is not recoverable; aws-lc aborts in that case anyway.
    rand::fill(&mut buf).unwrap_or_else(|_| std::process::abort());
    buf
}

/// A 256-bit random opaque token, base64url, with a recognisable prefix (helps secret scanners).
pub fn random_token(prefix: &str) -> String {
    format!("{prefix}{}", B64URL.encode(random_bytes::<32>()))
}

/// 128-bit random identifier, base64url (for `jti`).
pub fn random_id() -> String {
    B64URL.encode(random_bytes::<16>())
}

/// SHA-256 as base64url: how opaque tokens are stored. A fast hash is right here because the
/// tokens carry 256 bits of entropy; a password hash would add nothing but latency.
pub fn sha256_b64(input: &str) -> String {
    B64URL.encode(digest::digest(&digest::SHA256, input.as_bytes()))
}

pub fn b64url(bytes: &[u8]) -> String {
    B64URL.encode(bytes)
}

/// Encrypts secrets at rest (signing keys now, provider secrets later).
pub struct MasterKey {
    key: LessSafeKey,
    raw: [u8; 32],
}

#[derive(Debug, thiserror::Error)]
#[error("could not decrypt a stored secret: wrong master key or corrupted data")]
pub struct DecryptError;

impl MasterKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        // A 32-byte key is always valid for AES-256-GCM.
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).unwrap_or_else(|_| std::process::abort());
        Self { key: LessSafeKey::new(unbound), raw: *bytes }
    }

    /// A fast keyed hash (HMAC-SHA256 under a key derived from the master key for `purpose`),
    /// for high-entropy secrets such as client secrets: a password hash would add latency and
    /// no security, and a plain hash would let a database reader test guesses offline.
    pub fn keyed_hash(&self, purpose: &str, value: &str) -> String {
        let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &self.raw), purpose.as_bytes());
        let key = hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref());
        B64URL.encode(hmac::sign(&key, value.as_bytes()))
    }

    /// Compares `value` with a stored [`MasterKey::keyed_hash`] in constant time.
    pub fn verify_keyed_hash(&self, purpose: &str, value: &str, stored: &str) -> bool {
        let computed = self.keyed_hash(purpose, value);
        aws_lc_rs::constant_time::verify_slices_are_equal(computed.as_bytes(), stored.as_bytes()).is_ok()
    }

    /// Output is `nonce || ciphertext || tag`. `aad` binds the ciphertext to its row.
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let mut out = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::from(aad), &mut out)
            .unwrap_or_else(|_| std::process::abort());
        let mut sealed = nonce_bytes.to_vec();
        sealed.extend_from_slice(&out);
        sealed
    }

    /// # Errors
    /// The data was not sealed with this key and `aad`.
    pub fn decrypt(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, DecryptError> {
        if sealed.len() < NONCE_LEN {
            return Err(DecryptError);
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| DecryptError)?;
        let mut buf = ct.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::from(aad), &mut buf).map_err(|_| DecryptError)?;
        Ok(plain.to_vec())
    }

    /// The configured key, or in the embedded default a key generated once into
    /// `master_key_file`.
    ///
    /// # Errors
    /// A configured key that is not base64 of 32 bytes, or a key file that cannot be used.
    pub fn load(settings: &SecretSettings) -> Result<Self, ConfigError> {
        const KEY: &str = "GATEHOUSE__SECRETS__MASTER_KEY";
        if let Some(configured) = &settings.master_key {
            return Self::parse(configured.expose())
                .ok_or_else(|| ConfigError::key(KEY, "must be base64 of exactly 32 bytes"));
        }
        let path = &settings.master_key_file;
        if let Ok(text) = std::fs::read_to_string(path) {
            return Self::parse(text.trim()).ok_or_else(|| {
                ConfigError::key(
                    "GATEHOUSE__SECRETS__MASTER_KEY_FILE",
                    format!("{} does not hold base64 of 32 bytes", path.display()),
                )
            });
        }
        let key = random_bytes::<32>();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| ConfigError::key("GATEHOUSE__SECRETS__MASTER_KEY_FILE", e))?;
        }
        write_private(path, &BASE64_STANDARD.encode(key))
            .map_err(|e| ConfigError::key("GATEHOUSE__SECRETS__MASTER_KEY_FILE", e))?;
        tracing::warn!(
            path = %path.display(),
            "no {KEY} configured: generated a master key into a local file; set {KEY} in production"
        );
        Ok(Self::from_bytes(&key))
    }

    fn parse(b64: &str) -> Option<Self> {
        let bytes = BASE64_STANDARD.decode(b64).ok()?;
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(Self::from_bytes(&arr))
    }
}

fn write_private(path: &std::path::Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(content.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_with_the_same_key_and_aad() {
        let key = MasterKey::from_bytes(&[7u8; 32]);
        let sealed = key.encrypt(b"secret", b"row-1");
        assert_eq!(key.decrypt(&sealed, b"row-1").unwrap(), b"secret");
        assert!(key.decrypt(&sealed, b"row-2").is_err());
        assert!(MasterKey::from_bytes(&[8u8; 32]).decrypt(&sealed, b"row-1").is_err());
    }

    #[test]
    fn keyed_hashes_depend_on_key_purpose_and_value() {
        let key = MasterKey::from_bytes(&[7u8; 32]);
        let h = key.keyed_hash("client-secret", "s3cret");
        assert!(key.verify_keyed_hash("client-secret", "s3cret", &h));
        assert!(!key.verify_keyed_hash("client-secret", "s3cret!", &h));
        assert!(!key.verify_keyed_hash("other", "s3cret", &h));
        assert!(!MasterKey::from_bytes(&[8u8; 32]).verify_keyed_hash("client-secret", "s3cret", &h));
    }

    #[test]
    fn random_tokens_are_distinct_and_carry_256_bits() {
        let a = random_token("x_");
        assert_ne!(a, random_token("x_"));
        assert_eq!(a.len(), 2 + 43);
    }
}
