//! Argon2id hashing on blocking threads, at most `max_concurrent_hashes` at once, so a login
//! flood queues up instead of starving the async runtime or exhausting memory.
use std::sync::Arc;

use argon2::{Argon2, PasswordHasher as _, PasswordVerifier as _};
use tokio::sync::Semaphore;

use crate::config::PasswordSettings;

pub struct PasswordHasher {
    argon: Arc<Argon2<'static>>,
    /// Verifications started: lets tests prove a locked login computes no hash.
    verifications: std::sync::atomic::AtomicU64,
    permits: Arc<Semaphore>,
    /// Verified against when the user does not exist, so both paths cost one hash.
    dummy_hash: Arc<str>,
    /// The PHC prefix of hashes made with the current parameters, e.g.
    /// `$argon2id$v=19$m=19456,t=2,p=1$`.
    current_prefix: String,
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
    #[error("hashing failed: {0}")]
    Hash(String),
}

impl PasswordHasher {
    /// # Errors
    /// The parameters are not valid for argon2.
    pub fn new(settings: &PasswordSettings) -> Result<Self, HashError> {
        let params = argon2::Params::new(
            settings.argon2_memory_kib,
            settings.argon2_iterations,
            settings.argon2_parallelism,
            None,
        )
        .map_err(|e| HashError::Params(e.to_string()))?;
        let argon = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let dummy = crate::crypto::random_token("");
        let dummy_hash =
            argon.hash_password(dummy.as_bytes()).map_err(|e| HashError::Hash(e.to_string()))?.to_string();
        let permits = match settings.max_concurrent_hashes {
            0 => std::thread::available_parallelism().map(usize::from).unwrap_or(2),
            n => n,
        };
        Ok(Self {
            argon: Arc::new(argon),
            verifications: std::sync::atomic::AtomicU64::new(0),
            permits: Arc::new(Semaphore::new(permits)),
            current_prefix: format!(
                "$argon2id$v=19$m={},t={},p={}$",
                settings.argon2_memory_kib, settings.argon2_iterations, settings.argon2_parallelism
            ),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// # Errors
    /// Hashing failed (should not happen with valid parameters).
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let argon = self.argon.clone();
        self.run(move || argon.hash_password(password.as_bytes()).map(|h| h.to_string()))
            .await?
            .map_err(|e| HashError::Hash(e.to_string()))
    }

    /// True when `password` matches `stored`; with no stored hash it verifies against a dummy
    /// hash and returns false, taking the same time.
    ///
    /// # Errors
    /// The blocking pool failed.
    /// Whether a stored hash was made with other parameters (or another algorithm) and should
    /// be replaced the next time its password is known.
    pub fn needs_rehash(&self, stored: &str) -> bool {
        !stored.starts_with(&self.current_prefix)
    }

    pub fn verifications(&self) -> u64 {
        self.verifications.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, HashError> {
        self.verifications.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let argon = self.argon.clone();
        let known = stored.is_some();
        let hash: Arc<str> = stored.map_or_else(|| self.dummy_hash.clone(), Arc::from);
        let ok = self.run(move || argon.verify_password(password.as_bytes(), &*hash).is_ok()).await?;
        Ok(ok && known)
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        let _permit =
            self.permits.clone().acquire_owned().await.map_err(|e| HashError::Hash(e.to_string()))?;
        tokio::task::spawn_blocking(f).await.map_err(|e| HashError::Hash(e.to_string()))
    }
}
