//! Cross-site posts of the hosted forms (sign-in, sign-out confirmation). The CSRF token
//! already binds a post to the page we served; browsers also say where a post comes from,
//! and a post from another site is refused even with a valid token.
//!
//! - `Sec-Fetch-Site`: `same-origin` and `none` (typed, bookmarked) pass; `cross-site` and
//!   `same-site` do not: our forms are only ever posted by our own pages, and a sibling
//!   subdomain (user content, another app) is no more trusted than another site.
//! - `Origin`: must be the origin of `server.public_url`; `null` (sandboxed frames, some
//!   redirects) does not pass.
//!
//! A request with neither header (a non-browser client, an old browser) relies on the CSRF
//! token alone.
use poem::Request;

/// Why a form post was refused, or `None` when it may proceed.
pub(super) fn refused(req: &Request, public_url: &str) -> Option<&'static str> {
    let header = |name: &str| req.headers().get(name).map(|v| v.to_str().unwrap_or("\u{0}"));
    if let Some(site) = header("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return Some("sec-fetch-site");
    }
    if let Some(origin) = header("origin") {
        let ours = url::Url::parse(public_url).map(|u| u.origin().ascii_serialization());
        if ours.as_deref() != Ok(origin) {
            return Some("origin");
        }
    }
    None
}

/// [`refused`] for forms on pages sent with `Referrer-Policy: no-referrer` (those reached from
/// a mailed link): browsers then send `Origin: null` on the post, so `Sec-Fetch-Site` decides
/// when present, and a `null` origin without it is refused.
pub(super) fn refused_without_referrer(req: &Request, public_url: &str) -> Option<&'static str> {
    let fetch_site = req.headers().get("sec-fetch-site").map(|v| v.to_str().unwrap_or("\u{0}"));
    match fetch_site {
        Some("same-origin" | "none") => None,
        Some(_) => Some("sec-fetch-site"),
        None => refused(req, public_url),
    }
}

/// The page shown for a refused post.
pub(super) const MESSAGE: &str = "This form was sent from another site, so it was not accepted. Go back to the application and \
     start again from there.";
