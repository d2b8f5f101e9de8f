//! The one place where failures become HTTP responses.
//!
//! Layers below the API return their own `thiserror` enums that separate expected failures
//! (bad credentials, a revoked token) from unexpected ones (`anyhow::Error`, a database error).
//! `ApiError` maps each of them to a status and an RFC 9457 `application/problem+json` body with
//! a stable machine-readable `code`. Unexpected errors are logged with their cause chain and
//! answered with a body that reveals nothing. Errors raised by poem itself (malformed JSON, 404,
//! 405, 413, 415) are reshaped by [`problem_for_poem_error`] so every error has the same form.
use poem::{Response, http::StatusCode};
use poem_openapi::{ApiResponse, Object, payload::Json};

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Object, PartialEq)]
#[oai(example)]
pub struct Problem {
    /// A URI naming the problem type.
    #[oai(rename = "type")]
    pub type_: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// A human-readable explanation of this occurrence.
    pub detail: String,
    /// A stable, machine-readable error code.
    pub code: String,
    /// The request field the problem is about, for validation errors.
    #[oai(skip_serializing_if_is_none)]
    pub field: Option<String>,
    /// With `second_factor_required`: the challenge to complete at `POST /auth/mfa/verify`
    /// with a code. Single use once met; a wrong code leaves it usable until it expires.
    #[oai(skip_serializing_if_is_none)]
    pub mfa_token: Option<String>,
    /// With `second_factor_enrolment_required`: enrol at `POST /auth/mfa/enrol/totp` and
    /// confirm at `POST /auth/mfa/enrol/totp/confirm` with it.
    #[oai(skip_serializing_if_is_none)]
    pub enrolment_token: Option<String>,
    /// Seconds until the `mfa_token` or `enrolment_token` expires.
    #[oai(skip_serializing_if_is_none)]
    pub expires_in: Option<u64>,
    /// The second-step methods that can answer (or be enrolled): `totp`, `recovery_code`.
    #[oai(skip_serializing_if_is_none)]
    pub methods: Option<Vec<String>>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            type_: format!("urn:gatehouse:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_string(),
            field: None,
            mfa_token: None,
            enrolment_token: None,
            expires_in: None,
            methods: None,
        }
    }
}

impl poem_openapi::types::Example for Problem {
    fn example() -> Self {
        let mut p = Self::new(StatusCode::BAD_REQUEST, "validation_failed", "username: must not be empty");
        p.field = Some("username".into());
        p
    }
}

const BEARER_INVALID: &str = "Bearer error=\"invalid_token\"";
/// The challenge when no bearer token was sent: RFC 6750 §3.1 gives no error code then.
const BEARER_CHALLENGE: &str = "Bearer realm=\"gatehouse\"";

/// Every error response of the API.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request is malformed or fails validation.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// Missing, invalid, expired or revoked credentials.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
    /// Authenticated but not allowed.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// The resource does not exist (or belongs to another tenant).
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The request conflicts with existing data.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// The request body is larger than the server accepts.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// The request body has a content type this operation does not accept.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// The request is well-formed but cannot be applied.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// Too many requests or failed attempts; retry after the given seconds.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(
        Json<Problem>,
        #[oai(header = "Retry-After")] u64,
        #[oai(header = "RateLimit-Limit")] Option<u64>,
        #[oai(header = "RateLimit-Remaining")] Option<u64>,
        #[oai(header = "RateLimit-Reset")] u64,
    ),
    /// A dependency (database, Redis) is unavailable; retry later.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// An unexpected server error.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}

impl ApiError {
    pub fn bad_request(code: &str, detail: impl Into<String>) -> Self {
        Self::BadRequest(Json(Problem::new(StatusCode::BAD_REQUEST, code, detail)))
    }

    /// A validation failure that names the offending field.
    pub fn validation(field: &str, detail: impl Into<String>) -> Self {
        let mut p =
            Problem::new(StatusCode::BAD_REQUEST, "validation_failed", format!("{field}: {}", detail.into()));
        p.field = Some(field.to_string());
        Self::BadRequest(Json(p))
    }

    /// 401 for a presented token that failed verification (RFC 6750 `invalid_token`).
    pub fn invalid_token(detail: impl Into<String>) -> Self {
        Self::Unauthorized(
            Json(Problem::new(StatusCode::UNAUTHORIZED, "invalid_token", detail)),
            BEARER_INVALID.to_string(),
        )
    }

    /// 401 for a request that sent no bearer token at all (RFC 6750 §3.1: a bare challenge).
    pub fn missing_token() -> Self {
        Self::Unauthorized(
            Json(Problem::new(StatusCode::UNAUTHORIZED, "missing_token", "a bearer token is required")),
            BEARER_CHALLENGE.to_string(),
        )
    }

    /// 401 for credentials in a request body (password, refresh token).
    pub fn unauthorized(code: &str, detail: impl Into<String>) -> Self {
        Self::Unauthorized(Json(Problem::new(StatusCode::UNAUTHORIZED, code, detail)), "Bearer".to_string())
    }

