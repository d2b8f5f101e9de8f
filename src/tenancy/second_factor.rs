//! The tenant's second-factor policy (settings `second_factor`).
use serde::{Deserialize, Serialize};

use crate::domain::{ValidationError, authn::Method};

/// Who must pass a second step after the first factor, and with which methods
/// ([docs](../../docs/second-factors.md)).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct SecondFactorPolicy {
    /// `off` (no enrolment, no second step), `optional` (users who enrolled pass it),
    /// `required` (everyone; users without one enrol at sign-in) or `required_for_admins`.
    pub mode: String,
    /// The methods users may enrol and use: `totp`, `recovery_code`.
    pub methods: Vec<String>,
}

impl Default for SecondFactorPolicy {
    fn default() -> Self {
        Self {
            mode: "optional".into(),
            methods: Method::ALL.iter().map(|m| m.as_str().to_string()).collect(),
        }
    }
}

impl SecondFactorPolicy {
    /// The allowed methods, in the order of [`Method::ALL`].
    pub fn allowed(&self) -> Vec<Method> {
        Method::ALL.into_iter().filter(|m| self.methods.iter().any(|s| s == m.as_str())).collect()
    }

    pub fn is_off(&self) -> bool {
        self.mode == "off"
    }

    /// Whether a user with (`admin`) or without an admin role must have a second factor.
    pub fn requires(&self, admin: bool) -> bool {
        self.mode == "required" || (self.mode == "required_for_admins" && admin)
    }

    pub(super) fn validate(&self) -> Result<(), ValidationError> {
        const FIELD: &str = "settings.second_factor";
        if !matches!(self.mode.as_str(), "off" | "optional" | "required" | "required_for_admins") {
            return Err(ValidationError::new(
                "settings.second_factor.mode",
                "must be off, optional, required or required_for_admins",
            ));
        }
        if let Some(bad) = self.methods.iter().find(|m| Method::parse(m).is_none()) {
            return Err(ValidationError::new(
                FIELD,
                format!("unknown method {bad}; known: totp, recovery_code"),
            ));
        }
        if self.methods.len() != self.allowed().len() {
            return Err(ValidationError::new(FIELD, "methods must not repeat"));
        }
        if !self.is_off() && !self.allowed().iter().any(|m| m.enrollable()) {
            return Err(ValidationError::new(FIELD, "methods must include one users can enrol (totp)"));
        }
        Ok(())
    }
}
