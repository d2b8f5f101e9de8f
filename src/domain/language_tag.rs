//! Language tags for choosing a mail's language: the simple BCP 47 shapes (`en`, `de-CH`,
//! `pt-BR`, `zh-Hant`), checked by shape only.

/// Whether `tag` is a lower-case 2-3 letter language, then subtags of 2-8 letters or digits.
pub fn valid_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let lang = parts.next().unwrap_or_default();
    tag.len() <= 35
        && (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_lowercase())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_have_the_simple_bcp47_shapes() {
        for ok in ["en", "de-CH", "pt-BR", "zh-Hant"] {
            assert!(valid_language_tag(ok), "{ok}");
        }
        for bad in ["", "EN", "e", "english", "de_CH", "de-", "../en"] {
            assert!(!valid_language_tag(bad), "{bad}");
        }
    }
}
