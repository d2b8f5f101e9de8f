//! The one stylesheet and the one script of the hosted pages, at stable same-origin paths
//! (`style-src 'self'`, `script-src 'self'`).
use gatehouse_ui as ui;
use poem::{Response, handler, http::header};

/// `GET /assets/gatehouse.css`. Pages link it with the stylesheet's hash in the query, so a
/// changed stylesheet has a new URL and a day of caching is safe.
#[handler]
pub fn stylesheet() -> Response {
    Response::builder()
        .content_type("text/css; charset=utf-8")
        .header(header::CACHE_CONTROL, "public, max-age=86400")
        .header("X-Content-Type-Options", "nosniff")
        .body(ui::STYLESHEET)
}

/// `GET /assets/passkey.js`, linked with its hash in the query like the stylesheet.
#[handler]
pub fn passkey_script() -> Response {
    Response::builder()
        .content_type("text/javascript; charset=utf-8")
        .header(header::CACHE_CONTROL, "public, max-age=86400")
        .header("X-Content-Type-Options", "nosniff")
        .body(ui::PASSKEY_SCRIPT)
}
