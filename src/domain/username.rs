//! Usernames are compared in one canonical form: NFKC, then lower-cased, then NFKC again
//! (lower-casing can denormalise). "Ａlice" and "alice" are the same account.
//!
//! New names also follow rules in the spirit of the PRECIS UsernameCaseMapped profile
//! (RFC 8265), so that no name can be registered that renders like another: no invisible
//! (default-ignorable) or direction-changing code points, only letters, marks, digits and ASCII
//! punctuation, letters from one script, and no all-Cyrillic or all-Greek spelling of a Latin name.
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

use super::ValidationError;

pub const MAX_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// A name for a new account (registration, admin creation, import, upstream sign-ins).
    ///
    /// # Errors
    /// Empty, too long, with whitespace, control, invisible or bidi characters, symbols,
    /// mixed scripts, or a name that spells a Latin name in look-alike letters.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let name = Self::lookup(raw)?;
        let err = |m: &str| ValidationError::new("username", m);
        let s = name.as_str();
        if s.chars().any(|c| is_default_ignorable(c) || is_bidi_control(c)) {
            return Err(err("must not contain invisible or text-direction characters"));
        }
        if let Some(c) = s.chars().find(|&c| !allowed(c)) {
            return Err(err(&format!(
                "may contain only letters, digits, combining marks and ASCII punctuation, not U+{:04X}",
                u32::from(c)
            )));
        }
        if s.chars().next().is_some_and(|c| c.general_category_group() == GeneralCategoryGroup::Mark) {
            return Err(err("must not start with a combining mark"));
        }
        let mut scripts = s.chars().filter_map(script_of);
        if let Some(first) = scripts.next() {
            if let Some(other) = scripts.find(|&x| x != first) {
                return Err(err(&format!(
                    "must not mix letters of different scripts ({} and {})",
                    first.name(),
                    other.name()
                )));
            }
            let letters = || s.chars().filter(|c| script_of(*c).is_some());
            if matches!(first, Script::Cyrillic | Script::Greek) && letters().all(looks_latin) {
                return Err(err("looks like a Latin name written in Cyrillic or Greek letters"));
            }
        }
        Ok(name)
    }

    /// The canonical form of a name as typed at sign-in or in a search: normalisation only, so
    /// accounts created before the rules of [`Self::parse`] keep signing in.
    ///
    /// # Errors
    /// Empty, too long, or containing whitespace or control characters.
    pub fn lookup(raw: &str) -> Result<Self, ValidationError> {
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

/// Letters, marks and digits of any script; punctuation and symbols only from printable ASCII.
fn allowed(c: char) -> bool {
    c.is_ascii_graphic()
        || matches!(
            c.general_category_group(),
            GeneralCategoryGroup::Letter | GeneralCategoryGroup::Mark | GeneralCategoryGroup::Number
        )
}

/// Unicode's Default_Ignorable_Code_Point: rendered as nothing, so "al\u{AD}ice" looks like
/// "alice".
fn is_default_ignorable(c: char) -> bool {
    matches!(u32::from(c),
        0x00AD | 0x034F | 0x061C | 0x115F..=0x1160 | 0x17B4..=0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F | 0xFEFF
        | 0xFFA0 | 0xFFF0..=0xFFF8 | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0000..=0xE0FFF)
}

/// Marks and overrides that change the display order of the text around them.
fn is_bidi_control(c: char) -> bool {
    matches!(u32::from(c), 0x061C | 0x200E | 0x200F | 0x202A..=0x202E | 0x2066..=0x2069)
}

/// A coarse script classifier: enough to refuse names that mix look-alike alphabets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    Latin,
    Greek,
    Cyrillic,
    Armenian,
    Hebrew,
    Arabic,
    Indic,
    Thai,
    /// Han, kana and Hangul, which Japanese and Korean names mix.
    EastAsian,
    Other,
}

impl Script {
    fn name(self) -> &'static str {
        match self {
            Self::Latin => "Latin",
            Self::Greek => "Greek",
            Self::Cyrillic => "Cyrillic",
            Self::Armenian => "Armenian",
            Self::Hebrew => "Hebrew",
            Self::Arabic => "Arabic",
            Self::Indic => "Indic",
            Self::Thai => "Thai",
            Self::EastAsian => "East Asian",
            Self::Other => "another script",
        }
    }
}

