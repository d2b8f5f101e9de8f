//! Argon2id hashing on blocking threads, at most `max_concurrent_hashes` at once, so a login
//! flood queues up instead of starving the async runtime or exhausting memory.
//!
//! Verifications reuse one Argon2 memory buffer per permit. Allocating 19 MiB per login made
//! glibc keep freed buffers in per-thread arenas: resident memory grew to ~865 MiB after a
//! login flood (docs/performance.md). With the pool it stays at permits x 19 MiB.
//!
//! Hashes brought from other systems by `gatehouse tenant import` (bcrypt, scrypt, PBKDF2,
//! Argon2i: [`legacy`]) are verified on the same pool and, like Argon2id hashes with other
//! parameters, report [`PasswordHasher::needs_rehash`], so the first successful login replaces
//! them with an Argon2id hash of the current parameters.
use std::sync::{Arc, Mutex};

use argon2::{Argon2, Block, PasswordHash, PasswordHasher as _};
use tokio::sync::Semaphore;

use crate::config::PasswordSettings;

pub mod legacy;

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
    /// Argon2 working memory, one buffer per permit, allocated on first use.
    buffers: Arc<Mutex<Vec<Vec<Block>>>>,
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
        let permits = match settings.max_concurrent_hashes {
            0 => std::thread::available_parallelism().map(usize::from).unwrap_or(2),
            n => n,
        };
        let current_prefix = format!(
            "$argon2id$v=19$m={},t={},p={}$",
            settings.argon2_memory_kib, settings.argon2_iterations, settings.argon2_parallelism
        );
        Ok(Self {
            argon: Arc::new(argon),
            verifications: std::sync::atomic::AtomicU64::new(0),
            permits: Arc::new(Semaphore::new(permits)),
            dummy_hash: dummy_hash(&current_prefix).into(),
            current_prefix,
            buffers: Arc::new(Mutex::new(Vec::new())),
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

    /// Whether a stored hash was made with other parameters or another algorithm (every
    /// imported bcrypt, scrypt, PBKDF2 or Argon2i hash) and should be replaced the next time
    /// its password is known.
    pub fn needs_rehash(&self, stored: &str) -> bool {
        !stored.starts_with(&self.current_prefix)
    }

    pub fn verifications(&self) -> u64 {
        self.verifications.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Checks a password as typed: its normalised form (see
    /// [`crate::domain::password::normalize`]) first, then, when that differs, the raw form,
    /// which hashes stored before passwords were normalised were made of. Returns whether it
    /// matched and whether it matched only in the raw form (so the hash should be replaced).
    /// Unknown users take the same verifications as known ones.
    ///
    /// # Errors
    /// The blocking pool failed.
    pub async fn verify_typed(
        &self,
        typed: String,
        stored: Option<String>,
    ) -> Result<(bool, bool), HashError> {
        let normalized = crate::domain::password::normalize(&typed);
        if self.verify(normalized.clone(), stored.clone()).await? {
            return Ok((true, false));
        }
        if normalized == typed {
            return Ok((false, false));
        }
        let raw = self.verify(typed, stored).await?;
        Ok((raw, raw))
    }

    /// True when `password` matches `stored`; with no stored hash it verifies against a dummy
    /// hash and returns false, taking the same time. Sign-ins use [`Self::verify_typed`].
    ///
    /// # Errors
    /// The blocking pool failed.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, HashError> {
        self.verifications.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let known = stored.is_some();
        let hash: Arc<str> = stored.map_or_else(|| self.dummy_hash.clone(), Arc::from);
        let buffers = self.buffers.clone();
        let ok = self
            .run(move || {
                // Taken under the permit, so there are never more buffers than permits.
                let mut memory = lock(&buffers).pop().unwrap_or_default();
                let ok = verify_stored(&mut memory, password.as_bytes(), &hash);
                lock(&buffers).push(memory);
                ok
            })
            .await?;
        Ok(ok && known)
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        let _permit =
            self.permits.clone().acquire_owned().await.map_err(|e| HashError::Hash(e.to_string()))?;
        tokio::task::spawn_blocking(f).await.map_err(|e| HashError::Hash(e.to_string()))
    }
}

/// A PHC string with the current parameters, a random salt and a random "hash" that no
/// password produces: verifying against it costs exactly one hash, like a real user's. Built,
/// not computed, so starting an instance hashes nothing (a 19 MiB hash at start also made
/// glibc keep the next one resident: +19 MiB idle RSS, see docs/performance.md).
fn dummy_hash(current_prefix: &str) -> String {
    use base64::{Engine as _, engine::general_purpose::STANDARD_NO_PAD};
    let salt = STANDARD_NO_PAD.encode(crate::crypto::random_bytes::<16>());
    let output = STANDARD_NO_PAD.encode(crate::crypto::random_bytes::<32>());
    format!("{current_prefix}{salt}${output}")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Checks that `stored` is a hash this hasher verifies: an Argon2id or Argon2i PHC string, or
/// one of the [`legacy`] formats within its bounds. Returns the format's name.
///
/// # Errors
/// A sentence naming the format (never quoting salt or hash) and what is wrong with it.
pub fn check_stored(stored: &str) -> Result<&str, String> {
    let name = legacy::format_name(stored);
    if let Some(algorithm @ ("argon2id" | "argon2i")) = name {
        let parsed =
            PasswordHash::new(stored).map_err(|e| format!("{algorithm} hash: not a PHC string: {e}"))?;
        argon2::Params::try_from(&parsed)
            .map_err(|e| format!("{algorithm} hash: unusable parameters: {e}"))?;
        if parsed.hash.is_none() || parsed.salt.is_none() {
            return Err(format!("{algorithm} hash: no salt or no hash"));
        }
        return Ok(algorithm);
    }
    legacy::parse(stored)?;
    Ok(name.unwrap_or_default())
}

/// Verifies `password` against any stored hash [`check_stored`] accepts; false for anything
/// else.
fn verify_stored(memory: &mut Vec<Block>, password: &[u8], stored: &str) -> bool {
    if stored.starts_with("$argon2") {
        return verify_in(memory, password, stored);
    }
    legacy::parse(stored).is_ok_and(|parsed| legacy::verify(&parsed, stored, password))
}

/// Verifies `password` against a PHC string using `memory` as Argon2's working memory (grown
/// if the stored hash asks for more). Compares in constant time.
fn verify_in(memory: &mut Vec<Block>, password: &[u8], stored: &str) -> bool {
    let Ok(phc) = PasswordHash::new(stored) else { return false };
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else { return false };
    let (Ok(algorithm), Ok(params)) =
        (argon2::Algorithm::new(phc.algorithm.as_str()), argon2::Params::try_from(&phc))
    else {
        return false;
    };
    let version = match phc.version.map(argon2::Version::try_from) {
        None => argon2::Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let expected = expected.as_bytes();
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params);
    argon.hash_password_into_with_memory(password, salt.as_ref(), &mut out, &mut memory[..blocks]).is_ok()
        && aws_lc_rs::constant_time::verify_slices_are_equal(&out, expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_has_the_current_parameters_and_takes_a_full_verification() {
        let prefix = "$argon2id$v=19$m=8,t=1,p=1$";
        let dummy = dummy_hash(prefix);
        let phc = PasswordHash::new(&dummy).unwrap();
        let params = argon2::Params::try_from(&phc).unwrap();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost(), params.output_len()),
            (8, 1, 1, Some(32))
        );
        assert!(dummy.starts_with(prefix));
        let mut memory = Vec::new();
        assert!(!verify_in(&mut memory, b"", &dummy));
        assert_eq!(memory.len(), 8, "the full Argon2 computation ran");
    }

    #[test]
    fn pooled_verification_agrees_with_the_library() {
        let params = argon2::Params::new(8, 1, 1, None).unwrap();
        let argon = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let stored = argon.hash_password(b"correct horse").unwrap().to_string();
        let mut memory = Vec::new();
        assert!(verify_in(&mut memory, b"correct horse", &stored));
        assert!(!verify_in(&mut memory, b"correct horsf", &stored));
        assert!(!verify_in(&mut memory, b"correct horse", "not a phc string"));
        assert!(!verify_in(&mut memory, b"correct horse", &stored.replace("argon2id", "argon2x")));
        // A buffer sized for bigger parameters is reused for smaller ones.
        let big = Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(64, 1, 1, None).unwrap(),
        );
        let stored_big = big.hash_password(b"pw").unwrap().to_string();
        assert!(verify_in(&mut memory, b"pw", &stored_big));
        assert_eq!(memory.len(), 64);
        assert!(verify_in(&mut memory, b"correct horse", &stored));
    }

    #[test]
    fn argon2i_and_legacy_hashes_verify_on_the_same_path_and_need_a_rehash() {
        let hasher = PasswordHasher::new(&PasswordSettings {
            argon2_memory_kib: 8,
            argon2_iterations: 1,
            argon2_parallelism: 1,
            ..PasswordSettings::default()
        })
        .unwrap();
        let argon2i = Argon2::new(
            argon2::Algorithm::Argon2i,
            argon2::Version::V0x13,
            argon2::Params::new(8, 1, 1, None).unwrap(),
        )
        .hash_password(b"pw")
        .unwrap()
        .to_string();
        // passlib 1.7.4: pbkdf2_sha256.using(rounds=1000).hash("passlib password").
        let pbkdf2 = "$pbkdf2-sha256$1000$8D4HIOQcgxCiVCrlHIPQ.g$MT4fnsgKX9nBtwHZvA96uvZh56lxMK/L/j//2guW7nE";
        let mut memory = Vec::new();
        assert_eq!(check_stored(&argon2i), Ok("argon2i"));
        assert!(verify_stored(&mut memory, b"pw", &argon2i));
        assert!(!verify_stored(&mut memory, b"pW", &argon2i));
        assert_eq!(check_stored(pbkdf2), Ok("pbkdf2-sha256"));
        assert!(verify_stored(&mut memory, b"passlib password", pbkdf2));
        assert!(!verify_stored(&mut memory, b"passlib passwore", pbkdf2));
        assert!(hasher.needs_rehash(&argon2i) && hasher.needs_rehash(pbkdf2));
        let argon2d = argon2i.replacen("argon2i", "argon2d", 1);
        assert!(check_stored(&argon2d).unwrap_err().contains("\"argon2d\""));
    }
}
