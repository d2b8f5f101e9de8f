//! Usernames are compared in one canonical form: NFKC, then lower-cased, then NFKC again
//! (lower-casing can denormalise). "Ａlice" and "alice" are the same account.
use unicode_normalization::UnicodeNormalization;

use super::ValidationError;

pub const MAX_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// # Errors
    /// Empty, too long, or containing whitespace or control characters.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let canonical: String = raw.trim().nfkc().collect::<String>().to_lowercase().nfkc().collect();
        let err = |m: &str| ValidationError::new("username", m);
        if canonical.is_empty() {
            return Err(err("must not be empty"));
        }
        if canonical.chars().count() > MAX_CHARS {
            return Err(err("must be at most 64 characters"));
        }
        if canonical.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(err("must not contain spaces or control characters"));
        }
        Ok(Self(canonical))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatibility_forms_and_case_map_to_one_name() {
        assert_eq!(Username::parse("Ａlice").unwrap(), Username::parse("alice").unwrap());
        assert_eq!(Username::parse("  ALICE ").unwrap().as_str(), "alice");
        assert_eq!(Username::parse("ﬁnn").unwrap().as_str(), "finn");
    }

    #[test]
    fn empty_long_and_spaced_names_are_refused() {
        assert!(Username::parse("  ").is_err());
        assert!(Username::parse("a b").is_err());
        assert!(Username::parse("a\u{0}b").is_err());
        assert!(Username::parse(&"x".repeat(65)).is_err());
        assert!(Username::parse(&"x".repeat(64)).is_ok());
    }
}
