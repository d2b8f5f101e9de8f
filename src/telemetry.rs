//! Tracing setup (human-readable locally, JSON in production), the request span and the
//! request metrics. Every log line of a request carries its id, method and tenant; the route
//! template joins once routing has picked it, and the closing `request completed` line (target
//! `gatehouse::access`) has all of them with status and duration. The id is returned to the
//! caller in `X-Request-Id`. Nothing here reads headers other than `X-Request-Id`, and the path
//! is logged without its query string, so codes and tokens in either never reach a log line.
use std::{collections::HashMap, sync::Arc, time::Instant};

use poem::{
    Endpoint, IntoResponse, PathPattern, Request, Response,
    http::{HeaderValue, header::AUTHORIZATION},
};
use tracing::Instrument;
use tracing_subscriber::{EnvFilter, fmt};

use crate::{
    config::LogSettings,
    error::ApiError,
    metrics::{self, Metrics},
    state::AppState,
};

pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    // Colours only for a person at a terminal, never in files or collected logs.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
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

/// The tenant a path addresses: `/t/{tenant}/...` or `/admin/v1/tenants/{tenant}/...`, when it
/// is a well-formed slug (anything else is not worth a log field).
fn tenant_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/t/").or_else(|| path.strip_prefix("/admin/v1/tenants/"))?;
    let slug = rest.split('/').next()?;
    crate::domain::valid_slug(slug).then_some(slug)
}

/// Route templates as the API documents them. poem-openapi registers `/t/:tenant/me` with
/// its parameters renamed (`/t/:param0/me`); this maps those back, once at start, so metric
/// labels and logs read like the spec.
#[derive(Default)]
pub struct RouteNames(HashMap<String, Arc<str>>);

impl RouteNames {
    /// From the OpenAPI document's paths (`/t/{tenant}/me`).
    pub fn from_spec(spec_json: &str) -> Self {
        let spec: serde_json::Value = serde_json::from_str(spec_json).unwrap_or_default();
        let Some(paths) = spec.get("paths").and_then(|p| p.as_object()) else { return Self::default() };
        let map = paths
            .keys()
            .map(|path| {
                let (mut registered, mut readable) = (String::new(), String::new());
                let mut n = 0;
                for segment in path.split('/').filter(|s| !s.is_empty()) {
                    match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(name) => {
                            registered.push_str(&format!("/:param{n}"));
                            readable.push_str(&format!("/:{name}"));
                            n += 1;
                        }
                        None => {
                            registered.push('/');
                            registered.push_str(segment);
                            readable.push('/');
                            readable.push_str(segment);
                        }
                    }
                }
                (registered, Arc::from(readable))
            })
            .collect();
        Self(map)
    }

    fn name(&self, pattern: Option<&PathPattern>) -> Arc<str> {
        match pattern {
            // A nested router that matched nothing inside reports its own empty prefix.
            Some(p) if !p.0.is_empty() => self.0.get(&*p.0).cloned().unwrap_or_else(|| p.0.clone()),
            _ => Arc::from(metrics::UNMATCHED),
        }
    }
}

/// The outermost middleware: span, metrics, access log line and `X-Request-Id`.
pub async fn request_span<E: Endpoint>(
    ep: Arc<E>,
    req: Request,
    metrics: Arc<Metrics>,
    names: Arc<RouteNames>,
) -> poem::Result<Response> {
    let started = Instant::now();
    let id = request_id(&req);
    let method = metrics::method_label(req.method().as_str());
    let span = tracing::info_span!(
        "request",
        id = %id,
        method,
        tenant = tracing::field::Empty,
        route = tracing::field::Empty,
        path = %req.uri().path(),
    );
    if let Some(t) = tenant_of(req.uri().path()) {
        span.record("tenant", t);
    }
    async move {
        let mut resp = match metrics::scope(metrics.clone(), ep.call(req)).await {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        };
        // The innermost matched template, set by the router (or by the rate limiter, which
        // answers before routing); never the raw path, so the label set stays bounded.
        let route = names.name(resp.data::<PathPattern>());
        let status = resp.status().as_u16();
        let elapsed = started.elapsed();
        metrics.observe_request(method, route.clone(), status, elapsed);
        tracing::Span::current().record("route", &*route);
        tracing::info!(
            target: "gatehouse::access",
            status,
            duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            "request completed"
        );
        if let Ok(v) = HeaderValue::from_str(&id) {
            resp.headers_mut().insert(REQUEST_ID, v);
        }
        Ok(resp)
    }
    .instrument(span)
    .await
}

/// `GET /metrics`: the app's counters in the Prometheus text format. With
/// `metrics.bearer_token` set, anything but that bearer token gets 401.
#[poem::handler]
pub fn metrics_endpoint(req: &Request, state: poem::web::Data<&Arc<AppState>>) -> Response {
    if let Some(expected) = &state.settings.metrics.bearer_token {
        let Some(presented) = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return ApiError::missing_token().into_response();
        };
        let same = aws_lc_rs::constant_time::verify_slices_are_equal(
            presented.as_bytes(),
            expected.expose().as_bytes(),
        );
        if same.is_err() {
            return ApiError::invalid_token("/metrics needs the configured bearer token").into_response();
        }
    }
    Response::builder().content_type("text/plain; version=0.0.4; charset=utf-8").body(state.metrics.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_comes_from_tenant_and_admin_paths_only() {
        assert_eq!(tenant_of("/t/acme/me"), Some("acme"));
        assert_eq!(tenant_of("/admin/v1/tenants/acme/users"), Some("acme"));
        assert_eq!(tenant_of("/admin/v1/tenants"), None);
        assert_eq!(tenant_of("/t/Not%20A%20Slug/me"), None);
        assert_eq!(tenant_of("/health/live"), None);
    }

    #[test]
    fn renamed_parameters_get_their_documented_names_back() {
        let names =
            RouteNames::from_spec(r#"{"paths": {"/t/{tenant}/users/{user_id}": {}, "/health/live": {}}}"#);
        let pattern = |p: &str| PathPattern(Arc::from(p));
        assert_eq!(&*names.name(Some(&pattern("/t/:param0/users/:param1"))), "/t/:tenant/users/:user_id");
        assert_eq!(&*names.name(Some(&pattern("/health/live"))), "/health/live");
        assert_eq!(&*names.name(Some(&pattern("/t/:tenant/login"))), "/t/:tenant/login");
        assert_eq!(&*names.name(Some(&pattern(""))), "unmatched");
        assert_eq!(&*names.name(None), "unmatched");
    }
}