    /// 401 for a valid token whose sign-in was not strong enough for this request: RFC 9470's
    /// `insufficient_user_authentication` challenge naming the `acr` needed, so the app sends
    /// the user through a sign-in with `acr_values` set to it and retries with the new token.
    pub fn insufficient_user_authentication(code: &str, detail: impl Into<String>, acr: &str) -> Self {
        let detail = detail.into();
        let description: String =
            detail.chars().filter(|c| *c != '"' && *c != '\\' && !c.is_control()).collect();
        Self::Unauthorized(
            Json(Problem::new(StatusCode::UNAUTHORIZED, code, detail)),
            format!(
                "Bearer error=\"insufficient_user_authentication\", error_description=\"{description}\", acr_values=\"{acr}\""
            ),
        )
    }

    /// 403 for a right password that needs a second step: `code` is `second_factor_required`
    /// (the token is an `mfa_token`) or `second_factor_enrolment_required` (an
    /// `enrolment_token`), with the token's lifetime and the methods.
    pub fn second_factor(
        code: &str,
        detail: &str,
        token: String,
        expires_in: u64,
        methods: Vec<String>,
    ) -> Self {
        let mut p = Problem::new(StatusCode::FORBIDDEN, code, detail);
        if code == "second_factor_required" {
            p.mfa_token = Some(token);
        } else {
            p.enrolment_token = Some(token);
        }
        p.expires_in = Some(expires_in);
        p.methods = Some(methods);
        Self::Forbidden(Json(p))
    }

    pub fn forbidden(code: &str, detail: impl Into<String>) -> Self {
        Self::Forbidden(Json(Problem::new(StatusCode::FORBIDDEN, code, detail)))
    }

    pub fn not_found(code: &str, detail: impl Into<String>) -> Self {
        Self::NotFound(Json(Problem::new(StatusCode::NOT_FOUND, code, detail)))
    }

    pub fn conflict(code: &str, detail: impl Into<String>) -> Self {
        Self::Conflict(Json(Problem::new(StatusCode::CONFLICT, code, detail)))
    }

    pub fn unprocessable(code: &str, detail: impl Into<String>) -> Self {
        Self::Unprocessable(Json(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)))
    }

    /// 429 for a locked login; no rate-limit figures, which would describe the lock.
    pub fn too_many(code: &str, detail: &str, retry_after: u64) -> Self {
        Self::TooManyRequests(
            Json(Problem::new(StatusCode::TOO_MANY_REQUESTS, code, detail)),
            retry_after,
            None,
            None,
            retry_after,
        )
    }

    /// 429 for an exhausted rate limit.
    pub fn rate_limited(limit: u64, retry_after: u64) -> Self {
        Self::TooManyRequests(
            Json(Problem::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests; slow down")),
            retry_after,
            Some(limit),
            Some(0),
            retry_after,
        )
    }

    pub fn unavailable(what: &str) -> Self {
        Self::Unavailable(
            Json(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                format!("{what} is unavailable; retry shortly"),
            )),
            2,
        )
    }

    /// Logs the cause chain and hides it from the client.
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        let err = err.into();
        tracing::error!(error = ?err, "unexpected error");
        Self::Internal(Json(Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "an unexpected error occurred",
        )))
    }
}

impl From<crate::domain::ValidationError> for crate::error::ApiError {
    fn from(e: crate::domain::ValidationError) -> Self {
        Self::validation(e.field, e.message)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        match err {
            crate::store::StoreError::Unavailable(e) => {
                tracing::warn!(error = %e, "database unavailable");
                Self::unavailable("the database")
            }
            crate::store::StoreError::Other(e) => Self::internal(e),
        }
    }
}

impl From<crate::kv::KvError> for ApiError {
    fn from(err: crate::kv::KvError) -> Self {
        tracing::warn!(error = %err, "token store unavailable");
        Self::unavailable("the token store")
    }
}

fn problem_response(status: StatusCode, code: &str, detail: String) -> Response {
    let body = Problem::new(status, code, detail);
    let json = serde_json::to_vec(&ProblemBody::from(&body)).unwrap_or_default();
    let mut resp = Response::builder().status(status).content_type("application/problem+json").body(json);
    if status == StatusCode::UNAUTHORIZED {
        // Outside our handlers, a 401 only comes from a security scheme finding no bearer token.
        resp.headers_mut().insert("WWW-Authenticate", poem::http::HeaderValue::from_static(BEARER_CHALLENGE));
    }
    resp
}

#[derive(serde::Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    type_: &'a str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
}

impl<'a> From<&'a Problem> for ProblemBody<'a> {
    fn from(p: &'a Problem) -> Self {
        Self { type_: &p.type_, title: &p.title, status: p.status, detail: &p.detail, code: &p.code }
    }
}

/// Turns an error raised outside our handlers (routing, extraction, size limits) into a problem
/// document; responses our handlers built already are passed through unchanged.
pub async fn problem_for_poem_error(err: poem::Error) -> Response {
    if err.is_from_response() {
        return err.into_response();
    }
    let status = err.status();
    let (code, detail) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such resource".to_string()),
        StatusCode::METHOD_NOT_ALLOWED => {
            ("method_not_allowed", "method not allowed for this resource".into())
        }
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "request body is too large".into()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", err.to_string()),
        StatusCode::UNAUTHORIZED => ("missing_token", "a bearer token is required".into()),
        s if s.is_client_error() => ("invalid_request", err.to_string()),
        _ => {
            tracing::error!(error = %err, "unhandled server error");
            ("internal_error", "an unexpected error occurred".into())
        }
    };
    let mut resp = problem_response(status, code, detail);
    // Keep the matched route template for the request metrics.
    if let Some(pattern) = err.data::<poem::PathPattern>() {
        resp.set_data(pattern.clone());
    }
    resp
}
