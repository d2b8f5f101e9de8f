//! Checks on the raw request before any handler runs, and the shape of errors after it. One
//! place for what every field shares: control characters in path parameters, query and form
//! parameters, JSON keys and values and the headers stored as data; duplicate JSON keys; numbers
//! or booleans sent for declared strings. It also adds `Allow` to 405s and answers every error
//! of the token, introspection and revocation endpoints in the RFC 6749 section 5.2 shape.
mod deadline;
mod json;
mod routes;
mod text;

use std::sync::Arc;

use base64::Engine as _;
use poem::{
    Body, Endpoint, IntoResponse, Request, Response,
    http::{HeaderValue, StatusCode, header},
};
use poem_openapi::{payload::Json, types::ToJSON as _};
use serde_json::{Value, json};

pub use deadline::DeadlineAcceptor;
use json::Refusal;

use crate::error::{ApiError, Problem, problem_for_poem_error};

/// The route table, built once from the OpenAPI document.
pub struct Guard {
    routes: routes::RouteTable,
}

impl Guard {
    pub fn new(spec_json: &str) -> Arc<Self> {
        Arc::new(Self { routes: routes::RouteTable::new(spec_json) })
    }
}

/// The `oauth2/...` endpoint a path names, if any.
fn oauth_endpoint(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/t/")?;
    rest.split_once('/')?.1.strip_prefix("oauth2/")
}

/// Endpoints whose every error is an RFC 6749 error object (OAuth libraries parse them).
fn rfc6749_everywhere(path: &str) -> bool {
    matches!(oauth_endpoint(path), Some("token" | "introspect" | "revoke"))
}

/// A refused request: `{"error": "invalid_request", ...}` on OAuth endpoints (except the
/// bearer-protected userinfo), a problem document naming the field elsewhere.
fn refuse(path: &str, code: &str, field: &str, detail: &str) -> Response {
    if oauth_endpoint(path).is_some_and(|e| e != "userinfo") {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &format!("{field}: {detail}"));
    }
    let mut p = Problem::new(StatusCode::BAD_REQUEST, code, format!("{field}: {detail}"));
    p.field = Some(field.to_string());
    ApiError::BadRequest(Json(p)).into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .body(json!({"error": error, "error_description": description}).to_string())
}

/// The answer to a body that is too large (413) or too slow (408), in the endpoint's error
/// shape. A slow body is not drained: the connection is closed.
pub fn refuse_body(path: &str, status: StatusCode) -> Response {
    let (code, detail) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "request body is too large"),
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", "the request body arrived too slowly"),
        _ => ("invalid_request", "the request body could not be read"),
    };
    let mut resp = if rfc6749_everywhere(path) {
        oauth_error(status, "invalid_request", detail)
    } else {
        let body = Problem::new(status, code, detail).to_json().unwrap_or_default().to_string();
        Response::builder().status(status).content_type("application/problem+json").body(body)
    };
    if status == StatusCode::REQUEST_TIMEOUT {
        resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// The middleware; runs inside the body limit, so the body is already buffered.
///
/// # Errors
/// Those of the inner endpoint, except on the OAuth endpoints and for 405, which are answered.
pub async fn inspect<E: Endpoint>(ep: Arc<E>, mut req: Request, guard: Arc<Guard>) -> poem::Result<Response> {
    let path = req.uri().path().to_string();
    let matched = guard.routes.find(&path);
    if let Some(refused) = check(&guard, &mut req, &path, matched.as_ref()).await {
        return Ok(refused);
    }
    let result = ep.call(req).await.map(IntoResponse::into_response);
    let method_not_allowed = matches!(&result, Err(e) if e.status() == StatusCode::METHOD_NOT_ALLOWED);
    if !method_not_allowed && !rfc6749_everywhere(&path) {
        return result;
    }
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => problem_for_poem_error(e).await,
    };
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED
        && let Some(allow) = matched.as_ref().and_then(|m| HeaderValue::from_str(&m.allow()).ok())
    {
        resp.headers_mut().insert(header::ALLOW, allow);
    }
    if rfc6749_everywhere(&path) {
        resp = as_rfc6749(resp).await;
    }
    Ok(resp)
}