/// The script of a letter or non-ASCII digit; `None` for what every script shares (ASCII
/// digits and punctuation, combining marks).
fn script_of(c: char) -> Option<Script> {
    let group = c.general_category_group();
    if c.is_ascii() && !c.is_ascii_alphabetic() || group == GeneralCategoryGroup::Mark {
        return None;
    }
    if !matches!(group, GeneralCategoryGroup::Letter | GeneralCategoryGroup::Number) {
        return None;
    }
    Some(match u32::from(c) {
        0x0041..=0x024F
        | 0x0250..=0x02AF
        | 0x1D00..=0x1DBF
        | 0x1E00..=0x1EFF
        | 0x2C60..=0x2C7F
        | 0xA720..=0xA7FF
        | 0xAB30..=0xAB6F
        | 0xFF21..=0xFF5A => Script::Latin,
        0x0370..=0x03FF | 0x1F00..=0x1FFF => Script::Greek,
        0x0400..=0x052F | 0x1C80..=0x1C8F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F => Script::Cyrillic,
        0x0530..=0x058F => Script::Armenian,
        0x0590..=0x05FF => Script::Hebrew,
        0x0600..=0x06FF | 0x0750..=0x077F | 0x08A0..=0x08FF | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF => {
            Script::Arabic
        }
        0x0900..=0x0DFF => Script::Indic,
        0x0E00..=0x0E7F => Script::Thai,
        0x1100..=0x11FF
        | 0x3040..=0x30FF
        | 0x3130..=0x318F
        | 0x31A0..=0x31FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xAC00..=0xD7AF
        | 0xF900..=0xFAFF
        | 0x20000..=0x3134F => Script::EastAsian,
        _ => Script::Other,
    })
}

/// Lower-case Cyrillic and Greek letters that render like Latin ones (Unicode confusables).
fn looks_latin(c: char) -> bool {
    matches!(
        c,
        'а' | 'в'
            | 'е'
            | 'к'
            | 'м'
            | 'н'
            | 'о'
            | 'р'
            | 'с'
            | 'т'
            | 'у'
            | 'х'
            | 'і'
            | 'ј'
            | 'ѕ'
            | 'ԁ'
            | 'һ'
            | 'ԛ'
            | 'ԝ'
            | 'ү'
            | 'ӏ'
            | 'α'
            | 'ι'
            | 'κ'
            | 'ν'
            | 'ο'
            | 'ρ'
            | 'τ'
            | 'υ'
            | 'χ'
    )
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
    fn invisible_and_direction_changing_characters_are_refused() {
        for name in [
            "al\u{200b}ice",
            "al\u{200d}ice",
            "al\u{ad}ice",
            "alice\u{feff}",
            "al\u{2060}ice",
            "\u{202e}ecila",
            "al\u{2066}ice\u{2069}",
            "al\u{200f}ice",
            "al\u{34f}ice",
            "al\u{fe0f}ice",
            "al\u{3164}ice",
            "al\u{e0041}ice",
        ] {
            let e = Username::parse(name).unwrap_err();
            assert_eq!(e.field, "username", "{name:?}");
            // Existing accounts keep signing in whatever their name: lookups only normalise.
            assert!(Username::lookup(name).is_ok(), "{name:?}");
        }
    }

    #[test]
    fn names_mixing_scripts_are_refused() {
        for name in ["\u{430}lice", "p\u{430}ypal", "g\u{3bf}\u{3bf}gle", "\u{432}\u{43e}b-bob", "\u{5d0}a"] {
            let e = Username::parse(name).unwrap_err();
            assert!(e.message.contains("scripts"), "{name:?}: {}", e.message);
        }
    }

    #[test]
    fn an_all_cyrillic_spelling_of_a_latin_name_is_refused() {
        // "рау" and "сосо" in Cyrillic render as "pay" and "coco".
        assert!(Username::parse("\u{440}\u{430}\u{443}").is_err());
        assert!(Username::parse("\u{441}\u{43e}\u{441}\u{43e}").is_err());
    }

    #[test]
    fn names_in_one_script_with_digits_and_ascii_punctuation_are_accepted() {
        for name in [
            "alice",
            "bob.smith_2",
            "j-doe",
            "zoë",
            "\u{441}\u{430}\u{448}\u{430}",
            "\u{3b1}\u{3bb}\u{3ad}\u{3be}\u{3b7}\u{3c2}",
            "\u{5d3}\u{5d5}\u{5d3}",
            "\u{627}\u{62d}\u{645}\u{62f}",
            "\u{92e}\u{94b}\u{939}\u{928}",
            "\u{7530}\u{4e2d}\u{3055}\u{3093}",
            "\u{bbfc}\u{c900}",
            "alice@example.com",
            "ivan1990",
        ] {
            assert!(Username::parse(name).is_ok(), "{name:?}: {:?}", Username::parse(name));
        }
    }

    #[test]
    fn symbols_and_leading_marks_are_refused() {
        for name in ["alice\u{2605}", "\u{1f600}", "\u{301}alice", "al\u{2044}ce"] {
            assert!(Username::parse(name).is_err(), "{name:?}");
        }
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
            if let Ok(name) = Username::lookup(&raw) {
                prop_assert_eq!(Username::lookup(name.as_str()), Ok(name.clone()));
            }
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
