//! The tenant's second-factor policy (settings `second_factor`) and passkey binding (`passkeys`).
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
    /// The methods users may enrol and use: `totp`, `recovery_code`, `passkey`.
    pub methods: Vec<String>,
    /// For how many days a browser where the user ticked "Remember this device" skips the
    /// second step (0, the default: never). Such sign-ins do not claim `mfa`.
    #[serde(skip_serializing_if = "is_zero")]
    pub remember_device_days: u32,
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The longest a device may be remembered.
pub const MAX_REMEMBER_DEVICE_DAYS: u32 = 365;

impl Default for SecondFactorPolicy {
    fn default() -> Self {
        Self {
            mode: "optional".into(),
            methods: Method::ALL.iter().map(|m| m.as_str().to_string()).collect(),
            remember_device_days: 0,
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
                format!("unknown method {bad}; known: totp, recovery_code, passkey"),
            ));
        }
        if self.remember_device_days > MAX_REMEMBER_DEVICE_DAYS {
            return Err(ValidationError::new(
                "settings.second_factor.remember_device_days",
                format!("must be 0 (off) to {MAX_REMEMBER_DEVICE_DAYS}"),
            ));
        }
        if self.methods.len() != self.allowed().len() {
            return Err(ValidationError::new(FIELD, "methods must not repeat"));
        }
        if !self.is_off() && !self.allowed().iter().any(|m| m.enrollable()) {
            return Err(ValidationError::new(
                FIELD,
                "methods must include one users can enrol (totp or passkey)",
            ));
        }
        Ok(())
    }
}

/// How this tenant's passkeys are bound ([docs](../../docs/second-factors.md#passkeys)).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct PasskeySettings {
    /// The WebAuthn relying-party ID: the host of `server.public_url` (the default) or a parent
    /// domain of it. Passkeys are bound to it; changing it strands the ones registered before.
    pub rp_id: Option<String>,
}

impl PasskeySettings {
    /// The RP ID in force under `public_url`: the configured one, else the URL's host.
    ///
    /// # Errors
    /// The configured ID is neither the host nor a parent domain of it (browsers refuse it), or
    /// the public URL has no domain (an IP address cannot be an RP ID).
    pub fn rp_id_for(&self, public_url: &str) -> Result<String, ValidationError> {
        let host = url::Url::parse(public_url).ok().and_then(|u| u.domain().map(str::to_ascii_lowercase));
        let Some(host) = host else {
            return Err(ValidationError::new(
                "server.public_url",
                "passkeys need a public URL with a host name (not an IP address)",
            ));
        };
        match &self.rp_id {
            None => Ok(host),
            Some(id) if host == *id || host.ends_with(&format!(".{id}")) => Ok(id.clone()),
            Some(_) => Err(ValidationError::new(
                "settings.passkeys.rp_id",
                format!("must be {host} or a parent domain of it (the public URL's host)"),
            )),
        }
    }

    pub(super) fn validate(&self) -> Result<(), ValidationError> {
        let Some(id) = &self.rp_id else { return Ok(()) };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if id.len() > 253 || !id.split('.').all(label_ok) {
            return Err(ValidationError::new(
                "settings.passkeys.rp_id",
                "must be a lower-case host name such as example.com (the public URL's host or a parent domain of it)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rp_id_is_the_public_host_or_a_parent_domain_of_it() {
        let none = PasskeySettings::default();
        assert_eq!(none.rp_id_for("https://id.example.com/base").unwrap(), "id.example.com");
        assert_eq!(none.rp_id_for("http://localhost:8080").unwrap(), "localhost");
        assert!(none.rp_id_for("http://127.0.0.1:8080").is_err(), "an IP address is no RP ID");
        let parent = PasskeySettings { rp_id: Some("example.com".into()) };
        assert_eq!(parent.rp_id_for("https://id.example.com").unwrap(), "example.com");
        assert!(parent.rp_id_for("https://id.notexample.com").is_err());
        assert!(parent.rp_id_for("https://example.org").is_err());
        for bad in ["Example.com", "-a.com", "a..com", "a_b.com", "a.com."] {
            assert!(PasskeySettings { rp_id: Some(bad.into()) }.validate().is_err(), "{bad}");
        }
        assert!(parent.validate().is_ok());
    }
}
