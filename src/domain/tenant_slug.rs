//! Tenant slugs: the path segment under `/t/`, also used in metrics labels and logs.

/// Slugs are lower-case letters, digits and inner hyphens, 1 to 63 characters.
pub fn valid_slug(slug: &str) -> bool {
    let bytes = slug.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
}
