//! How a user authenticated: the methods of a second step, the `amr` values (RFC 8176) a
//! sign-in achieved, and the `acr` level they add up to. Plain values, no I/O, so tokens, the
//! authorization flow and the tenant policy agree on one vocabulary.

/// A second-step method. A passkey method is added here, with its `amr` values, and the rest
/// (policy, challenge records, discovery) follows from this list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// RFC 6238 codes from an authenticator app.
    Totp,
    /// One of the ten single-use codes issued with the first enrolment.
    RecoveryCode,
    /// A WebAuthn passkey, with user verification (a PIN or biometric on the authenticator).
    Passkey,
}

impl Method {
    pub const ALL: [Self; 3] = [Self::Totp, Self::RecoveryCode, Self::Passkey];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
            Self::Passkey => "passkey",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether a user can enrol this method by itself (recovery codes come with another one).
    pub fn enrollable(self) -> bool {
        matches!(self, Self::Totp | Self::Passkey)
    }

    /// The RFC 8176 value a successful use adds (besides `mfa`): codes are one-time passwords;
    /// a passkey proves a key, `hwk` here and `swk` when synced (see [`passkey_amr`]).
    pub fn amr(self) -> &'static str {
        match self {
            Self::Totp | Self::RecoveryCode => AMR_OTP,
            Self::Passkey => AMR_HWK,
        }
    }
}

/// RFC 8176 `pwd`: a password.
pub const AMR_PWD: &str = "pwd";
/// RFC 8176 `otp`: a one-time password (TOTP or a recovery code).
pub const AMR_OTP: &str = "otp";
/// RFC 8176 `mfa`: more than one factor.
pub const AMR_MFA: &str = "mfa";
/// RFC 8176 `hwk`: proof of possession of a hardware-secured key (a device-bound passkey).
pub const AMR_HWK: &str = "hwk";
/// RFC 8176 `swk`: proof of possession of a software-secured key (a synced passkey, whose
/// private key leaves the device for the provider's cloud).
pub const AMR_SWK: &str = "swk";
/// RFC 8176 `user`: the user was verified on the authenticator (PIN or biometric).
pub const AMR_USER: &str = "user";

/// A single factor (a password, or an upstream provider's word).
pub const ACR_1FA: &str = "urn:gatehouse:loa:1fa";
/// A first factor and a second step.
pub const ACR_2FA: &str = "urn:gatehouse:loa:2fa";
/// What discovery lists in `acr_values_supported`, weakest first.
pub const ACR_VALUES: [&str; 2] = [ACR_1FA, ACR_2FA];

/// The level of an `acr` value we know: 1 or 2; `None` for values of others.
pub fn acr_level(acr: &str) -> Option<u8> {
    match acr {
        ACR_1FA => Some(1),
        ACR_2FA => Some(2),
        _ => None,
    }
}

/// The `acr` a sign-in with these `amr` values reached.
pub fn acr_for(amr: &[String]) -> &'static str {
    if amr.iter().any(|a| a == AMR_MFA) { ACR_2FA } else { ACR_1FA }
}

/// `amr` after a second step by `method` on top of `first`: the method's value and `mfa`.
pub fn with_second_factor(first: &[String], method: Method) -> Vec<String> {
    let mut amr = first.to_vec();
    for v in [method.amr(), AMR_MFA] {
        if !amr.iter().any(|a| a == v) {
            amr.push(v.to_string());
        }
    }
    amr
}

/// What a passkey use adds: the key (`hwk`, or `swk` for a synced, backup-eligible passkey)
/// and `user`. User verification is always required, so with the key it is two factors.
pub fn passkey_amr(synced: bool) -> [&'static str; 2] {
    [if synced { AMR_SWK } else { AMR_HWK }, AMR_USER]
}

/// `amr` after a passkey on top of `first` (nothing for a passkey sign-in, `pwd` for a second
/// step): the key, `user` and `mfa`, each once.
pub fn with_passkey(first: &[String], synced: bool) -> Vec<String> {
    let mut amr = first.to_vec();
    for v in passkey_amr(synced).into_iter().chain([AMR_MFA]) {
        if !amr.iter().any(|a| a == v) {
            amr.push(v.to_string());
        }
    }
    amr
}

/// The level a client asked for with `acr_values` (a preference list: any value will do, so the
/// weakest known one counts); `None` when it named no value we know.
pub fn requested_level<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<u8> {
    values.into_iter().filter_map(acr_level).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_step_adds_its_value_and_mfa_once() {
        let first = vec![AMR_PWD.to_string()];
        let amr = with_second_factor(&first, Method::Totp);
        assert_eq!(amr, ["pwd", "otp", "mfa"]);
        assert_eq!(with_second_factor(&amr, Method::RecoveryCode), amr);
        assert_eq!((acr_for(&first), acr_for(&amr)), (ACR_1FA, ACR_2FA));
    }

    #[test]
    fn the_weakest_known_requested_value_counts() {
        assert_eq!(requested_level([ACR_2FA]), Some(2));
        assert_eq!(requested_level([ACR_2FA, ACR_1FA]), Some(1));
        assert_eq!(requested_level(["urn:other", ACR_2FA]), Some(2));
        assert_eq!(requested_level(["urn:other"]), None);
        assert_eq!(Method::parse("totp"), Some(Method::Totp));
        assert_eq!(Method::parse("sms"), None);
        assert_eq!(Method::parse("passkey"), Some(Method::Passkey));
    }

    #[test]
    fn a_passkey_counts_as_two_factors_and_names_where_its_key_lives() {
        let alone = with_passkey(&[], false);
        assert_eq!(alone, ["hwk", "user", "mfa"]);
        assert_eq!(acr_for(&alone), ACR_2FA);
        let synced = with_passkey(&[AMR_PWD.to_string()], true);
        assert_eq!(synced, ["pwd", "swk", "user", "mfa"]);
        assert_eq!(with_passkey(&synced, true), synced);
        assert!(Method::Passkey.enrollable() && !Method::RecoveryCode.enrollable());
    }
}
