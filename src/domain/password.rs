//! Password policy: length bounds and a list of common passwords, no composition rules
//! (NIST SP 800-63B). Lengths are counted in characters.
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// Never accept more than this, whatever a tenant configures: hashing cost is bounded.
pub const HARD_MAX_CHARS: u32 = 1024;

static COMMON: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| include_str!("../../assets/common-passwords.txt").lines().collect());

/// True when `candidate` (or its lower-case form) is on the shipped list of common passwords.
pub fn is_common(candidate: &str) -> bool {
    let lower = candidate.to_lowercase();
    COMMON.binary_search(&candidate).is_ok() || COMMON.binary_search(&lower.as_str()).is_ok()
}

/// A tenant's password rules.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct PasswordPolicy {
    pub min_length: u32,
    pub max_length: u32,
    pub refuse_common: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_length: 8, max_length: 128, refuse_common: true }
    }
}

impl PasswordPolicy {
    /// # Errors
    /// Bounds that would make the policy weak or unusable.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let field = "settings.password_policy";
        if self.min_length < 8 {
            return Err(ValidationError::new(field, "min_length must be at least 8"));
        }
        if self.max_length < 64 || self.max_length > HARD_MAX_CHARS {
            return Err(ValidationError::new(field, "max_length must be between 64 and 1024"));
        }
        if self.min_length > self.max_length {
            return Err(ValidationError::new(field, "min_length must not exceed max_length"));
        }
        Ok(())
    }
}

pub struct Password(String);

impl Password {
    /// # Errors
    /// Outside the policy's length bounds, or a common password.
    pub fn parse(raw: String, policy: &PasswordPolicy) -> Result<Self, ValidationError> {
        let n = raw.chars().count();
        if n < policy.min_length as usize {
            return Err(ValidationError::new(
                "password",
                format!("must be at least {} characters", policy.min_length),
            ));
        }
        if n > policy.max_length as usize {
            return Err(ValidationError::new(
                "password",
                format!("must be at most {} characters", policy.max_length),
            ));
        }
        if policy.refuse_common && is_common(&raw) {
            return Err(ValidationError::new("password", "is too common; choose a less guessable password"));
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_list_is_sorted_so_binary_search_works() {
        assert!(COMMON.len() > 50_000);
        assert!(COMMON.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        let p = PasswordPolicy::default();
        assert!(Password::parse("password1".into(), &p).is_err());
        assert!(Password::parse("PASSWORD1".into(), &p).is_err());
        assert!(Password::parse("iloveyou".into(), &p).is_err());
        assert!(Password::parse("correct horse battery staple".into(), &p).is_ok());
    }

    #[test]
    fn lengths_follow_the_policy() {
        let p = PasswordPolicy { min_length: 10, max_length: 64, refuse_common: false };
        assert!(Password::parse("123456789".into(), &p).is_err());
        assert!(Password::parse("x".repeat(65), &p).is_err());
        assert!(Password::parse("ünïcödé-pässwörd".into(), &p).is_ok());
        assert!(PasswordPolicy { max_length: 32, ..p }.validate().is_err());
    }
}
