//! Password policy: length bounds and a list of common passwords, no composition rules
//! (NIST SP 800-63B). Lengths are counted in characters.
use serde::{Deserialize, Serialize};

use super::ValidationError;

/// Never accept more than this, whatever a tenant configures: hashing cost is bounded.
pub const HARD_MAX_CHARS: u32 = 1024;

/// One password a line, sorted by bytes, each at least 8 characters (no policy accepts
/// shorter ones). Searched in place: ~5 MB of static text would cost another 8 MB as a
/// `Vec<&str>` and more as a `HashSet`, against a 30 MB idle RSS target.
static COMMON: &str = include_str!("../../assets/common-passwords.txt");

/// Binary search over the lines of the sorted text, by byte offsets. `lo` and `hi` are always
/// line starts, so each step reads the one line around the midpoint.
fn listed(word: &str) -> bool {
    let text = COMMON.as_bytes();
    let (mut lo, mut hi) = (0, text.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let start = text[..mid].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let end = text[start..].iter().position(|&b| b == b'\n').map_or(text.len(), |i| start + i);
        match text[start..end].cmp(word.as_bytes()) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => lo = end + 1,
            std::cmp::Ordering::Greater => hi = start,
        }
    }
    false
}

/// True when `candidate` (or its lower-case form) is on the shipped list of common passwords.
pub fn is_common(candidate: &str) -> bool {
    listed(candidate) || listed(&candidate.to_lowercase())
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

/// NFKC (RFC 8265 OpaqueString, NIST SP 800-63B 5.1.1.2): a password typed with composed or
/// decomposed characters, or with compatibility forms (full-width letters, no-break spaces),
/// is the same password. Every password is normalised before it is hashed or checked.
pub fn normalize(raw: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    raw.nfkc().collect()
}

/// A new password: normalised, then checked against the policy.
pub struct Password(String);

impl Password {
    /// # Errors
    /// Outside the policy's length bounds, or a common password.
    pub fn parse(raw: String, policy: &PasswordPolicy) -> Result<Self, ValidationError> {
        let raw = normalize(&raw);
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
    use std::{collections::HashSet, sync::LazyLock};

    use proptest::prelude::*;

    use super::*;

    fn entries() -> impl Iterator<Item = &'static str> {
        COMMON.lines()
    }

    #[test]
    fn the_shipped_list_has_100k_sorted_entries_a_policy_could_otherwise_accept() {
        assert!(entries().count() >= 100_000, "{}", entries().count());
        assert!(entries().zip(entries().skip(1)).all(|(a, b)| a < b), "sorted by bytes, no duplicates");
        assert!(entries().all(|p| p.chars().count() >= 8));
        assert!(COMMON.ends_with('\n'));
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        let p = PasswordPolicy::default();
        // From both sources (rockyou and the 10-million list), the first and last entries.
        for common in
            ["password1", "PASSWORD1", "iloveyou", "qwertyuiop", "minecraft", "31415926", "lifehack"]
        {
            assert!(Password::parse(common.into(), &p).is_err(), "{common}");
        }
        let (first, last) = (entries().next().unwrap(), entries().last().unwrap());
        assert!(is_common(first) && is_common(last));
        assert!(Password::parse("correct horse battery staple".into(), &p).is_ok());
        assert!(Password::parse("Gatehouse-staple-7-orbit-lantern".into(), &p).is_ok());
    }

    #[test]
    fn lengths_follow_the_policy() {
        let p = PasswordPolicy { min_length: 10, max_length: 64, refuse_common: false };
        assert!(Password::parse("123456789".into(), &p).is_err());
        assert!(Password::parse("x".repeat(65), &p).is_err());
        assert!(Password::parse("ünïcödé-pässwörd".into(), &p).is_ok());
        assert!(PasswordPolicy { max_length: 32, ..p }.validate().is_err());
    }

    #[test]
    fn composed_decomposed_and_compatibility_forms_are_one_password() {
        let p = PasswordPolicy::default();
        let nfc = "p\u{e4}sswort-l\u{e4}ntern-\u{f1}o";
        let nfd = "pa\u{308}sswort-la\u{308}ntern-n\u{303}o";
        assert_ne!(nfc, nfd);
        assert_eq!(Password::parse(nfd.into(), &p).unwrap().expose(), nfc);
        assert_eq!(normalize(nfc), nfc);
        // Full-width letters and a no-break space become their plain forms.
        assert_eq!(normalize("\u{ff41}\u{ff42}c\u{a0}d"), "abc d");
        // Length is counted after normalisation: 8 decomposed characters are 4 letters.
        assert!(
            Password::parse("a\u{308}".repeat(4), &PasswordPolicy { refuse_common: false, ..p }).is_err()
        );
    }

    static LINES: LazyLock<Vec<&'static str>> = LazyLock::new(|| entries().collect());
    static SET: LazyLock<HashSet<&'static str>> = LazyLock::new(|| entries().collect());

    proptest! {
        /// The in-place search agrees with a set of the same lines: for entries, for entries
        /// with one character added or removed (neighbours in sort order), and for any string.
        #[test]
        fn the_search_agrees_with_a_set(index in 0..LINES.len(), suffix in "[ -~]?", any in "\\PC{0,20}") {
            let entry = LINES[index];
            prop_assert!(listed(entry));
            let longer = format!("{entry}{suffix}");
            let shorter = &entry[..entry.char_indices().last().map_or(0, |(i, _)| i)];
            for probe in [longer.as_str(), shorter, any.as_str()] {
                prop_assert_eq!(listed(probe), SET.contains(probe), "{:?}", probe);
            }
        }
    }
}
