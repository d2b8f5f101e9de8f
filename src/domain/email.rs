//! A deliberately small email check: shape only; ownership is proven by verification, not syntax.
use super::ValidationError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// # Errors
    /// Not of the form `local@domain.tld`, or longer than 254 characters.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let s = raw.trim();
        let err = || ValidationError::new("email", "must be an email address like name@example.com");
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(err)?;
        if local.is_empty() || local.contains('@') || domain.len() < 3 || !domain.contains('.') {
            return Err(err());
        }
        if domain.starts_with('.') || domain.ends_with('.') {
            return Err(err());
        }
        // Lower-cased whole: mailbox names are case-insensitive in practice, and one form makes
        // lookups and prefix searches behave the same on every database.
        Ok(Self(s.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_addresses_and_lowercases_them() {
        assert_eq!(Email::parse("Ann@Example.COM").unwrap().as_str(), "ann@example.com");
    }

    #[test]
    fn refuses_what_cannot_be_an_address() {
        for bad in ["", "ann", "ann@", "@example.com", "ann@localhost", "a b@example.com", "ann@.com"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
