//! The one stylesheet of the hosted pages, at a stable same-origin path (`style-src 'self'`).
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
