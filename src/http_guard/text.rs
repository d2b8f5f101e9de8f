//! Control characters in request text. PostgreSQL cannot store NUL (`invalid byte sequence`)
//! and SQLite stores it silently, so text is refused at the edge the same way on both: C0
//! (U+0000-U+001F), DEL and C1 (U+007F-U+009F). Multi-line values (provider configuration and
//! secrets, which may hold PEM) may contain tab, line feed and carriage return.

/// The first forbidden character of `s`, if any.
pub fn forbidden(s: &str, multiline: bool) -> Option<char> {
    s.chars().find(|&c| {
        matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
            && !(multiline && matches!(c, '\t' | '\n' | '\r'))
    })
}

/// What a rejected character is called in an error message.
pub fn describe(c: char) -> String {
    format!("must not contain control characters (found U+{:04X})", u32::from(c))
}

/// Percent-decodes a path segment; invalid UTF-8 is replaced, so a stray byte is never a
/// control character by accident.
pub fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            // Two hex digits fit a byte.
            out.push(u8::try_from(h * 16 + l).unwrap_or(0));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first control character among urlencoded pairs: `(parameter name, character)`. A bad
/// character in a name is reported under the name as sent, lossily shown.
pub fn check_pairs(encoded: &[u8], multiline: &[&str]) -> Option<(String, char)> {
    url::form_urlencoded::parse(encoded).find_map(|(k, v)| {
        let lines = multiline.contains(&k.as_ref());
        forbidden(&k, false).or_else(|| forbidden(&v, lines)).map(|c| (visible(&k), c))
    })
}

/// Console form fields that hold one value a line (textareas), so line breaks are text there.
pub const CONSOLE_MULTILINE: &[&str] = &["redirect_uris"];

/// The first parameter that occurs more than once.
pub fn repeated(encoded: &[u8]) -> Option<String> {
    let mut seen = std::collections::HashSet::new();
    url::form_urlencoded::parse(encoded)
        .map(|(k, _)| k)
        .find(|k| !seen.insert(k.clone()))
        .map(|k| visible(&k))
}

/// `s` with control characters escaped, for naming a field in an error.
pub fn visible(s: &str) -> String {
    s.chars().take(64).flat_map(char::escape_debug).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_c1_and_del_are_forbidden_and_newlines_only_in_multiline_text() {
        assert_eq!(forbidden("a\0b", true), Some('\0'));
        assert_eq!(forbidden("a\u{85}", false), Some('\u{85}'));
        assert_eq!(forbidden("\u{7f}", false), Some('\u{7f}'));
        assert_eq!(forbidden("line\nline\ttab", false), Some('\n'));
        assert_eq!(forbidden("line\r\nline\ttab", true), None);
        assert_eq!(forbidden("Ünïcödé ✓ \u{a0}", false), None);
    }

    #[test]
    fn percent_decoding_finds_encoded_controls() {
        assert_eq!(percent_decode("a%00b"), "a\0b");
        assert_eq!(percent_decode("%C2%85"), "\u{85}");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(check_pairs(b"a=1&b=x%00", &[]), Some(("b".into(), '\0')));
        assert_eq!(check_pairs(b"a=1&b=%E2%9C%93", &[]), None);
        assert_eq!(check_pairs(b"b=x%0D%0Ay", &[]), Some(("b".into(), '\r')));
        assert_eq!(check_pairs(b"b=x%0D%0Ay", &["b"]), None);
        assert_eq!(check_pairs(b"b=x%00y", &["b"]), Some(("b".into(), '\0')));
        assert_eq!(repeated(b"a=1&b=2&a=3"), Some("a".into()));
    }
}
