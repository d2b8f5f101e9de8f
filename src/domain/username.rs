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
    use proptest::prelude::*;

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

    /// Characters where case mapping and compatibility normalisation interact: dotted and
    /// dotless i, sharp s, ligatures, fullwidth and mathematical letters, the Kelvin and Ohm
    /// signs, titlecase digraphs, combining marks, Hangul fillers, odd spaces and controls.
    const TRICKY: &[char] = &[
        'İ', 'ı', 'ß', 'ẞ', 'ﬁ', 'ﬀ', 'Ａ', 'ａ', '𝐀', '\u{212a}', '\u{2126}', 'ǅ', 'ǈ', '\u{0307}',
        '\u{0301}', 'é', 'Σ', 'ς', 'ㅤ', '\u{3164}', '\u{00a0}', '\u{2028}', '\u{200b}', '\u{feff}', '\u{0}',
        '\u{7f}', '\t', '㎆', 'Ⅻ', '①', '½', 'ﷺ',
    ];

    fn names() -> impl Strategy<Value = String> {
        let c = prop_oneof![any::<char>(), proptest::sample::select(TRICKY), proptest::char::range('a', 'z')];
        proptest::collection::vec(c, 0..80).prop_map(|cs| cs.into_iter().collect())
    }

    /// Fullwidth forms (U+FF01..U+FF5E) of printable ASCII.
    fn fullwidth(c: char) -> char {
        if ('!'..='~').contains(&c) { char::from_u32(c as u32 + 0xFEE0).unwrap_or(c) } else { c }
    }

    proptest! {
        /// Any input is either refused or becomes a valid name that parses to itself.
        #[test]
        fn normalisation_never_panics_and_is_idempotent(raw in names()) {
            if let Ok(name) = Username::parse(&raw) {
                let s = name.as_str();
                prop_assert!(!s.is_empty() && s.chars().count() <= MAX_CHARS);
                prop_assert!(!s.chars().any(|c| c.is_control() || c.is_whitespace()));
                prop_assert_eq!(Username::parse(s), Ok(name.clone()));
            }
        }

        /// Case and width variants of an ASCII name are the same account.
        #[test]
        fn case_and_width_variants_are_one_name(
            name in "[a-zA-Z0-9._-]{1,64}",
            flips in proptest::collection::vec(any::<(bool, bool)>(), 64),
        ) {
            let variant: String = name
                .chars()
                .zip(&flips)
                .map(|(c, (upper, wide))| {
                    let c = if *upper { c.to_ascii_uppercase() } else { c };
                    if *wide { fullwidth(c) } else { c }
                })
                .collect();
            prop_assert_eq!(Username::parse(&variant), Username::parse(&name.to_ascii_lowercase()));
        }
    }
}
