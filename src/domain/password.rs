//! Password policy: length only (NIST SP 800-63B: no composition rules). Counted in characters.
use super::ValidationError;

pub const MIN_CHARS: usize = 8;
pub const MAX_CHARS: usize = 128;

pub struct Password(String);

impl Password {
    /// # Errors
    /// Shorter than 8 or longer than 128 characters.
    pub fn parse(raw: String) -> Result<Self, ValidationError> {
        let n = raw.chars().count();
        if n < MIN_CHARS {
            return Err(ValidationError::new("password", format!("must be at least {MIN_CHARS} characters")));
        }
        if n > MAX_CHARS {
            return Err(ValidationError::new("password", format!("must be at most {MAX_CHARS} characters")));
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
