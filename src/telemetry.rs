//! Tracing setup (human-readable locally, JSON in production) and the request span: every log
//! line of a request carries its id, method and path, and the id is returned to the caller.
use std::sync::Arc;

use poem::{Endpoint, IntoResponse, Request, Response, http::HeaderValue};
use tracing::Instrument;
use tracing_subscriber::{EnvFilter, fmt};

use crate::config::LogSettings;

pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if settings.format == "json" { builder.json().try_init() } else { builder.try_init() };
}

pub const REQUEST_ID: &str = "x-request-id";

/// A caller's id is kept when it is short and plain (so it cannot forge log lines); otherwise
/// a new one is made.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map_or_else(crate::crypto::random_id, str::to_string)
}

pub async fn request_span<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let id = request_id(&req);
    let span = tracing::info_span!("request", id = %id, method = %req.method(), path = %req.uri().path());
    async move {
        let mut resp = ep.call(req).await?.into_response();
        tracing::debug!(status = resp.status().as_u16(), "response");
        if let Ok(v) = HeaderValue::from_str(&id) {
            resp.headers_mut().insert(REQUEST_ID, v);
        }
        Ok(resp)
    }
    .instrument(span)
    .await
}