/// Rewrites a problem document (from routing, parsing, rate limits) as an RFC 6749 error,
/// keeping the status and headers.
async fn as_rfc6749(mut resp: Response) -> Response {
    let problem = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !problem {
        return resp;
    }
    let body = resp.take_body().into_bytes().await.unwrap_or_default();
    let p: Value = serde_json::from_slice(&body).unwrap_or_default();
    let error = match resp.status() {
        StatusCode::UNAUTHORIZED => "invalid_client",
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => "temporarily_unavailable",
        s if s.is_server_error() => "server_error",
        _ => "invalid_request",
    };
    let description = p.get("detail").and_then(Value::as_str).unwrap_or("the request was refused");
    resp.set_body(json!({"error": error, "error_description": description}).to_string());
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn check(
    guard: &Guard,
    req: &mut Request,
    path: &str,
    matched: Option<&routes::Matched<'_>>,
) -> Option<Response> {
    let c = |field: &str, ch: char| Some(refuse(path, "validation_failed", field, &text::describe(ch)));
    match matched {
        Some(m) => {
            for (name, raw) in &m.params {
                if let Some(ch) = text::forbidden(&text::percent_decode(raw), false) {
                    return c(name, ch);
                }
            }
        }
        None => {
            if let Some(ch) = text::forbidden(&text::percent_decode(path), false) {
                return c("path", ch);
            }
        }
    }
    if let Some((field, ch)) = req.uri().query().and_then(|q| text::check_pairs(q.as_bytes(), &[])) {
        return c(&field, ch);
    }
    if let Some(refused) = check_headers(req, path) {
        return Some(refused);
    }
    // Declared headers (Idempotency-Key) against their schema's limits.
    for (name, schema) in matched.map(|m| m.header_params(req.method().as_str())).unwrap_or_default() {
        let Some(value) = req.headers().get(name.as_str()).and_then(|v| v.to_str().ok()) else { continue };
        let value = Value::String(value.to_string());
        if let Some(Refusal::Limit(_, why)) =
            json::against_schema(&value, schema, &guard.routes.spec, &guard.routes.patterns)
        {
            return Some(refuse(path, "validation_failed", name, &why));
        }
    }
    let content_type = req.content_type().unwrap_or_default().to_ascii_lowercase();
    let form = content_type.starts_with("application/x-www-form-urlencoded");
    let json = content_type.starts_with("application/json") || content_type.contains("+json");
    if !form && !json {
        return None;
    }
    let body = req.take_body().into_bytes().await.unwrap_or_default();
    req.set_body(Body::from_bytes(body.clone()));
    if form {
        let multiline = if path.starts_with("/console/") { text::CONSOLE_MULTILINE } else { &[] };
        if let Some((field, ch)) = text::check_pairs(&body, multiline) {
            return c(&field, ch);
        }
        // RFC 6749 section 3.1: parameters must not be included more than once.
        if rfc6749_everywhere(path)
            && let Some(field) = text::repeated(&body)
        {
            return Some(refuse(path, "invalid_request", &field, "must not be repeated"));
        }
        return None;
    }
    let value = match json::parse(&body) {
        Ok(Some(v)) => v,
        Ok(None) => return None,
        Err(r) => return Some(refusal(path, r)),
    };
    // Mail template bodies are multi-line text by nature.
    let roots: &[&str] = if path.contains("/mail-templates/") { &["text", "html", "draft"] } else { &[] };
    if let Some(r) = json::controls_with(&value, roots) {
        return Some(refusal(path, r));
    }
    let schema = matched.and_then(|m| m.body_schema(req.method().as_str()))?;
    json::against_schema(&value, schema, &guard.routes.spec, &guard.routes.patterns).map(|r| refusal(path, r))
}

fn refusal(path: &str, r: Refusal) -> Response {
    match r {
        Refusal::DuplicateKey(f) => refuse(path, "invalid_request", &f, "appears more than once"),
        Refusal::Control(f, ch) => refuse(path, "validation_failed", &f, &text::describe(ch)),
        Refusal::NotAString(f) => refuse(path, "validation_failed", &f, "must be a string"),
        Refusal::Limit(f, why) => refuse(path, "validation_failed", &f, &why),
    }
}

/// Headers whose values are stored or looked up: the user agent (sessions, audit log) and
/// HTTP Basic client credentials. hyper already refuses every control but tab in headers.
fn check_headers(req: &Request, path: &str) -> Option<Response> {
    let c = |field: &str, ch: char| Some(refuse(path, "validation_failed", field, &text::describe(ch)));
    if let Some(ch) =
        req.headers().get(header::USER_AGENT).and_then(|v| text::forbidden(v.to_str().ok()?, false))
    {
        return c("User-Agent", ch);
    }
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.get(..6).filter(|s| s.eq_ignore_ascii_case("basic ")).map(|_| &v[6..]))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())?;
    let decoded = String::from_utf8_lossy(&basic);
    let (id, secret) = decoded.split_once(':').unwrap_or((&decoded, ""));
    // RFC 6749 section 2.3.1: both parts are form-urlencoded before encoding.
    for (field, raw) in [("client_id", id), ("client_secret", secret)] {
        let value: String = url::form_urlencoded::parse(format!("v={raw}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        if let Some(ch) = text::forbidden(&value, false).or_else(|| text::forbidden(raw, false)) {
            return c(field, ch);
        }
    }
    None
}
